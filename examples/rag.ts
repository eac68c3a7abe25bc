/**
 * Retrieval-augmented answering over the small corpus in `examples/corpus/`: rewrite the question into a search
 * query, retrieve the best documents with BM25 (in-process, no external service), synthesise an answer from them
 * with its tokens streamed into the run as they arrive, and cite the documents used.
 *
 * Runs offline by default (`LLM.layerFromEnv` falls back to a deterministic local model) and with a real model when
 * `ANTHROPIC_API_KEY` or `OPENAI_API_KEY` is set (`LLM_PROVIDER=anthropic|openai|local` forces one). Run it with
 * `node --conditions=source --import tsx examples/rag.ts ["your question"]`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { AnthropicLLM, LLM, OpenAILLM } from "@eventflow/llm"
import { Config, Console, Effect, Layer, Option, Schema, Stream } from "effect"

// -----------------------------------------------------------------------------
// The corpus and BM25
// -----------------------------------------------------------------------------

export const Doc = Schema.Struct({ name: Schema.String, title: Schema.String, text: Schema.String })
export type Doc = typeof Doc.Type

/** Reads every `*.md` file of a directory: its `# Title` line and the text after it. */
export const loadCorpus = (dir: string = fileURLToPath(new URL("./corpus/", import.meta.url))): ReadonlyArray<Doc> =>
  readdirSync(dir)
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => {
      const [first = "", ...rest] = readFileSync(join(dir, name), "utf8").trim().split("\n")
      const title = first.replace(/^#\s*/, "")
      return { name, title, text: rest.join(" ").replace(/\s+/g, " ").trim() }
    })

// Words that carry no meaning for retrieval.
const STOPWORDS = new Set(
  "a an and are as be by can do does for how i in is it its my of on or so the to what when with".split(" ")
)
export const tokenize = (text: string): Array<string> =>
  (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((t) => !STOPWORDS.has(t))

export interface Hit {
  readonly doc: Doc
  readonly score: number
}

/** A BM25 index (k1 = 1.2, b = 0.75) of `docs` (title and text): `search(query, k)` returns the top `k` hits. */
export const bm25 = (docs: ReadonlyArray<Doc>, k1 = 1.2, b = 0.75) => {
  const tokens = docs.map((doc) => tokenize(`${doc.title} ${doc.text}`))
  const avgLength = tokens.reduce((sum, ts) => sum + ts.length, 0) / Math.max(1, docs.length)
  const termFrequencies = tokens.map((ts) => {
    const tf = new Map<string, number>()
    for (const t of ts) tf.set(t, (tf.get(t) ?? 0) + 1)
    return tf
  })
  const documentFrequency = new Map<string, number>()
  for (const tf of termFrequencies)
    for (const t of tf.keys()) documentFrequency.set(t, (documentFrequency.get(t) ?? 0) + 1)
  const idf = (term: string) => {
    const n = documentFrequency.get(term) ?? 0
    return Math.log(1 + (docs.length - n + 0.5) / (n + 0.5))
  }
  const score = (i: number, terms: ReadonlyArray<string>) =>
    terms.reduce((sum, term) => {
      const f = termFrequencies[i].get(term) ?? 0
      return sum + (idf(term) * f * (k1 + 1)) / (f + k1 * (1 - b + (b * tokens[i].length) / avgLength))
    }, 0)
  return {
    search: (query: string, k: number): ReadonlyArray<Hit> => {
      const terms = [...new Set(tokenize(query))]
      return docs
        .map((doc, i) => ({ doc, score: score(i, terms) }))
        .filter((hit) => hit.score > 0)
        .sort((x, y) => y.score - x.score || x.doc.name.localeCompare(y.doc.name))
        .slice(0, k)
    }
  }
}

export const corpus = loadCorpus()
const index = bm25(corpus)
export const TOP_K = 3

// -----------------------------------------------------------------------------
// The workflow
// -----------------------------------------------------------------------------

export const REWRITE_SYSTEM =
  "Rewrite the user's question into a short keyword search query for a documentation search engine. " +
  "Answer with the query only."
export const ANSWER_SYSTEM =
  "Answer the question using only the sources given. Cite each source you use by its name in brackets, " +
  "e.g. [retries.md]. If the sources do not contain the answer, say so."

export const Status = Event.define("Status", { step: Schema.String, message: Schema.String })
export const Rewritten = Event.define("Rewritten", { question: Schema.String, query: Schema.String })
export const Retrieved = Event.define("Retrieved", { question: Schema.String, docs: Schema.Array(Doc) })

/** The synthesis prompt: the sources first (each with its name), then the question. */
export const answerPrompt = (question: string, docs: ReadonlyArray<Doc>): string =>
  `${docs.map((doc) => `[${doc.name}] ${doc.text}`).join("\n\n")}\n\nQuestion: ${question}`

/** The documents the answer cites by `[name]`; all the retrieved ones if it cites none. */
export const citationsOf = (answer: string, docs: ReadonlyArray<Doc>): Array<string> => {
  const cited = docs.filter((doc) => answer.includes(`[${doc.name}]`)).map((doc) => doc.name)
  return cited.length > 0 ? cited : docs.map((doc) => doc.name)
}

export const rag = defineWorkflow({
  name: "rag",
  input: Schema.Struct({ question: Schema.String }),
  output: Schema.Struct({ answer: Schema.String, citations: Schema.Array(Schema.String) })
})
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.gen(function* () {
        const { question } = start.input
        const completion = yield* LLM.complete(question, { system: REWRITE_SYSTEM, maxTokens: 64 })
        const query = completion.text.trim() || question
        yield* ctx.write(Status.make({ step: "rewrite", message: query }))
        return Rewritten.make({ question, query })
      }),
    { name: "rewrite", emits: [Rewritten], retry: LLM.retrySchedule() }
  )
  .step(
    Rewritten,
    (rewritten, ctx) =>
      Effect.gen(function* () {
        const hits = index.search(rewritten.query, TOP_K)
        yield* ctx.write(
          Status.make({
            step: "retrieve",
            message: hits.map((hit) => `${hit.doc.name} (${hit.score.toFixed(2)})`).join(", ") || "no match"
          })
        )
        if (hits.length === 0) {
          return StopEvent.make({ result: { answer: "The corpus has nothing about that.", citations: [] } })
        }
        return Retrieved.make({ question: rewritten.question, docs: hits.map((hit) => hit.doc) })
      }),
    { name: "retrieve", emits: [Retrieved, StopEvent] }
  )
  .step(
    Retrieved,
    (retrieved, ctx) =>
      Effect.gen(function* () {
        // Every token is written to the run as a TokenDelta event while the model generates it.
        const answer = yield* LLM.streamTo(ctx, answerPrompt(retrieved.question, retrieved.docs), {
          system: ANSWER_SYSTEM
        })
        return StopEvent.make({ result: { answer, citations: citationsOf(answer, retrieved.docs) } })
      }),
    { name: "synthesise", emits: [StopEvent], retry: LLM.retrySchedule() }
  )

