import * as SqlClient from "@effect/sql/SqlClient"
import { ClusterEngine } from "@eventflow/cluster"
import { HumanResponse, JournalStore, RunEngine, Workflow, WorkflowCancelledError } from "@eventflow/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { clusterJob, layerExecutions } from "./fixtures/workflows.js"
import { clientLayer, freePort, freshDatabase } from "./utils.js"

const oneRunner = (url: string, port: number) =>
  ClusterEngine.layer({ workflows: [clusterJob], postgres: { url }, runner: { port } }).pipe(
    Layer.provideMerge(layerExecutions),
    Layer.provideMerge(clientLayer(url))
  )

describe("ClusterEngine, the hosting runner's journal writer", () => {
  it.live(
    "a run claimed by another writer stops on its runner: the answer is refused and nothing more is journaled",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const port = yield* freePort
        yield* Effect.gen(function* () {
          const engine = yield* RunEngine.RunEngine
          const journal = yield* JournalStore.JournalStore
          const handle = yield* Workflow.start(clusterJob, { width: 1, rounds: 1, workMillis: 0 })
          expect(yield* engine.settled(handle.runId)).toBe("waiting")
          // Another writer (as a runner that took the shard would) claims the run: the host's epoch is stale.
          yield* journal.claim!(handle.runId)
          const before = (yield* journal.read(handle.runId, 0)).length
          const refused = yield* Effect.flip(engine.send(handle.runId, HumanResponse.make({ response: "late" })))
          expect(refused._tag).toBe("RunStoreError")
          // The host stopped the run: a second answer finds no run hosted here, and the journal did not grow.
          const second = yield* Effect.flip(engine.send(handle.runId, HumanResponse.make({ response: "again" })))
          expect(second._tag).toBe("RunNotFoundError")
          expect((yield* journal.read(handle.runId, 0)).length).toBe(before)
          const summary = yield* journal.summary(handle.runId)
          expect(Option.map(summary, (s) => s.status)).toEqual(Option.some("waiting"))
        }).pipe(Effect.provide(oneRunner(url, port)))
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "cancel by run id from the engine ends a waiting run: cancelled in its journal, its result fails",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const port = yield* freePort
        yield* Effect.gen(function* () {
          const engine = yield* RunEngine.RunEngine
          const handle = yield* Workflow.start(clusterJob, { width: 2, rounds: 1, workMillis: 0 })
          expect(yield* engine.settled(handle.runId)).toBe("waiting")
          yield* engine.cancel(handle.runId)
          expect(yield* Effect.flip(handle.result)).toBeInstanceOf(WorkflowCancelledError)
          expect(yield* engine.status(handle.runId)).toBe("cancelled")
          const sql = yield* SqlClient.SqlClient
          const ends = yield* sql.unsafe<{ n: number }>(
            "SELECT count(*)::int AS n FROM eventflow_journal_entries WHERE tag = 'RunEnded'"
          )
          expect(ends[0]!.n).toBe(1)
        }).pipe(Effect.provide(oneRunner(url, port)))
      }).pipe(Effect.scoped),
    120_000
  )
})
