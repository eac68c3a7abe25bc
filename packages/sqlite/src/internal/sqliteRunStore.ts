/**
 * The SQLite run store: opening (pragmas and schema migrations) and the four operations.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as RunStore from "@eventflow/core/RunStore"
import * as Snapshot from "@eventflow/core/Snapshot"
import { RunStoreError } from "@eventflow/core/WorkflowError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { layer as connectionLayer, type OwnConnection } from "./sqliteConnection.js"

/** @internal */
export interface Options {
  readonly busyTimeout?: Duration.DurationInput | undefined
  /**
   * How many runs' heads (number, length, status and entry ids) the journal store keeps so that their next append
   * needs no query (default 10,000): past that, the run appended to least recently is dropped, and its next append
   * reads its head again (one read of the run's key range).
   */
  readonly headCache?: number | undefined
}

/** @internal */
export interface LayerOptions extends Options {
  readonly filename: string
}

type Operation = RunStoreError["operation"]

/**
 * The schema, one entry per version: entry `i` takes a database from version `i` to version `i + 1`. A later format
 * change appends an entry; files written by older versions are migrated on open.
 */
const migrations: ReadonlyArray<ReadonlyArray<string>> = [
  [
    `CREATE TABLE IF NOT EXISTS eventflow_runs (
      run_id TEXT PRIMARY KEY NOT NULL,
      workflow TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      snapshot TEXT NOT NULL
    )`,
    "CREATE INDEX IF NOT EXISTS eventflow_runs_workflow_status ON eventflow_runs (workflow, status)",
    "CREATE INDEX IF NOT EXISTS eventflow_runs_status ON eventflow_runs (status)"
  ],
  // Version 2: the run journal (SqliteJournalStore). Version-1 tables and rows are kept as they are.
  [
    `CREATE TABLE IF NOT EXISTS eventflow_journal_runs (
      run_id TEXT PRIMARY KEY NOT NULL,
      workflow TEXT NOT NULL,
      signature TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      entries INTEGER NOT NULL
    )`,
    "CREATE INDEX IF NOT EXISTS eventflow_journal_runs_workflow_status ON eventflow_journal_runs (workflow, status)",
    "CREATE INDEX IF NOT EXISTS eventflow_journal_runs_status ON eventflow_journal_runs (status)",
    `CREATE TABLE IF NOT EXISTS eventflow_journal_entries (
      run_id TEXT NOT NULL,
      entry_offset INTEGER NOT NULL,
      entry_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      payload TEXT NOT NULL,
      appended_at INTEGER NOT NULL,
      PRIMARY KEY (run_id, entry_offset),
      UNIQUE (run_id, entry_id)
    ) WITHOUT ROWID`,
    // The head row follows its entries in the statement that inserts them (an append is one INSERT): RunStarted
    // creates it, every entry counts, RunEnded sets the ended status.
    `CREATE TRIGGER IF NOT EXISTS eventflow_journal_entries_head AFTER INSERT ON eventflow_journal_entries
    BEGIN
      INSERT INTO eventflow_journal_runs (run_id, workflow, signature, status, created_at, updated_at, entries)
        SELECT NEW.run_id, json_extract(NEW.payload, '$.workflow'), json_extract(NEW.payload, '$.signature'),
          'running', coalesce(json_extract(NEW.payload, '$.at'), NEW.appended_at), NEW.appended_at, 0
        WHERE NEW.tag = 'RunStarted';
      UPDATE eventflow_journal_runs SET entries = entries + 1, updated_at = NEW.appended_at,
        status = CASE WHEN NEW.tag = 'RunEnded' THEN json_extract(NEW.payload, '$.status') ELSE status END
        WHERE run_id = NEW.run_id;
    END`,
    `CREATE TABLE IF NOT EXISTS eventflow_journal_compactions (
      run_id TEXT PRIMARY KEY NOT NULL,
      up_to_offset INTEGER NOT NULL,
      snapshot TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    )`
  ],
  // Version 3: the fencing epoch of each claimed run (SqliteJournalStore claim / appendFenced), kept across remove.
  [
    `CREATE TABLE IF NOT EXISTS eventflow_journal_fences (
      run_id TEXT PRIMARY KEY NOT NULL,
      epoch INTEGER NOT NULL
    )`
  ],
  // Version 4: the entries in a rowid table and the head row kept by three narrow triggers (the entries copied over).
  // - In the WITHOUT ROWID table (a b-tree of whole rows) a row over about 1 KB spilled into an overflow page of its
  //   own (4 KB for the ~200 B past the limit: 3 KB of file per 1.2 KB hop); a rowid table keeps rows up to ~4 KB in
  //   its leaf pages.
  // - The one trigger set `status` on every entry, so every append rewrote the head row's two status indexes; now
  //   only a RunEnded does. RunStarted creates the head row counting itself, so the triggers' order does not matter.
  [
    `CREATE TABLE eventflow_journal_entries_v4 (
      run_id TEXT NOT NULL,
      entry_offset INTEGER NOT NULL,
      entry_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      payload TEXT NOT NULL,
      appended_at INTEGER NOT NULL,
      PRIMARY KEY (run_id, entry_offset),
      UNIQUE (run_id, entry_id)
    )`,
    `INSERT INTO eventflow_journal_entries_v4 (run_id, entry_offset, entry_id, tag, payload, appended_at)
      SELECT run_id, entry_offset, entry_id, tag, payload, appended_at FROM eventflow_journal_entries
      ORDER BY run_id, entry_offset`,
    // Drops the version-2 trigger with it.
    "DROP TABLE eventflow_journal_entries",
    "ALTER TABLE eventflow_journal_entries_v4 RENAME TO eventflow_journal_entries",
    `CREATE TRIGGER eventflow_journal_entries_started AFTER INSERT ON eventflow_journal_entries
      WHEN NEW.tag = 'RunStarted'
    BEGIN
      INSERT INTO eventflow_journal_runs (run_id, workflow, signature, status, created_at, updated_at, entries)
        VALUES (NEW.run_id, json_extract(NEW.payload, '$.workflow'), json_extract(NEW.payload, '$.signature'),
          'running', coalesce(json_extract(NEW.payload, '$.at'), NEW.appended_at), NEW.appended_at, 1);
    END`,
    `CREATE TRIGGER eventflow_journal_entries_head AFTER INSERT ON eventflow_journal_entries
      WHEN NEW.tag <> 'RunStarted'
    BEGIN
      UPDATE eventflow_journal_runs SET entries = entries + 1, updated_at = NEW.appended_at WHERE run_id = NEW.run_id;
    END`,
    `CREATE TRIGGER eventflow_journal_entries_ended AFTER INSERT ON eventflow_journal_entries
      WHEN NEW.tag = 'RunEnded'
    BEGIN
      UPDATE eventflow_journal_runs SET status = json_extract(NEW.payload, '$.status') WHERE run_id = NEW.run_id;
    END`
  ],
  // Version 5: the head row is no longer rewritten by every entry (its trigger dropped): a run's number of entries
  // and its last update are read from its last entry (the primary key's last row for the run), so an append's commit
  // writes one page fewer (the head row's) and runs no trigger body. The head row is written when a run starts
  // (`…_started`), when it ends (`…_ended`) and when the store records a waiting status; its `entries` and
  // `updated_at` columns keep the values of that last write and are not read.
  ["DROP TRIGGER eventflow_journal_entries_head"],
  // Version 6: an entry's key is one integer, `(run_no << 32) | offset`, its rowid: an append's commit writes one
  // b-tree (the entries table's), not three (the table, its (run id, offset) key, its (run id, entry id) index).
  // - A run gets a number (`run_no`, AUTOINCREMENT: never reused after a remove, so that a stale writer's cached head
  //   never writes into a later run's key range). The store writes the head row and the first entries in one
  //   transaction when a run starts; RunEnded's status is still written by a narrow trigger.
  // - Idempotence on the entry id is kept by the store (its per-run set of ids and the exact query over the run's key
  //   range), not by an index.
  // - The runs are copied in their order of creation, each entry under its run's key. Entry rows whose run has no head
  //   row (only a stale writer after a remove could leave them) are kept as they were in
  //   `eventflow_journal_orphan_entries`, which the store never reads: nothing written is lost, nothing reappears.
  [
    `CREATE TABLE eventflow_journal_runs_v6 (
      run_no INTEGER PRIMARY KEY AUTOINCREMENT,
      run_id TEXT NOT NULL UNIQUE,
      workflow TEXT NOT NULL,
      signature TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      entries INTEGER NOT NULL
    )`,
    `INSERT INTO eventflow_journal_runs_v6 (run_id, workflow, signature, status, created_at, updated_at, entries)
      SELECT run_id, workflow, signature, status, created_at, updated_at, entries FROM eventflow_journal_runs
      ORDER BY created_at, run_id`,
    `CREATE TABLE eventflow_journal_orphan_entries (
      run_id TEXT NOT NULL,
      entry_offset INTEGER NOT NULL,
      entry_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      payload TEXT NOT NULL,
      appended_at INTEGER NOT NULL
    )`,
    `INSERT INTO eventflow_journal_orphan_entries (run_id, entry_offset, entry_id, tag, payload, appended_at)
      SELECT run_id, entry_offset, entry_id, tag, payload, appended_at FROM eventflow_journal_entries e
      WHERE NOT EXISTS (SELECT 1 FROM eventflow_journal_runs_v6 r WHERE r.run_id = e.run_id)
      ORDER BY run_id, entry_offset`,
    `CREATE TABLE eventflow_journal_entries_v6 (
      entry_key INTEGER PRIMARY KEY,
      entry_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      payload TEXT NOT NULL,
      appended_at INTEGER NOT NULL
    )`,
    `INSERT INTO eventflow_journal_entries_v6 (entry_key, entry_id, tag, payload, appended_at)
      SELECT (r.run_no << 32) | e.entry_offset, e.entry_id, e.tag, e.payload, e.appended_at
      FROM eventflow_journal_runs_v6 r JOIN eventflow_journal_entries e ON e.run_id = r.run_id
      ORDER BY 1`,
    // Drops the version-4 triggers and the old indexes with them.
    "DROP TABLE eventflow_journal_entries",
    "DROP TABLE eventflow_journal_runs",
    "ALTER TABLE eventflow_journal_entries_v6 RENAME TO eventflow_journal_entries",
    "ALTER TABLE eventflow_journal_runs_v6 RENAME TO eventflow_journal_runs",
    "CREATE INDEX eventflow_journal_runs_workflow_status ON eventflow_journal_runs (workflow, status)",
    "CREATE INDEX eventflow_journal_runs_status ON eventflow_journal_runs (status)",
    `CREATE TRIGGER eventflow_journal_entries_ended AFTER INSERT ON eventflow_journal_entries
      WHEN NEW.tag = 'RunEnded'
    BEGIN
      UPDATE eventflow_journal_runs SET status = json_extract(NEW.payload, '$.status')
        WHERE run_no = NEW.entry_key >> 32;
    END`
  ]
]