export const DEFAULT_QUESTION = "How does a step retry when the model is rate limited?"

/**
 * What the terminal shows for one event of the run: progress lines and the answer's tokens as they arrive. A
 * retried step streams its answer again (the failed attempt's tokens stay in the run): following the rule of
 * `LLM.TokenDelta`, the first token of a new attempt is preceded by a notice that the text above it is discarded.
 */
export const render = (texts: LLM.TokenTexts, event: Event.AnyEvent): { texts: LLM.TokenTexts; output: string } => {
  if (Event.is(LLM.TokenDelta)(event)) {
    const notice = LLM.isRetryOf(texts, event)
      ? `\n[${event.step}] attempt ${event.attempt - 1} failed; the text above is discarded. Attempt ${event.attempt}:\n`
      : ""
    return { texts: LLM.foldTokens(texts, event), output: notice + event.text }
  }
  if (Event.is(Status)(event)) return { texts, output: `[${event.step}] ${event.message}\n` }
  return { texts, output: "" }
}

/** Runs the workflow and prints its progress and the answer's tokens as they arrive, then the citations. */
export const ask = (question: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* Workflow.start(rag, { question })
      // Progress and the answer's tokens are printed as they arrive, while the run goes on.
      yield* Stream.runFoldEffect(handle.events(), new Map() as LLM.TokenTexts, (texts, event) => {
        const next = render(texts, event)
        return Effect.as(
          Effect.sync(() => process.stdout.write(next.output)),
          next.texts
        )
      })
      const { citations } = yield* handle.result
      yield* Console.log(`\n\nSources: ${citations.join(", ")}`)
    })
  )

// Switching providers is providing another layer. Each provider layer reads its API key from the environment.
export const providers = {
  anthropic: AnthropicLLM.layer({ model: LLM.defaultAnthropicModel, maxTokens: 1024 }),
  openai: OpenAILLM.layer({ model: LLM.defaultOpenAIModel }),
  local: LLM.layerLocal({ announce: true })
}

// LLM_PROVIDER=anthropic|openai|local picks one; without it, LLM.layerFromEnv picks by the API key present.
export const llmLayer = Layer.unwrapEffect(
  Effect.map(Config.option(Config.literal("anthropic", "openai", "local")("LLM_PROVIDER")), (provider) =>
    Option.isSome(provider) ? providers[provider.value] : LLM.layerFromEnv
  )
)

export const main = ask(DEFAULT_QUESTION).pipe(Effect.provide(llmLayer))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const question = process.argv[2]
  Effect.runPromise(question === undefined ? main : ask(question).pipe(Effect.provide(llmLayer)))
}
