/**
 * The stores of `SqliteRunStore.layer`: the run store (version-1 snapshots, and every run listed and loaded) and the
 * journal store that durable runs keep their journal in, on one client.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as JournalStore from "@eventflow/core/JournalStore"
import * as RunStore from "@eventflow/core/RunStore"
import { RunStoreError } from "@eventflow/core/WorkflowError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as journal from "./sqliteJournalStore.js"
import * as runs from "./sqliteRunStore.js"

/** @internal */
export const layerFromClient = (
  options?: runs.Options
): Layer.Layer<RunStore.RunStore | JournalStore.JournalStore, RunStoreError, SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const snapshots = yield* runs.make(options)
      const journalStore = yield* Effect.mapError(
        journal.make(options),
        (error) => new RunStoreError({ operation: "open", cause: error.cause })
      )
      return Context.make(RunStore.RunStore, RunStore.withJournal(snapshots, journalStore)).pipe(
        Context.add(JournalStore.JournalStore, journalStore)
      )
    })
  )

/** @internal */
export const layer = (
  options: runs.LayerOptions
): Layer.Layer<RunStore.RunStore | JournalStore.JournalStore, RunStoreError> =>
  layerFromClient(options).pipe(Layer.provide(runs.clientLayer(options.filename)))
