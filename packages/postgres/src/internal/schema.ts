/**
 * The PostgreSQL schema of `@eventflow/postgres`, versioned as `@eventflow/sqlite`'s: one list of statements per
 * version, applied on open under an advisory lock, so that processes opening one database at once migrate it once.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * The schema, one entry per version: entry `i` takes a database from version `i` to version `i + 1`. A later format
 * change appends an entry; databases written by older versions are migrated on open.
 */
const migrations: ReadonlyArray<ReadonlyArray<string>> = [
  [
    // RunStore: one row per run with its last snapshot.
    `CREATE TABLE IF NOT EXISTS eventflow_runs (
      run_id TEXT PRIMARY KEY NOT NULL,
      workflow TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      snapshot TEXT NOT NULL
    )`,
    "CREATE INDEX IF NOT EXISTS eventflow_runs_workflow_status ON eventflow_runs (workflow, status)",
    "CREATE INDEX IF NOT EXISTS eventflow_runs_status ON eventflow_runs (status)",
    // JournalStore: the head row of each run (summary and length), advanced by every append under its row lock.
    `CREATE TABLE IF NOT EXISTS eventflow_journal_runs (
      run_id TEXT PRIMARY KEY NOT NULL,
      workflow TEXT NOT NULL,
      signature TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      entries INTEGER NOT NULL
    )`,
    "CREATE INDEX IF NOT EXISTS eventflow_journal_runs_workflow_status ON eventflow_journal_runs (workflow, status)",
    "CREATE INDEX IF NOT EXISTS eventflow_journal_runs_status ON eventflow_journal_runs (status)",
    // The entries, as canonical JSON text (not jsonb: an append compares the text of an entry already there).
    `CREATE TABLE IF NOT EXISTS eventflow_journal_entries (
      run_id TEXT NOT NULL,
      entry_offset INTEGER NOT NULL,
      entry_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      payload TEXT NOT NULL,
      appended_at BIGINT NOT NULL,
      PRIMARY KEY (run_id, entry_offset),
      UNIQUE (run_id, entry_id)
    )`,
    `CREATE TABLE IF NOT EXISTS eventflow_journal_compactions (
      run_id TEXT PRIMARY KEY NOT NULL,
      up_to_offset INTEGER NOT NULL,
      snapshot TEXT NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    // The fencing epoch of each claimed run, kept across remove.
    `CREATE TABLE IF NOT EXISTS eventflow_journal_fences (
      run_id TEXT PRIMARY KEY NOT NULL,
      epoch INTEGER NOT NULL
    )`
  ]
]

/** @internal */
export const schemaVersion: number = migrations.length

/** The channel of the notifications an append sends (payload: the run id). */
export const channel = "eventflow_journal"

/** A key of `pg_advisory_xact_lock` for migrations (any fixed 64-bit number). */
const MIGRATION_LOCK = 7_326_118_201

const VersionRow = Schema.Struct({ version: Schema.NullOr(Schema.Number) })

/** The PostgreSQL error code of a failed statement (`23505` unique violation, …). */
export const pgCode = (error: unknown): string | undefined => {
  const cause = error instanceof SqlError ? error.cause : error
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/**
 * A `SqlError` says "Failed to execute statement" and keeps PostgreSQL's reason in its `cause`: bring the reason into
 * the message.
 */
export const withReason = (cause: unknown): unknown => {
  if (cause instanceof SqlError && cause.cause instanceof Error && !cause.message.includes(cause.cause.message)) {
    return new SqlError({ message: `${cause.message}: ${cause.cause.message}`, cause: cause.cause })
  }
  return cause
}

/** Whether a failed transaction can be retried: a unique violation (a racing first append), a serialization failure or a deadlock. */
export const isRetryable = (error: unknown): boolean => {
  const code = pgCode(error)
  return code === "23505" || code === "40001" || code === "40P01"
}

/** Brings the schema to {@link schemaVersion}, in one transaction under an advisory lock. */
export const open = (sql: SqlClient.SqlClient): Effect.Effect<void, unknown> =>
  sql
    .withTransaction(
      Effect.gen(function* () {
        yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
        yield* sql`CREATE TABLE IF NOT EXISTS eventflow_schema_version (
          version INTEGER PRIMARY KEY NOT NULL,
          applied_at BIGINT NOT NULL
        )`
        const [row] = yield* sql`SELECT max(version) AS version FROM eventflow_schema_version`
        const current = (yield* Schema.decodeUnknown(VersionRow)(row)).version ?? 0
        if (current > schemaVersion) {
          return yield* Effect.fail(
            new Error(
              `the database schema version is ${current}, newer than version ${schemaVersion} that this ` +
                "@eventflow/postgres knows; upgrade @eventflow/postgres to open this database"
            )
          )
        }
        const now = yield* Clock.currentTimeMillis
        for (let version = current; version < schemaVersion; version++) {
          for (const statement of migrations[version]) yield* sql.unsafe(statement)
          yield* sql`INSERT INTO eventflow_schema_version (version, applied_at) VALUES (${version + 1}, ${now})`
        }
      })
    )
    .pipe(Effect.mapError(withReason))

/**
 * Options of a client of the store's own: the `url` (`postgres://user:password@host:port/database`) or its parts,
 * and the pool's size. The URL's password is not shown in errors.
 */
export interface ClientOptions {
  readonly url?: string | Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: string | Redacted.Redacted | undefined
  readonly maxConnections?: number | undefined
}

const redact = (value: string | Redacted.Redacted | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? value : Redacted.make(value)

/** Where the client connects, without its password, for error messages. */
export const describeTarget = (options: ClientOptions): string => {
  if (options.url !== undefined) {
    const url = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    try {
      const parsed = new URL(url)
      if (parsed.password !== "") parsed.password = "***"
      return parsed.toString()
    } catch {
      return "the configured URL"
    }
  }
  return `${options.host ?? "localhost"}:${options.port ?? 5432}/${options.database ?? options.username ?? "postgres"}`
}

/** A `PgClient` of the store's own; a server that cannot be reached fails with `onError(cause)` naming it. */
export const clientLayer = <E>(
  options: ClientOptions,
  onError: (cause: Error) => E
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E> =>
  PgClient.layer({
    url: redact(options.url),
    host: options.host,
    port: options.port,
    database: options.database,
    username: options.username,
    password: redact(options.password),
    maxConnections: options.maxConnections,
    applicationName: "@eventflow/postgres"
  }).pipe(
    Layer.mapError((error) =>
      onError(
        new Error(
          `cannot connect to PostgreSQL at ${describeTarget(options)}: ${
            error.cause instanceof Error ? error.cause.message || String(error.cause) : error.message
          }`,
          { cause: error }
        )
      )
    ),
    Layer.provide(Reactivity.layer)
  )
