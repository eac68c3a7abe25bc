/**
 * A `RunStore` on a SQLite file, for durable runs that survive a process restart.
 *
 * The file holds one row per run (`eventflow_runs`: run id, workflow, status, timestamps and the snapshot as JSON)
 * and a schema version table (`eventflow_schema_version`). Opening the store sets `journal_mode=WAL`,
 * `synchronous=NORMAL` and `busy_timeout`, creates the schema on first use and migrates a file written by an
 * older version; a file written by a newer version fails with `RunStoreError` (operation `"open"`). Every `save`
 * replaces the run's row in one transaction.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as JournalStore from "@eventflow/core/JournalStore"
import type * as RunStore from "@eventflow/core/RunStore"
import type { RunStoreError } from "@eventflow/core/WorkflowError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/sqliteRunStore.js"
import * as stores from "./internal/sqliteStores.js"

/**
 * Options of the store.
 *
 * - `busyTimeout`: how long a statement waits for a lock held by another connection (default 5 seconds).
 * - `headCache`: how many runs the journal store remembers the head of (number, length, status, entry ids) so that
 *   their next append needs no query (default 10,000). Past that, the run appended to least recently is forgotten and
 *   its next append reads its head again (one read of its entries). Memory: a few dozen bytes per entry of each
 *   remembered run that has not ended.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly headCache?: number | undefined
}

/**
 * Options of {@link layer}: the SQLite file (`":memory:"` for a database that lives as long as the layer).
 *
 * @since 0.1.0
 * @category Models
 */
export interface LayerOptions extends Options {
  readonly filename: string
}

/**
 * The version of the database schema this package writes. Files of an older version are migrated on open; a file
 * of a newer version is refused.
 *
 * @since 0.1.0
 * @category Models
 */
export const schemaVersion: number = internal.schemaVersion

/**
 * Opens the store on the `SqlClient` in context (a SQLite client): sets the pragmas, creates or migrates the
 * schema and returns the `RunStore` operations. Run it outside a transaction (SQLite does not switch to WAL inside
 * one); the store then shares the client's connection and its transactions.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: (options?: Options) => Effect.Effect<RunStore.Service, RunStoreError, SqlClient.SqlClient> =
  internal.make

/**
 * A `RunStore` on a SQLite file of its own, opened when the layer is built and closed with it, with the
 * `JournalStore` on the same file that durable runs append their journal to (see `SqliteJournalStore`). The
 * `RunStore` lists journaled runs (with their definition signature) and loads them as the snapshot their journal
 * replays to; runs saved as snapshots by an earlier version are listed, loaded and resumed as before.
 *
 * The layer opens one better-sqlite3 connection of its own for both stores (a journal append outside a transaction
 * runs its prepared statement directly on it) and, once it has appended a while, a worker thread with a second
 * connection that checkpoints the WAL in the background (see the README's "Durable runs").
 *
 * @since 0.1.0
 * @category Layers
 * @example
 * ```ts
 * import { RunStore } from "@eventflow/core"
 * import { SqliteRunStore } from "@eventflow/sqlite"
 * import { Effect } from "effect"
 *
 * // The unfinished runs in the file, to resume at boot.
 * const unfinished = Effect.gen(function* () {
 *   const store = yield* RunStore.RunStore
 *   return yield* store.list({ status: RunStore.unfinished })
 * }).pipe(Effect.provide(SqliteRunStore.layer({ filename: "runs.db" })))
 * ```
 */
export const layer: (
  options: LayerOptions
) => Layer.Layer<RunStore.RunStore | JournalStore.JournalStore, RunStoreError> = stores.layer

/**
 * A `RunStore` and the `JournalStore` of durable runs on an existing SQLite `SqlClient` (for example
 * `SqliteClient.layer` of `@effect/sql-sqlite-node`), to share one connection with the application's own tables.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFromClient: (
  options?: Options
) => Layer.Layer<RunStore.RunStore | JournalStore.JournalStore, RunStoreError, SqlClient.SqlClient> =
  stores.layerFromClient
