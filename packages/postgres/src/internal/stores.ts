/**
 * Both stores on one pool: the `RunStore` over the journal (runs kept on the journal are listed and loaded from it)
 * and the `JournalStore` durable runs append to, as `SqliteRunStore.layer` gives them on SQLite.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as JournalStore from "@eventflow/core/JournalStore"
import * as RunStore from "@eventflow/core/RunStore"
import { RunStoreError } from "@eventflow/core/WorkflowError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as journal from "./pgJournalStore.js"
import * as runs from "./pgRunStore.js"
import { type ClientOptions, clientLayer } from "./schema.js"

/** @internal */
export const layerWithJournalFromClient = (): Layer.Layer<
  RunStore.RunStore | JournalStore.JournalStore,
  RunStoreError,
  SqlClient.SqlClient
> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const snapshots = yield* runs.make()
      const journalStore = yield* Effect.mapError(
        journal.make(),
        (error) => new RunStoreError({ operation: "open", cause: error.cause })
      )
      return Context.make(RunStore.RunStore, RunStore.withJournal(snapshots, journalStore)).pipe(
        Context.add(JournalStore.JournalStore, journalStore)
      )
    })
  )

/** @internal */
export const layerWithJournal = (
  options: ClientOptions
): Layer.Layer<RunStore.RunStore | JournalStore.JournalStore, RunStoreError> =>
  layerWithJournalFromClient().pipe(
    Layer.provide(clientLayer(options, (cause) => new RunStoreError({ operation: "open", cause })))
  )
