/**
 * Parallel search: fan out one question to several (simulated) search sources, at most two at a time, retry the
 * flaky one, and join the results into one answer.
 *
 * - fan-out: the first step returns an array of `Search` events, one per source;
 * - `workers: 2` caps the concurrent invocations of the search step (the others queue);
 * - `retry`: a `Schedule` (exponential backoff, at most 2 retries); the "forum" source fails its first call;
 * - fan-in: `ctx.collect(result, Result, n)` returns `Some` once all `n` results have arrived;
 * - LLM aggregation: the collected hits are summarised by a model (`LLM.complete`, retried with
 *   `LLM.retrySchedule()`); offline by default: without an API key a local model writes a simulated summary from
 *   the hits (and says so on stderr).
 *
 * Run it with `node --conditions=source --import tsx examples/parallel-search.ts`.
 */
import { pathToFileURL } from "node:url"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { LLM } from "@eventflow/llm"
import { Config, Console, Data, type Duration, Effect, Layer, Option, Schedule, Schema, SynchronizedRef } from "effect"

export const Search = Event.define("Search", { source: Schema.String, question: Schema.String })
export const Result = Event.define("Result", {
  source: Schema.String,
  question: Schema.String,
  hits: Schema.Array(Schema.String)
})
export const Collected = Event.define("Collected", { question: Schema.String, report: Schema.String })

export class SourceUnavailable extends Data.TaggedError("SourceUnavailable")<{ readonly source: string }> {}

// Simulated sources: each answers after its own latency; "forum" is flaky and fails its first call.
export const SOURCES = ["web", "docs", "papers", "forum"]
export const FLAKY = "forum"
const LATENCY: Record<string, Duration.DurationInput> = {
  web: "30 millis",
  docs: "10 millis",
  papers: "50 millis",
  forum: "20 millis"
}
const search = (source: string, question: string) =>
  Effect.as(Effect.sleep(LATENCY[source] ?? "10 millis"), [`${source}: top hit for "${question}"`])

export const SUMMARY_SYSTEM =
  "Summarise the search results below in one or two sentences that answer the question. Mention the sources."
/** The summary prompt: the collected hits first, then the question. */
export const summaryPrompt = (question: string, report: string) => `${report}\n\nQuestion: ${question}`

export const parallelSearch = defineWorkflow({
  name: "parallel-search",
  input: Schema.Struct({ question: Schema.String }),
  output: Schema.String,
  // How many times each source was called, kept in the run's typed state.
  state: Schema.Struct({ calls: Schema.Record({ key: Schema.String, value: Schema.Number }) }),
  initialState: { calls: {} }
})
  .step(
    StartEvent,
    (start) => Effect.succeed(SOURCES.map((source) => Search.make({ source, question: start.input.question }))),
    { name: "fan-out", emits: [Search] }
  )
  .step(
    Search,
    (request, ctx) =>
      Effect.gen(function* () {
        const { calls } = yield* SynchronizedRef.updateAndGet(ctx.state, (s) => ({
          calls: { ...s.calls, [request.source]: (s.calls[request.source] ?? 0) + 1 }
        }))
        if (request.source === FLAKY && calls[request.source] === 1) {
          return yield* new SourceUnavailable({ source: request.source })
        }
        const hits = yield* search(request.source, request.question)
        return Result.make({ source: request.source, question: request.question, hits })
      }),
    {
      name: "search",
      emits: [Result],
      workers: 2,
      retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
    }
  )
  .step(
    Result,
    (result, ctx) =>
      Effect.gen(function* () {
        // Fan-in: None until one Result per source has arrived.
        const all = yield* ctx.collect(result, Result, SOURCES.length)
        if (Option.isNone(all)) return
        const { calls } = yield* SynchronizedRef.get(ctx.state)
        const hits = all.value.flatMap((r) => r.hits.map((hit) => `- ${hit}`))
        const callCounts = SOURCES.map((source) => `${source}=${calls[source]}`).join(" ")
        const report = [`${all.value.length} sources answered:`, ...hits, `calls: ${callCounts}`].join("\n")
        return Collected.make({ question: result.question, report })
      }),
    { name: "aggregate", emits: [Collected] }
  )
  .step(
    Collected,
    (collected) =>
      Effect.gen(function* () {
        // LLM aggregation: a model summarises the collected hits into an answer.
        const summary = yield* LLM.complete(summaryPrompt(collected.question, collected.report), {
          system: SUMMARY_SYSTEM
        })
        return StopEvent.make({ result: `${collected.report}\nsummary (${summary.model}): ${summary.text}` })
      }),
    { name: "summarise", emits: [StopEvent], retry: LLM.retrySchedule() }
  )

// -----------------------------------------------------------------------------
// Offline: a simulated summariser on the local model
// -----------------------------------------------------------------------------

/**
 * The local model's `respond` for the summary: a deterministic summary built from the hits in the prompt (which
 * sources answered, and the question), not an echo of the prompt.
 */
export const simulatedSummary = (request: LLM.Request): string => {
  const last = request.messages[request.messages.length - 1]
  const prompt = last === undefined ? "" : LLM.textOf(last)
  const sources = [...prompt.matchAll(/^- ([^:]+): /gm)]
    .map((m) => m[1]!)
    .sort((a, b) => SOURCES.indexOf(a) - SOURCES.indexOf(b))
  const question = /\nQuestion: (.*)$/.exec(prompt)?.[1] ?? "the question"
  const list =
    sources.length <= 1 ? (sources[0] ?? "no source") : `${sources.slice(0, -1).join(", ")} and ${sources.at(-1)}`
  return `The ${list} sources each returned a top hit for "${question}" (${sources.length} in all).`
}

/** `LLM.layerFromEnv` when an API key is set, else the local model with the simulated summariser. */
export const llmLayer = Layer.unwrapEffect(
  Effect.map(
    Config.all([Config.option(Config.redacted("ANTHROPIC_API_KEY")), Config.option(Config.redacted("OPENAI_API_KEY"))]),
    ([anthropic, openai]) =>
      Option.isSome(anthropic) || Option.isSome(openai)
        ? LLM.layerFromEnv
        : LLM.layerLocal({ model: "local-simulated", respond: simulatedSummary, announce: true })
  )
)

export const main = Effect.gen(function* () {
  const answer = yield* Workflow.run(parallelSearch, { question: "how do Effect schedules retry?" })
  yield* Console.log(answer)
}).pipe(Effect.provide(llmLayer))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main)
}
