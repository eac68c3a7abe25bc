/**
 * Parallel search: fan out one question to several (simulated) search sources, at most two at a time, retry the
 * flaky one, and join the results into one answer.
 *
 * - fan-out: the first step returns an array of `Search` events, one per source;
 * - `workers: 2` caps the concurrent invocations of the search step (the others queue);
 * - `retry`: a `Schedule` (exponential backoff, at most 2 retries); the "forum" source fails its first call;
 * - fan-in: `ctx.collect(result, Result, n)` returns `Some` once all `n` results have arrived.
 *
 * Run it with `node --conditions=source --import tsx examples/parallel-search.ts`.
 */
import { pathToFileURL } from "node:url"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { Console, Data, type Duration, Effect, Option, Schedule, Schema, SynchronizedRef } from "effect"

export const Search = Event.define("Search", { source: Schema.String, question: Schema.String })
export const Result = Event.define("Result", { source: Schema.String, hits: Schema.Array(Schema.String) })

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
        return Result.make({ source: request.source, hits })
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
        return StopEvent.make({
          result: [`${all.value.length} sources answered:`, ...hits, `calls: ${callCounts}`].join("\n")
        })
      }),
    { name: "aggregate", emits: [StopEvent] }
  )

export const main = Effect.gen(function* () {
  const answer = yield* Workflow.run(parallelSearch, { question: "how do Effect schedules retry?" })
  yield* Console.log(answer)
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main)
}