/** @internal */
export const schemaVersion: number = migrations.length

/**
 * A `SqlError` says "Failed to execute statement" and keeps SQLite's reason in its `cause`: bring the reason into
 * the message, which `RunStoreError` shows.
 */
export const withReason = (cause: unknown): unknown => {
  if (cause instanceof SqlError && cause.cause instanceof Error && !cause.message.includes(cause.cause.message)) {
    return new SqlError({ message: `${cause.message}: ${cause.cause.message}`, cause: cause.cause })
  }
  return cause
}

const storeError =
  (operation: Operation, runId?: string) =>
  (cause: unknown): RunStoreError =>
    new RunStoreError({ operation, runId, cause: withReason(cause) })

const mapErrors =
  (operation: Operation, runId?: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, RunStoreError, R> =>
    Effect.mapError(effect, storeError(operation, runId))

/**
 * Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front (waiting up to `busy_timeout`),
 * so two processes opening the same new file do not fail on a lock upgrade.
 */
export const immediateTransaction = <A, E, R>(
  sql: SqlClient.SqlClient,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* sql.reserve
        yield* connection.executeUnprepared("BEGIN IMMEDIATE", [], undefined)
        const exit = yield* Effect.exit(
          restore(Effect.provideService(body, SqlClient.TransactionConnection, [connection, 0] as const))
        )
        if (Exit.isSuccess(exit)) {
          yield* connection
            .executeUnprepared("COMMIT", [], undefined)
            .pipe(Effect.tapError(() => Effect.ignore(connection.executeUnprepared("ROLLBACK", [], undefined))))
        } else {
          yield* Effect.ignore(connection.executeUnprepared("ROLLBACK", [], undefined))
        }
        return yield* exit
      })
    )
  )

