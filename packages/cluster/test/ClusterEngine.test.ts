import * as SqlClient from "@effect/sql/SqlClient"
import { ClusterEngine } from "@eventflow/cluster"
import { HumanResponse, InvalidInputError, JournalStore, RunEngine, Workflow } from "@eventflow/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Stream } from "effect"
import { clusterJob, layerExecutions } from "./fixtures/workflows.js"
import { clientLayer, freePort, freshDatabase } from "./utils.js"

/**
 * One runner in this process on a fresh schema: the engine, the stores, the steps' `Executions` (which
 * `Workflow.start`'s types ask of the caller too) and a SqlClient for assertions.
 */
const oneRunner = (url: string, port: number) =>
  ClusterEngine.layer({ workflows: [clusterJob], postgres: { url }, runner: { port } }).pipe(
    Layer.provideMerge(layerExecutions),
    Layer.provideMerge(clientLayer(url))
  )

describe("ClusterEngine, one runner", () => {
  it.live(
    "runs start, wait for a person, are answered through the engine by run id, and complete",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const port = yield* freePort
        yield* Effect.gen(function* () {
          const engine = yield* RunEngine.RunEngine
          const handles = yield* Effect.forEach(
            [1, 2, 3],
            () => Workflow.start(clusterJob, { width: 3, rounds: 2, workMillis: 0 }),
            { concurrency: "unbounded" }
          )
          for (let round = 0; round < 2; round++) {
            for (const handle of handles) {
              expect(yield* engine.settled(handle.runId)).toBe("waiting")
              yield* engine.send(handle.runId, HumanResponse.make({ response: `ok ${round}` }))
            }
          }
          const results = yield* Effect.forEach(handles, (h) => h.result)
          expect(results).toEqual(handles.map(() => ({ rounds: 2, answers: ["ok 0", "ok 1"] })))
          for (const handle of handles) expect(yield* engine.status(handle.runId)).toBe("completed")
          // The published events (from the journal) end with the StopEvent; each worker ran once per round.
          const events = yield* Stream.runCollect(handles[0]!.events())
          expect(
            Array.from(events)
              .map((e) => e._tag)
              .filter((t) => t === "InputRequired")
          ).toHaveLength(2)
          expect(Array.from(events).at(-1)?._tag).toBe("StopEvent")
          // Offsets are the published log's (trace events included): from k is the whole log without its first k.
          const all = Array.from(yield* Stream.runCollect(engine.events(handles[0]!.runId, { internal: true })))
          expect(all.length).toBeGreaterThan(events.length)
          const fromFive = yield* Stream.runCollect(engine.events(handles[0]!.runId, { internal: true, from: 5 }))
          expect(Array.from(fromFive)).toEqual(all.slice(5))
          // handle.follow: the same events with their offsets, from an offset, through a callback.
          const followed: Array<[number, unknown]> = []
          yield* handles[0]!.follow((event, offset) => Effect.sync(() => followed.push([offset, event])), {
            internal: true,
            from: 5
          })
          expect(followed).toEqual(all.slice(5).map((event, i) => [i + 5, event]))
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql.unsafe<{ n: number; already: boolean }>(
            "SELECT count(*)::int AS n, bool_or(already_completed) AS already FROM cluster_test_executions"
          )
          expect(rows[0]).toEqual({ n: 3 * 3 * 2, already: false })
          const journal = yield* JournalStore.JournalStore
          const summary = yield* journal.summary(handles[0]!.runId)
          expect(summary._tag === "Some" && summary.value.status).toBe("completed")
        }).pipe(Effect.provide(oneRunner(url, port)))
      }).pipe(Effect.scoped),
    120_000
  )
  it.live(
    "run options cross to the runner (a Duration timeout as ms, the initial state through its schema); one that cannot fails the start naming it",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const port = yield* freePort
        yield* Effect.gen(function* () {
          const handle = yield* Workflow.start(
            clusterJob,
            { width: 1, rounds: 1, workMillis: 0 },
            {
              timeout: Duration.minutes(5),
              state: { width: 7, rounds: 7, workMillis: 7, answers: ["kept"] }
            }
          )
          const journal = yield* JournalStore.JournalStore
          const entries = yield* journal.read(handle.runId, 0)
          const started = entries[0]!.entry
          expect(started._tag).toBe("RunStarted")
          expect(started._tag === "RunStarted" && started.options.timeout).toBe(300_000)
          expect(started._tag === "RunStarted" && started.state).toEqual({
            width: 7,
            rounds: 7,
            workMillis: 7,
            answers: ["kept"]
          })
          yield* handle.cancel
          // A value that is not JSON is refused with the option's name; nothing is started.
          const refused = yield* Effect.flip(
            Workflow.start(
              clusterJob,
              { width: 1, rounds: 1, workMillis: 0 },
              {
                runId: "not-json",
                limits: { maxPending: 10n } as any
              }
            )
          )
          expect(refused).toBeInstanceOf(InvalidInputError)
          expect(refused.message).toContain(`run option "limits"`)
          expect(Option.isNone(yield* journal.summary("not-json"))).toBe(true)
        }).pipe(Effect.provide(oneRunner(url, port)))
      }).pipe(Effect.scoped),
    120_000
  )
})
