/**
 * A `JournalStore` on PostgreSQL (`@effect/sql-pg`): the run journal of durable runs, shared by every process that
 * connects to the database, with fencing and journal following from any process.
 *
 * Tables (schema version {@link schemaVersion}, created and migrated on open under an advisory lock):
 * `eventflow_journal_entries` (one row per entry: run id, offset, entry id unique per run, tag, the entry as
 * canonical JSON text), `eventflow_journal_runs` (the head row of each run: workflow, signature, status, timestamps,
 * number of entries), `eventflow_journal_compactions` (the last compaction of each run) and
 * `eventflow_journal_fences` (the fencing epoch of each claimed run). `PgRunStore` keeps its `eventflow_runs` in the
 * same database and schema version.
 *
 * An append is one transaction: it locks the run's head row (appends to one run wait for each other, appends to
 * different runs do not), reads the entries of the batch's ids already there, and in one statement inserts the new
 * entries, advances the head row and notifies channel `eventflow_journal` with the run id (sent at commit). Inside a
 * transaction of the caller's (a shared client), it joins it.
 *
 * Fencing: `claim(runId)` bumps the run's epoch; `appendFenced(runId, epoch, …)` reads the fence row `FOR SHARE` in
 * the append's transaction, so a claim waits for the fenced appends in flight and every later append of an older
 * epoch fails with `JournalFencedError`: two processes that both believe they own a run never both append.
 *
 * Opened on a `PgClient` (the layers here are), the store has the optional `follow` member of `JournalStore`
 * ({@link follow} on its client), so `RunEvents.follow` follows a run's events woken by `NOTIFY`.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as PgClient from "@effect/sql-pg/PgClient"
import type * as Journal from "@eventflow/core/Journal"
import type * as JournalStore from "@eventflow/core/JournalStore"
import { JournalStoreError } from "@eventflow/core/WorkflowError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/pgJournalStore.js"
import * as schema from "./internal/schema.js"

/**
 * Options of a store with a client of its own: the `url` (`postgres://user:password@host:port/database`) or its
 * parts, and `maxConnections` of the pool (default 10). The password never appears in errors.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ClientOptions extends schema.ClientOptions {}

/**
 * The version of the database schema this package writes. Databases of an older version are migrated on open; a
 * database of a newer version is refused.
 *
 * @since 0.1.0
 * @category Models
 */
export const schemaVersion: number = schema.schemaVersion

/**
 * The notification channel every append notifies (payload: the run id) when it commits.
 *
 * @since 0.1.0
 * @category Models
 */
export const channel: string = schema.channel

/**
 * Opens the store on the `SqlClient` in context (a PostgreSQL client, e.g. `PgClient.layer` of `@effect/sql-pg`):
 * creates or migrates the schema and returns the operations, fencing included.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: () => Effect.Effect<
  JournalStore.Service & {
    readonly claim: NonNullable<JournalStore.Service["claim"]>
    readonly appendFenced: NonNullable<JournalStore.Service["appendFenced"]>
  },
  JournalStoreError,
  SqlClient.SqlClient
> = internal.make

/**
 * A `JournalStore` on a PostgreSQL database, with a connection pool of its own, opened when the layer is built and
 * closed with it. A server that cannot be reached fails with `JournalStoreError` (operation `"open"`) naming it.
 *
 * @since 0.1.0
 * @category Layers
 * @example
 * ```ts
 * import { JournalStore } from "@eventflow/core"
 * import { PgJournalStore } from "@eventflow/postgres"
 * import { Effect } from "effect"
 *
 * const entries = Effect.gen(function* () {
 *   const store = yield* JournalStore.JournalStore
 *   return yield* store.read("run-1", 0)
 * }).pipe(Effect.provide(PgJournalStore.layer({ url: "postgres://eventflow@127.0.0.1:5432/eventflow" })))
 * ```
 */
export const layer: (options: ClientOptions) => Layer.Layer<JournalStore.JournalStore, JournalStoreError> =
  internal.layer

/**
 * A `JournalStore` on the `SqlClient` in context (a `PgClient`), to share one pool with `PgRunStore`, `follow` or
 * the application's own tables.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFromClient: () => Layer.Layer<JournalStore.JournalStore, JournalStoreError, SqlClient.SqlClient> =
  internal.layerFromClient

/**
 * A `PgClient` (and `SqlClient`) with a pool of its own, for {@link layerFromClient}, `PgRunStore.layerFromClient`
 * and {@link follow} to share. A server that cannot be reached fails with `JournalStoreError` (operation `"open"`)
 * naming it, without the password.
 *
 * @since 0.1.0
 * @category Layers
 */
export const clientLayer = (
  options: ClientOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, JournalStoreError> =>
  schema.clientLayer(options, (cause) => new JournalStoreError({ operation: "open", cause }))

/**
 * Options of {@link follow}: the offset to start from (default 0) and the poll interval that stands in for a lost
 * notification (default 1 second).
 *
 * @since 0.1.0
 * @category Models
 */
export interface FollowOptions {
  readonly fromOffset?: number | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * Follows a run's journal from any process: the entries from `fromOffset` on, then each entry as its append commits
 * (in this process or another), with the offsets of the journal (the same as on one machine). New entries are read
 * after each notification of the run on `eventflow_journal` (`LISTEN`), or every `pollInterval` when none comes.
 * The stream ends after the run's `RunEnded` entry; it waits for a run that has no journal yet.
 *
 * @since 0.1.0
 * @category Streams
 * @example
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { PgJournalStore } from "@eventflow/postgres"
 * import { Effect, Redacted, Stream } from "effect"
 *
 * const printAll = PgJournalStore.follow("run-1").pipe(
 *   Stream.runForEach((stored) => Effect.log(stored.offset, stored.entry._tag)),
 *   Effect.provide(PgClient.layer({ url: Redacted.make("postgres://127.0.0.1:5432/eventflow") }))
 * )
 * ```
 */
export const follow: (
  runId: string,
  options?: FollowOptions
) => Stream.Stream<Journal.Stored, JournalStoreError, PgClient.PgClient> = internal.follow