const VersionRow = Schema.Struct({ version: Schema.NullOr(Schema.Number) })

const SummaryRow = Schema.Struct({
  run_id: Schema.String,
  workflow: Schema.String,
  status: Snapshot.Status,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  conversation_id: Schema.optional(Schema.NullOr(Schema.String)),
  parent_run_id: Schema.optional(Schema.NullOr(Schema.String))
})

const decodeSummaries = Schema.decodeUnknown(Schema.Array(SummaryRow))

/** Sets the connection's pragmas and brings the schema to {@link schemaVersion}. */
export const open = (sql: SqlClient.SqlClient, options: Options | undefined) => {
  const busyTimeout = Math.max(0, Math.round(Duration.toMillis(options?.busyTimeout ?? Duration.seconds(5))))
  const migrate = Effect.gen(function* () {
    yield* sql`CREATE TABLE IF NOT EXISTS eventflow_schema_version (
      version INTEGER PRIMARY KEY NOT NULL,
      applied_at INTEGER NOT NULL
    )`
    const [row] = yield* sql`SELECT max(version) AS version FROM eventflow_schema_version`
    const current = (yield* Schema.decodeUnknown(VersionRow)(row)).version ?? 0
    if (current > schemaVersion) {
      return yield* Effect.fail(
        new Error(
          `the database schema version is ${current}, newer than version ${schemaVersion} that this ` +
            "@eventflow/sqlite knows; upgrade @eventflow/sqlite to open this file"
        )
      )
    }
    const now = yield* Clock.currentTimeMillis
    for (let version = current; version < schemaVersion; version++) {
      for (const statement of migrations[version]) yield* sql.unsafe(statement)
      yield* sql`INSERT INTO eventflow_schema_version (version, applied_at) VALUES (${version + 1}, ${now})`
    }
  })
  return Effect.gen(function* () {
    if (Option.isSome(yield* Effect.serviceOption(SqlClient.TransactionConnection))) {
      return yield* Effect.fail(
        new Error(
          "the store cannot be opened inside a transaction: SQLite does not change WAL mode or synchronous there"
        )
      )
    }
    // busy_timeout first, so that switching to WAL waits for other connections instead of failing.
    yield* sql.unsafe(`PRAGMA busy_timeout = ${busyTimeout}`)
    yield* sql.unsafe("PRAGMA journal_mode = WAL")
    yield* sql.unsafe("PRAGMA synchronous = NORMAL")
    yield* immediateTransaction(sql, migrate)
  }).pipe(mapErrors("open"))
}

