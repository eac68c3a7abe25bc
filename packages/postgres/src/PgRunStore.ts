/**
 * A `RunStore` on PostgreSQL (`@effect/sql-pg`), for durable runs of today's engine shared by every process that
 * connects to the database: one row per run in `eventflow_runs` (run id, workflow, status, timestamps and the
 * snapshot as JSON text), in the schema `PgJournalStore` versions (created and migrated on open). Every `save`
 * replaces the run's row in one statement.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as JournalStore from "@eventflow/core/JournalStore"
import type * as RunStore from "@eventflow/core/RunStore"
import type { RunStoreError } from "@eventflow/core/WorkflowError"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/pgRunStore.js"
import * as stores from "./internal/stores.js"
import type { ClientOptions } from "./PgJournalStore.js"

/**
 * Opens the store on the `SqlClient` in context (a PostgreSQL client): creates or migrates the schema and returns
 * the `RunStore` operations.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: () => Effect.Effect<RunStore.Service, RunStoreError, SqlClient.SqlClient> = internal.make

/**
 * A `RunStore` on a PostgreSQL database, with a connection pool of its own. A server that cannot be reached fails
 * with `RunStoreError` (operation `"open"`) naming it.
 *
 * @since 0.1.0
 * @category Layers
 * @example
 * ```ts
 * import { RunStore } from "@eventflow/core"
 * import { PgRunStore } from "@eventflow/postgres"
 * import { Effect } from "effect"
 *
 * // The unfinished runs in the database, to resume at boot.
 * const unfinished = Effect.gen(function* () {
 *   const store = yield* RunStore.RunStore
 *   return yield* store.list({ status: RunStore.unfinished })
 * }).pipe(Effect.provide(PgRunStore.layer({ url: "postgres://eventflow@127.0.0.1:5432/eventflow" })))
 * ```
 */
export const layer: (options: ClientOptions) => Layer.Layer<RunStore.RunStore, RunStoreError> = internal.layer

/**
 * A `RunStore` on the `SqlClient` in context (a `PgClient`), to share one pool with `PgJournalStore`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFromClient: () => Layer.Layer<RunStore.RunStore, RunStoreError, SqlClient.SqlClient> =
  internal.layerFromClient

/**
 * The `RunStore` and the `JournalStore` on one pool of their own, as `SqliteRunStore.layer` gives them on SQLite:
 * durable runs keep their journal in the `JournalStore` (one entry per durable hop), and the `RunStore` lists and
 * loads them from it (`RunStore.withJournal`), besides the snapshots of `eventflow_runs`. What `WorkflowServer`
 * needs to serve runs on PostgreSQL; several server processes on one database follow each other's runs over SSE.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerWithJournal: (
  options: ClientOptions
) => Layer.Layer<RunStore.RunStore | JournalStore.JournalStore, RunStoreError> = stores.layerWithJournal

/**
 * {@link layerWithJournal} on the `SqlClient` in context (a `PgClient`, so that the journal store can `follow`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerWithJournalFromClient: () => Layer.Layer<
  RunStore.RunStore | JournalStore.JournalStore,
  RunStoreError,
  SqlClient.SqlClient
> = stores.layerWithJournalFromClient
