/**
 * Retrieval-augmented answering over the small corpus in `examples/corpus/`: rewrite the question into a search
 * query, retrieve the best documents with Orama (in-process hybrid search: BM25 full-text with English stemming and
 * embeddings from `LLM.embed`), synthesise an answer from them
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
import { AnthropicLLM, Embeddings, LLM, type LLMError, OpenAILLM } from "@eventflow/llm"
import { create, insertMultiple, search } from "@orama/orama"
import { Config, Console, Context, Effect, Layer, Option, Schema, Stream } from "effect"

// -----------------------------------------------------------------------------
// The corpus and its search index
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

// Words that carry no meaning for retrieval (Orama's tokenizer drops them before stemming).
export const STOPWORDS = (
  "a about an and are as at be by can could do does for from how i if in into is it its me my of on or " +
  "should so that the their them then there these this to was what when where which while who why will " +
  "with would you your"
).split(" ")

export interface Hit {
  readonly doc: Doc
  readonly score: number
}

/**
 * The search index of the corpus: Orama (full-text BM25 with English stemming, plus vectors), searched in hybrid
 * mode: a document matches a query by its (stemmed) words or by the similarity of its embedding (`LLM.embed`:
 * OpenAI's embeddings with `OPENAI_API_KEY`, else the offline deterministic embedder, which only knows words).
 */
export class CorpusIndex extends Context.Tag("examples/rag/CorpusIndex")<
  CorpusIndex,
  { readonly search: (query: string, k: number) => Effect.Effect<ReadonlyArray<Hit>, LLMError.LLMError> }
>() {}

/** The minimum cosine similarity for a vector match. */
export const SIMILARITY = 0.3

/** Builds the index of `docs`: embeds each document's title and text once, and inserts it. */
export const makeIndex = (docs: ReadonlyArray<Doc>) =>
  Effect.gen(function* () {
    const embeddings = yield* Embeddings.Embeddings
    const vectors = yield* embeddings.embed(docs.map((doc) => `${doc.title}\n${doc.text}`))
    // The vector length is the model's: taken from the vectors themselves.
    const dimensions = vectors[0]?.length ?? embeddings.dimensions
    const db = create({
      schema: { name: "string", title: "string", text: "string", embedding: `vector[${dimensions}]` },
      components: { tokenizer: { stemming: true, stopWords: STOPWORDS } }
    } as const)
    yield* Effect.promise(async () =>
      insertMultiple(
        db,
        docs.map((doc, i) => ({ ...doc, embedding: [...vectors[i]!] }))
      )
    )
    return CorpusIndex.of({
      search: (query, k) =>
        Effect.gen(function* () {
          const [vector] = yield* embeddings.embed([query])
          const results = yield* Effect.promise(async () =>
            search(db, {
              mode: "hybrid",
              term: query,
              properties: ["title", "text"],
              boost: { title: 2 },
              vector: { value: [...vector!], property: "embedding" },
              similarity: SIMILARITY,
              limit: k
            })
          )
          return results.hits.map((hit) => ({
            doc: { name: hit.document.name, title: hit.document.title, text: hit.document.text },
            score: hit.score
          }))
        })
    })
  })

/** The index of the corpus, on the current `Embeddings` service. */
export const indexLayer = (docs: ReadonlyArray<Doc>) => Layer.effect(CorpusIndex, makeIndex(docs))

export const corpus = loadCorpus()
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

/** The answer when no document matches: said plainly, with nothing cited. */
export const NOTHING_FOUND = "I found nothing about that in the documentation, so I cannot answer from it."

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
        const index = yield* CorpusIndex
        const hits = yield* index.search(rewritten.query, TOP_K)
        yield* ctx.write(
          Status.make({
            step: "retrieve",
            message: hits.map((hit) => `${hit.doc.name} (${hit.score.toFixed(2)})`).join(", ") || "no match"
          })
        )
        if (hits.length === 0) {
          return StopEvent.make({ result: { answer: NOTHING_FOUND, citations: [] } })
        }
        return Retrieved.make({ question: rewritten.question, docs: hits.map((hit) => hit.doc) })
      }),
    { name: "retrieve", emits: [Retrieved, StopEvent], retry: LLM.retrySchedule() }
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
      const { answer, citations } = yield* handle.result
      // Nothing was streamed when nothing was found: print the answer that says so.
      if (citations.length === 0) yield* Console.log(answer)
      yield* Console.log(`\n\nSources: ${citations.join(", ") || "none"}`)
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

// The index embeds with OpenAI when OPENAI_API_KEY is set, else with the offline deterministic embedder.
export const appLayer = Layer.merge(llmLayer, Layer.provide(indexLayer(corpus), Embeddings.layerFromEnv))

export const main = ask(DEFAULT_QUESTION).pipe(Effect.provide(appLayer))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const question = process.argv[2]
  Effect.runPromise(question === undefined ? main : ask(question).pipe(Effect.provide(appLayer)))
}
