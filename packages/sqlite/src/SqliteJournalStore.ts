/**
 * A `JournalStore` on a SQLite file: the run journal of issue 12, next to the snapshots of `SqliteRunStore` in the
 * same file format (schema version 6; a file of an older version is migrated on open, its runs kept as they are).
 *
 * Tables: `eventflow_journal_runs` (one head row per run: its number `run_no`, never given again after a remove, the
 * run id, workflow, definition signature, status, creation time), `eventflow_journal_entries` (one row per entry,
 * keyed by one integer `(run_no << 32) | offset`, with the entry id, tag and the entry as canonical JSON; no other
 * index, so an append's commit writes one b-tree) and `eventflow_journal_compactions` (the last compaction of each
 * run). An append is one INSERT, whatever the journal's length; a run's start writes its head row and its first
 * entries in one transaction. Appends are idempotent on the entry id: the store keeps, per run it appends to, the
 * run's length and the set of its entry ids (made when it started the run, or from one read of the run's entries);
 * a batch with an id already there is judged from the stored rows. Two writers on one run collide on the entry key
 * (a stale writer inserts at an offset already taken) and the loser judges its batch again from the rows, so each
 * entry lands once and offsets stay dense. Inside a caller's transaction on a shared client, an append joins it.
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