/** @internal */
export const make = (options?: Options): Effect.Effect<RunStore.Service, RunStoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    // Column names are ours: a client configured to rename columns must not rename them.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* open(sql, options)

    // One statement, so one SQLite transaction per checkpoint: the run's row is replaced whole or not at all.
    // Inside a transaction of the caller's (a shared client), it joins that transaction.
    const save = (snapshot: Snapshot.Snapshot) =>
      Effect.try(() => JSON.stringify(snapshot)).pipe(
        Effect.flatMap(
          (json) =>
            sql`INSERT INTO eventflow_runs (run_id, workflow, status, created_at, updated_at, snapshot)
              VALUES (${snapshot.runId}, ${snapshot.workflow}, ${snapshot.status}, ${snapshot.createdAt},
                ${snapshot.updatedAt}, ${json})
              ON CONFLICT (run_id) DO UPDATE SET
                workflow = excluded.workflow,
                status = excluded.status,
                created_at = excluded.created_at,
                updated_at = excluded.updated_at,
                snapshot = excluded.snapshot`
        ),
        Effect.asVoid,
        mapErrors("save", snapshot.runId)
      )

    const load = (runId: string) =>
      sql<{ readonly snapshot: string }>`SELECT snapshot FROM eventflow_runs WHERE run_id = ${runId}`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 0
            ? Effect.succeed(Option.none<Snapshot.Snapshot>())
            : Effect.try(() => Option.some(JSON.parse(rows[0].snapshot) as Snapshot.Snapshot))
        ),
        mapErrors("load", runId)
      )

    const list = (filter?: RunStore.ListFilter) => {
      const where = sql.and([
        ...(filter?.workflow === undefined ? [] : [sql`workflow = ${filter.workflow}`]),
        ...(filter?.status === undefined ? [] : [sql.in("status", filter.status)]),
        // A conversation's id is its first run's id (read from the snapshots: no column, no migration).
        ...(filter?.conversation === undefined
          ? []
          : [
              sql`(run_id = ${filter.conversation} OR json_extract(snapshot, '$.conversation.id') = ${filter.conversation})`
            ]),
        ...(filter?.parent === undefined ? [] : [sql`json_extract(snapshot, '$.parent') = ${filter.parent}`])
      ])
      return sql`SELECT run_id, workflow, status, created_at, updated_at,
          json_extract(snapshot, '$.conversation.id') AS conversation_id,
          json_extract(snapshot, '$.parent') AS parent_run_id
        FROM eventflow_runs WHERE ${where}
        ORDER BY created_at DESC, run_id ASC LIMIT ${filter?.limit ?? -1} OFFSET ${filter?.offset ?? 0}`.pipe(
        Effect.flatMap(decodeSummaries),
        Effect.map((rows) =>
          rows.map(
            (row): RunStore.RunSummary => ({
              runId: row.run_id,
              workflow: row.workflow,
              status: row.status,
              createdAt: row.created_at,
              updatedAt: row.updated_at,
              ...(row.conversation_id == null ? {} : { conversationId: row.conversation_id }),
              ...(row.parent_run_id == null ? {} : { parentRunId: row.parent_run_id })
            })
          )
        ),
        mapErrors("list")
      )
    }

    const remove = (runId: string) =>
      sql`DELETE FROM eventflow_runs WHERE run_id = ${runId}`.pipe(Effect.asVoid, mapErrors("remove", runId))

    return RunStore.RunStore.of({ save, load, list, remove })
  })

/** @internal */
export const layerFromClient = (
  options?: Options
): Layer.Layer<RunStore.RunStore, RunStoreError, SqlClient.SqlClient> => Layer.effect(RunStore.RunStore, make(options))

/**
 * A client of its own on `filename` (with the raw connection for the journal store's append, see
 * `sqliteConnection.ts`); a file that cannot be opened fails with `RunStoreError` "open".
 */
export const clientLayer = (filename: string): Layer.Layer<SqlClient.SqlClient | OwnConnection, RunStoreError> =>
  connectionLayer(filename)

/** @internal */
export const layer = (options: LayerOptions): Layer.Layer<RunStore.RunStore, RunStoreError> =>
  layerFromClient(options).pipe(Layer.provide(clientLayer(options.filename)))
