/**
 * A `JournalStore` on a SQLite file: the run journal of issue 12, next to the snapshots of `SqliteRunStore` in the
 * same file format (schema version 5; a file of an older version is migrated on open, its runs kept as they are).
 *
 * Tables: `eventflow_journal_entries` (one row per entry: run id, offset, entry id unique per run, tag, the entry as
 * canonical JSON), `eventflow_journal_runs` (one head row per run: workflow, definition signature, status,
 * timestamps, number of entries) and `eventflow_journal_compactions` (the last compaction of each run). An append is
 * one INSERT whatever the journal's length (plus one indexed query the first time a store appends to a run it did not
 * start); triggers advance the head row in the INSERT's own statement, so an append is atomic without an explicit
 * transaction (inside a caller's transaction on a shared client, it joins it). Offsets are taken from the head row: two writers racing on one run collide on the primary key
 * (run id, offset) and the loser retries from the read, so each entry lands once and offsets stay dense.
 *
 * Fencing: `claim` bumps the run's epoch in `eventflow_journal_fences` in one statement; `appendFenced` checks the
 * epoch and appends in one `BEGIN IMMEDIATE` transaction, so two processes that both claimed a run never both append.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as JournalStore from "@eventflow/core/JournalStore"
import type { JournalStoreError } from "@eventflow/core/WorkflowError"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/sqliteJournalStore.js"
import type { LayerOptions, Options } from "./SqliteRunStore.js"

/**
 * Opens the journal store on the `SqlClient` in context (a SQLite client): sets the pragmas, creates or migrates the
 * schema. Run it outside a transaction, as `SqliteRunStore.make`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: (options?: Options) => Effect.Effect<JournalStore.Service, JournalStoreError, SqlClient.SqlClient> =
  internal.make

/**
 * A `JournalStore` on a SQLite file of its own, opened when the layer is built and closed with it.
 *
 * @since 0.1.0
 * @category Layers
 * @example
 * ```ts
 * import { JournalStore } from "@eventflow/core"
 * import { SqliteJournalStore } from "@eventflow/sqlite"
 * import { Effect } from "effect"
 *
 * const entries = Effect.gen(function* () {
 *   const store = yield* JournalStore.JournalStore
 *   return yield* store.read("run-1", 0)
 * }).pipe(Effect.provide(SqliteJournalStore.layer({ filename: "runs.db" })))
 * ```
 */
export const layer: (options: LayerOptions) => Layer.Layer<JournalStore.JournalStore, JournalStoreError> =
  internal.layer

/**
 * A `JournalStore` on an existing SQLite `SqlClient`, to share one connection with `SqliteRunStore.layerFromClient`
 * or the application's own tables.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFromClient: (
  options?: Options
) => Layer.Layer<JournalStore.JournalStore, JournalStoreError, SqlClient.SqlClient> = internal.layerFromClient
