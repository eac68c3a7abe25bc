/**
 * The SQLite journal store: one row per entry in `eventflow_journal_entries`, keyed by one integer
 * `(run_no << 32) | offset` (entry id, tag, canonical JSON), a head row per run in `eventflow_journal_runs` (its
 * number, summary and status), the last compaction per run in `eventflow_journal_compactions`, the fencing epoch per
 * claimed run in `eventflow_journal_fences` (schema version 6; see `sqliteRunStore.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Journal from "@eventflow/core/Journal"
import * as JournalStore from "@eventflow/core/JournalStore"
import type * as RunStore from "@eventflow/core/RunStore"
import * as Snapshot from "@eventflow/core/Snapshot"
import { JournalConflictError, JournalFencedError, JournalStoreError } from "@eventflow/core/WorkflowError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { OwnConnection, type RawStatement } from "./sqliteConnection.js"
import { clientLayer, immediateTransaction, type Options, open, withReason } from "./sqliteRunStore.js"

type Operation = JournalStoreError["operation"]

const mapErrors =
  (operation: Operation, runId?: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, JournalStoreError | JournalConflictError, R> =>
    Effect.mapError(effect, (cause) =>
      cause instanceof JournalConflictError || cause instanceof JournalStoreError
        ? cause
        : new JournalStoreError({ operation, runId, cause: withReason(cause) })
    )

const HeadRow = Schema.Struct({
  run_id: Schema.String,
  workflow: Schema.String,
  signature: Schema.String,
  status: Snapshot.Status,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  entries: Schema.Number,
  up_to_offset: Schema.NullOr(Schema.Number),
  conversation_id: Schema.NullOr(Schema.String),
  parent_run_id: Schema.NullOr(Schema.String)
})

const decodeHeads = Schema.decodeUnknown(Schema.Array(HeadRow))

const toSummary = (row: typeof HeadRow.Type): JournalStore.Summary => ({
  runId: row.run_id,
  workflow: row.workflow,
  signature: row.signature,
  status: row.status,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  entries: row.entries,
  compactedUpTo: row.up_to_offset ?? undefined,
  ...(row.conversation_id === null ? {} : { conversationId: row.conversation_id }),
  ...(row.parent_run_id === null ? {} : { parentRunId: row.parent_run_id })
})

/** An entry row: its offset and its payload, decoded from JSON by the entry schema. */
const EntryRow = Schema.Struct({ entry_offset: Schema.Number, payload: Schema.parseJson(Journal.Entry) })

const decodeEntries = Schema.decodeUnknown(Schema.Array(EntryRow))

const HeadRowOfRun = Schema.Struct({ run_no: Schema.Number, status: Snapshot.Status, entries: Schema.Number })

const decodeHeadOfRun = Schema.decodeUnknown(Schema.Array(HeadRowOfRun))

const ExistingRow = Schema.Struct({
  entry_offset: Schema.Number,
  entry_id: Schema.String,
  payload: Schema.NullOr(Schema.String)
})

const decodeExisting = Schema.decodeUnknown(Schema.Array(ExistingRow))

/** The last offset an entry key can hold: an entry's key is `(run_no << 32) | offset`. */
const maxOffset = 4294967295

/**
 * The head of a run as this store last wrote it: its number, its length, its status and the ids of all its entries.
 * The set is complete: it is made either by a batch that started the run (nothing was there before) or from one scan
 * of the run's whole key range, and extended only by this store's own committed appends. Another writer's append
 * (another store on the file) lands at the key this head would write next, so the next insert from a stale head
 * fails on the primary key and the head is read again.
 */
interface Head {
  readonly runNo: number
  readonly entries: number
  readonly status: Snapshot.Status
  readonly ids: Set<string>
}

/** No entry of the batch is in `ids`: the batch can be judged as new entries only (repeats within it are judged by `prepareAppend`). */
const allNew = (ids: ReadonlySet<string>, entries: ReadonlyArray<Journal.Entry>): boolean => {
  for (const entry of entries) if (ids.has(entry.id)) return false
  return true
}

const tooLong = (runId: string, offset: number): JournalStoreError =>
  new JournalStoreError({
    operation: "append",
    runId,
    cause: new Error(
      `the journal is full: an entry would be at offset ${offset}, past the last offset a SQLite journal holds (${maxOffset})`
    )
  })

/** @internal */
export const make = (options?: Options): Effect.Effect<JournalStore.Service, JournalStoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* open(sql, options).pipe(
      Effect.mapError((error) => new JournalStoreError({ operation: "open", cause: error.cause }))
    )

    /** Joins the caller's transaction, or runs in a `BEGIN IMMEDIATE` one of its own. */
    const transaction = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (connection) =>
        Option.isSome(connection) ? body : immediateTransaction(sql, body)
      )

    // A run's entries are the keys `(run_no << 32) + 0` to `(run_no << 32) | maxOffset`: every query below reads a
    // range of the entries table's integer primary key.
    const heads = (where: ReturnType<typeof sql.and>, page = "") =>
      sql`SELECT r.run_id, r.workflow, r.signature, r.status, r.created_at,
          max(r.updated_at, coalesce(l.appended_at, 0)) AS updated_at,
          coalesce((l.entry_key & ${maxOffset}) + 1, 0) AS entries,
          c.up_to_offset, json_extract(s.payload, '$.conversation.id') AS conversation_id,
          json_extract(s.payload, '$.parent') AS parent_run_id
        FROM eventflow_journal_runs r LEFT JOIN eventflow_journal_compactions c ON c.run_id = r.run_id
          LEFT JOIN eventflow_journal_entries s ON s.entry_key = r.run_no << 32
          LEFT JOIN eventflow_journal_entries l ON l.entry_key = (SELECT entry_key FROM eventflow_journal_entries
            WHERE entry_key BETWEEN r.run_no << 32 AND (r.run_no << 32) | ${maxOffset}
            ORDER BY entry_key DESC LIMIT 1)
        WHERE ${where} ${sql.unsafe(page)}`.pipe(
        Effect.flatMap(decodeHeads),
        Effect.map((rows) => rows.map(toSummary))
      )

    const summary = (runId: string) =>
      heads(sql.and([sql`r.run_id = ${runId}`])).pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        mapErrors("list", runId)
      ) as Effect.Effect<Option.Option<JournalStore.Summary>, JournalStoreError>

    /** A run's number, status and length (its last entry's offset + 1). */
    const headOf = (runId: string) =>
      sql`SELECT r.run_no, r.status, coalesce((SELECT entry_key & ${maxOffset} FROM eventflow_journal_entries
            WHERE entry_key BETWEEN r.run_no << 32 AND (r.run_no << 32) | ${maxOffset}
            ORDER BY entry_key DESC LIMIT 1) + 1, 0) AS entries
        FROM eventflow_journal_runs r WHERE r.run_id = ${runId}`.pipe(
        Effect.flatMap(decodeHeadOfRun),
        Effect.map((rows) => rows[0])
      )

    /**
     * The heads of the runs this store appended to last (outside any transaction of a caller's), with the ids of their
     * entries: the next append of the same run skips every query and inserts at once, and a replayed entry is
     * recognized by its id. Dropped when the run ends or is removed, or when an insert from it fails.
     */
    const cachedHeads = new Map<string, Head>()
    const headCache = Math.max(1, Math.trunc(options?.headCache ?? 10_000))
    /**
     * Caches a run's head after a committed append. Every append takes its run's head out of the map first, so the
     * map's order is the order of last appends: past {@link headCache} runs, the first one is the least recent.
     */
    const remember = (runId: string, head: Head): void => {
      cachedHeads.set(runId, head)
      if (cachedHeads.size > headCache) cachedHeads.delete(cachedHeads.keys().next().value!)
    }
    const noExisting = new Map<string, JournalStore.Existing>()

    /**
     * The INSERT of `n` entries, as text (the key computed by SQLite from the run's number and the offset, so that no
     * key needs more than a double's 53 bits in JavaScript): run through the client's connection (its
     * prepared-statement cache keeps one statement per text) rather than as a `sql` template, whose compilation and
     * span cost more than SQLite's own work for a small row.
     */
    const insertTexts: Array<string> = []
    const insertText = (n: number): string => {
      let text = insertTexts[n]
      if (text === undefined) {
        text = `INSERT INTO eventflow_journal_entries (entry_key, entry_id, tag, payload, appended_at) VALUES ${Array.from(
          { length: n },
          () => "((? << 32) | ?, ?, ?, ?, ?)"
        ).join(", ")}`
        insertTexts[n] = text
      }
      return text
    }
    const insertHeadText = `INSERT INTO eventflow_journal_runs
      (run_id, workflow, signature, status, created_at, updated_at, entries) VALUES (?, ?, ?, 'running', ?, ?, ?)`

    const entryParams = (runNo: number, rows: JournalStore.Prepared["rows"], now: number): Array<unknown> => {
      const params: Array<unknown> = []
      for (const row of rows) params.push(runNo, row.offset, row.entryId, row.tag, row.json, now)
      return params
    }

    /** Runs one statement on the caller's transaction connection, or on the client's connection reserved for it. */
    const execute = (
      transaction: Option.Option<readonly [SqlConnection.Connection, number]>,
      text: string,
      params: ReadonlyArray<unknown>
    ) =>
      Option.isSome(transaction)
        ? transaction.value[0].executeRaw(text, params)
        : Effect.scoped(Effect.flatMap(sql.reserve, (connection) => connection.executeRaw(text, params)))

    const isConstraint = (error: unknown): boolean =>
      error instanceof SqlError &&
      typeof (error.cause as { code?: unknown } | undefined)?.code === "string" &&
      ((error.cause as { code: string }).code.startsWith("SQLITE_CONSTRAINT_PRIMARYKEY") ||
        (error.cause as { code: string }).code.startsWith("SQLITE_CONSTRAINT_UNIQUE"))

    /**
     * An append inside a transaction (`BEGIN IMMEDIATE` of the store's own when `own`, else the caller's). With `own`,
     * the run's cached head is used when the batch's ids are all new to it (no query), and the head to cache after the
     * COMMIT is returned (the caller caches it only once the COMMIT succeeded). Otherwise, and when an insert from the
     * cached head fails on the key (another writer appended), the batch is judged exactly: the run's head is read, and
     * the entries of the run with the batch's ids — with `own`, all the run's ids, to make the head's set.
     */
    const appendIn = (
      runId: string,
      entries: ReadonlyArray<Journal.Entry>,
      options: JournalStore.AppendOptions | undefined,
      own: boolean
    ): Effect.Effect<{ readonly stored: ReadonlyArray<Journal.Stored>; readonly head: Head | undefined }, unknown> =>
      Effect.gen(function* () {
        const transaction = yield* Effect.serviceOption(SqlClient.TransactionConnection)
        const cached = own ? cachedHeads.get(runId) : undefined
        cachedHeads.delete(runId)
        if (cached !== undefined && allNew(cached.ids, entries)) {
          const prepared = JournalStore.prepareAppend(runId, entries, noExisting, cached.entries)
          if (prepared._tag === "Prepared" && prepared.rows.length > 0) {
            const last = prepared.rows[prepared.rows.length - 1].offset
            if (last > maxOffset) return yield* Effect.fail(tooLong(runId, last))
            const now = yield* Clock.currentTimeMillis
            const inserted = yield* execute(
              transaction,
              insertText(prepared.rows.length),
              entryParams(cached.runNo, prepared.rows, now)
            ).pipe(
              Effect.as(true),
              Effect.catchIf(isConstraint, () => Effect.succeed(false))
            )
            if (inserted) {
              const before = prepared.ended ?? cached.status
              const status = JournalStore.nextStatus(before, undefined, options)
              if (status !== before) {
                yield* sql`UPDATE eventflow_journal_runs SET status = ${status} WHERE run_no = ${cached.runNo}`
              }
              for (const row of prepared.rows) cached.ids.add(row.entryId)
              return {
                stored: prepared.stored,
                head:
                  prepared.ended === undefined
                    ? { runNo: cached.runNo, entries: last + 1, status, ids: cached.ids }
                    : undefined
              }
            }
          }
        }
        // Judged exactly from the stored rows.
        const head = yield* headOf(runId)
        const ids = [...new Set(entries.map((entry) => entry.id))]
        const existing = new Map<string, JournalStore.Existing>()
        const all = own ? new Set<string>() : undefined
        if (head !== undefined) {
          const rows = yield* (
            all === undefined
              ? sql`SELECT entry_key & ${maxOffset} AS entry_offset, entry_id, payload FROM eventflow_journal_entries
                WHERE entry_key BETWEEN ${head.run_no} << 32 AND (${head.run_no} << 32) | ${maxOffset}
                  AND ${sql.in("entry_id", ids)}`
              : sql`SELECT entry_key & ${maxOffset} AS entry_offset, entry_id,
                  CASE WHEN ${sql.in("entry_id", ids)} THEN payload END AS payload FROM eventflow_journal_entries
                WHERE entry_key BETWEEN ${head.run_no} << 32 AND (${head.run_no} << 32) | ${maxOffset}`
          ).pipe(Effect.flatMap(decodeExisting))
          for (const row of rows) {
            all?.add(row.entry_id)
            if (row.payload !== null) existing.set(row.entry_id, { offset: row.entry_offset, json: row.payload })
          }
        }
        const prepared = JournalStore.prepareAppend(runId, entries, existing, head?.entries ?? 0)
        if (prepared._tag !== "Prepared") return yield* Effect.fail(prepared)
        const cache = (runNo: number, entries: number, status: Snapshot.Status): Head | undefined =>
          all === undefined || prepared.ended !== undefined ? undefined : { runNo, entries, status, ids: all }
        if (prepared.rows.length === 0) {
          return {
            stored: prepared.stored,
            head: head === undefined ? undefined : cache(head.run_no, head.entries, head.status)
          }
        }
        const last = prepared.rows[prepared.rows.length - 1].offset
        if (last > maxOffset) return yield* Effect.fail(tooLong(runId, last))
        const now = yield* Clock.currentTimeMillis
        let runNo = head?.run_no
        if (runNo === undefined) {
          // A new run (its first entry is RunStarted: `prepareAppend` checked it): its head row first, for its number.
          const started = prepared.started!
          const [created] = yield* sql<{ readonly run_no: number }>`INSERT INTO eventflow_journal_runs
              (run_id, workflow, signature, status, created_at, updated_at, entries)
            VALUES (${runId}, ${started.workflow}, ${started.signature}, 'running', ${started.at ?? now}, ${now},
              ${prepared.rows.length})
            RETURNING run_no`
          runNo = created.run_no
        }
        yield* execute(transaction, insertText(prepared.rows.length), entryParams(runNo, prepared.rows, now))
        // The status a caller gives (running / waiting) is written only when it changes.
        const before = prepared.ended ?? head?.status ?? "running"
        const status = JournalStore.nextStatus(before, undefined, options)
        if (status !== before) {
          yield* sql`UPDATE eventflow_journal_runs SET status = ${status} WHERE run_no = ${runNo}`
        }
        for (const row of prepared.rows) all?.add(row.entryId)
        return { stored: prepared.stored, head: cache(runNo, last + 1, status) }
      })

    /**
     * The general append: in the caller's transaction (judged exactly, nothing cached: the transaction may roll back),
     * or in a `BEGIN IMMEDIATE` transaction of its own, whose head is cached once the COMMIT succeeded. A constraint
     * failure (a caller's deferred transaction that lost a race) is tried again.
     */
    const appendRetried = (
      runId: string,
      entries: ReadonlyArray<Journal.Entry>,
      options: JournalStore.AppendOptions | undefined,
      retries: number
    ): Effect.Effect<ReadonlyArray<Journal.Stored>, unknown> =>
      Effect.catchIf(
        Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (connection) =>
          Option.isSome(connection)
            ? Effect.map(appendIn(runId, entries, options, false), (result) => result.stored)
            : Effect.map(immediateTransaction(sql, appendIn(runId, entries, options, true)), (result) => {
                if (result.head !== undefined) remember(runId, result.head)
                return result.stored
              })
        ),
        (error) => retries < 20 && isConstraint(error),
        () => appendRetried(runId, entries, options, retries + 1)
      )

    /**
     * On the store's own connection (`SqliteRunStore.layer({ filename })`), the common append — outside any
     * transaction, the run's head cached with none of the batch's ids in it (or a batch starting a run), no status to
     * write — is judged and inserted synchronously, in one step: nothing runs on the connection in between, and it runs
     * only when no transaction holds the connection (`isFree`), so it never slips into another fiber's transaction.
     * A run's start writes its head row (for its number) and its first entries in one `BEGIN IMMEDIATE` transaction;
     * a run already there fails on its id and takes the general path. Anything else (a transaction open, the lock
     * taken, a replayed or conflicting batch, a status change, a constraint failure) takes the general path above.
     */
    const own = yield* Effect.serviceOption(OwnConnection)
    const statements: Array<RawStatement> = []
    const fastAppend = Option.match(own, {
      onNone: () => undefined,
      onSome: ({ committed, db, isFree }) => {
        const statement = (n: number): RawStatement => {
          let prepared = statements[n]
          if (prepared === undefined) {
            prepared = db.prepare(insertText(n))
            statements[n] = prepared
          }
          return prepared
        }
        let start: { begin: RawStatement; head: RawStatement; commit: RawStatement; rollback: RawStatement } | undefined
        const startStatements = () =>
          (start ??= {
            begin: db.prepare("BEGIN IMMEDIATE"),
            head: db.prepare(insertHeadText),
            commit: db.prepare("COMMIT"),
            rollback: db.prepare("ROLLBACK")
          })
        return (
          runId: string,
          entries: ReadonlyArray<Journal.Entry>,
          options: JournalStore.AppendOptions | undefined
        ): Effect.Effect<ReadonlyArray<Journal.Stored>, unknown> =>
          Effect.withFiberRuntime((fiber) => {
            const general = () => appendRetried(runId, entries, options, 0)
            // Inside a transaction (this fiber's or another's) the lock is held: the general path joins or waits.
            if (!isFree()) return general()
            const cached = cachedHeads.get(runId)
            if (cached === undefined ? entries[0]._tag !== "RunStarted" : !allNew(cached.ids, entries)) return general()
            const prepared = JournalStore.prepareAppend(runId, entries, noExisting, cached?.entries ?? 0)
            if (prepared._tag !== "Prepared" || prepared.rows.length === 0) return general()
            const last = prepared.rows[prepared.rows.length - 1].offset
            if (last > maxOffset) return general()
            const before = prepared.ended ?? cached?.status ?? "running"
            const status = JournalStore.nextStatus(before, undefined, options)
            if (status !== before) return general()
            const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
            cachedHeads.delete(runId)
            let runNo: number
            try {
              if (cached === undefined) {
                const { begin, commit, head, rollback } = startStatements()
                const started = prepared.started!
                begin.run()
                try {
                  const result = head.run(
                    runId,
                    started.workflow,
                    started.signature,
                    started.at ?? now,
                    now,
                    prepared.rows.length
                  ) as { readonly lastInsertRowid: number | bigint }
                  runNo = Number(result.lastInsertRowid)
                  statement(prepared.rows.length).run(...entryParams(runNo, prepared.rows, now))
                  commit.run()
                } catch (cause) {
                  if (db.inTransaction) rollback.run()
                  throw cause
                }
              } else {
                runNo = cached.runNo
                statement(prepared.rows.length).run(...entryParams(runNo, prepared.rows, now))
              }
            } catch (cause) {
              const error = new SqlError({ cause, message: "Failed to execute statement" })
              // Another writer appended meanwhile, or the run was there already: judged again from the query.
              return isConstraint(error) ? appendRetried(runId, entries, options, 1) : Effect.fail(error)
            }
            committed()
            if (prepared.ended === undefined) {
              const ids = cached?.ids ?? new Set<string>()
              for (const row of prepared.rows) ids.add(row.entryId)
              remember(runId, { runNo, entries: last + 1, status, ids })
            }
            return Effect.succeed(prepared.stored)
          })
      }
    })

    const append = (runId: string, entries: ReadonlyArray<Journal.Entry>, options?: JournalStore.AppendOptions) =>
      entries.length === 0
        ? Effect.succeed([])
        : (fastAppend === undefined
            ? appendRetried(runId, entries, options, 0)
            : fastAppend(runId, entries, options)
          ).pipe(mapErrors("append", runId))

    const read = (runId: string, fromOffset = 0) =>
      sql`SELECT e.entry_key & ${maxOffset} AS entry_offset, e.payload
        FROM eventflow_journal_runs r JOIN eventflow_journal_entries e
          ON e.entry_key BETWEEN (r.run_no << 32) + ${Math.max(0, Math.ceil(fromOffset))}
            AND (r.run_no << 32) | ${maxOffset}
        WHERE r.run_id = ${runId} ORDER BY e.entry_key`.pipe(
        Effect.flatMap(decodeEntries),
        Effect.map((rows) => rows.map((row): Journal.Stored => ({ offset: row.entry_offset, entry: row.payload }))),
        mapErrors("read", runId)
      ) as Effect.Effect<ReadonlyArray<Journal.Stored>, JournalStoreError>

    const load = (runId: string) =>
      transaction(
        Effect.gen(function* () {
          const head = yield* summary(runId)
          if (Option.isNone(head)) return Option.none<JournalStore.Loaded>()
          const [compaction] = yield* sql<{
            readonly up_to_offset: number
            readonly snapshot: string
          }>`SELECT up_to_offset, snapshot FROM eventflow_journal_compactions WHERE run_id = ${runId}`
          const tail = yield* read(runId, compaction?.up_to_offset ?? 0)
          return Option.some<JournalStore.Loaded>({
            summary: head.value,
            compaction:
              compaction === undefined
                ? Option.none()
                : Option.some({ upToOffset: compaction.up_to_offset, snapshot: JSON.parse(compaction.snapshot) }),
            tail
          })
        })
      ).pipe(mapErrors("load", runId)) as Effect.Effect<Option.Option<JournalStore.Loaded>, JournalStoreError>

    const compact = (runId: string, snapshot: unknown, upToOffset: number) =>
      transaction(
        Effect.gen(function* () {
          const head = yield* headOf(runId)
          if (head === undefined) return yield* Effect.fail(JournalStore.unknownRun("compact", runId))
          if (!Number.isInteger(upToOffset) || upToOffset < 0 || upToOffset > head.entries) {
            return yield* Effect.fail(JournalStore.compactionBeyondEnd(runId, upToOffset, head.entries))
          }
          const json = JSON.stringify(snapshot)
          const now = yield* Clock.currentTimeMillis
          // A compaction at a lower offset than the recorded one (a stale writer) changes nothing.
          yield* sql`INSERT INTO eventflow_journal_compactions (run_id, up_to_offset, snapshot, updated_at)
            VALUES (${runId}, ${upToOffset}, ${json}, ${now})
            ON CONFLICT (run_id) DO UPDATE SET up_to_offset = excluded.up_to_offset, snapshot = excluded.snapshot,
              updated_at = excluded.updated_at
            WHERE excluded.up_to_offset >= eventflow_journal_compactions.up_to_offset`
        })
      ).pipe(mapErrors("compact", runId)) as Effect.Effect<void, JournalStoreError>

    const list = (filter?: RunStore.ListFilter) =>
      heads(
        sql.and([
          ...(filter?.workflow === undefined ? [] : [sql`r.workflow = ${filter.workflow}`]),
          ...(filter?.status === undefined ? [] : [sql.in("r.status", filter.status)]),
          // A conversation's id is its first run's id: that run belongs to it too.
          ...(filter?.conversation === undefined
            ? []
            : [
                sql`(json_extract(s.payload, '$.conversation.id') = ${filter.conversation} OR r.run_id = ${filter.conversation})`
              ]),
          ...(filter?.parent === undefined ? [] : [sql`json_extract(s.payload, '$.parent') = ${filter.parent}`])
        ]),
        `ORDER BY r.created_at DESC, r.run_id ASC LIMIT ${Math.trunc(filter?.limit ?? -1)} OFFSET ${Math.trunc(
          filter?.offset ?? 0
        )}`
      ).pipe(mapErrors("list")) as Effect.Effect<ReadonlyArray<JournalStore.Summary>, JournalStoreError>

    // The run's number is never given again (AUTOINCREMENT): a stale head elsewhere cannot write into a later run.
    const remove = (runId: string) =>
      Effect.zipRight(
        Effect.sync(() => cachedHeads.delete(runId)),
        transaction(
          Effect.all([
            sql`DELETE FROM eventflow_journal_entries
              WHERE entry_key BETWEEN (SELECT run_no << 32 FROM eventflow_journal_runs WHERE run_id = ${runId})
                AND (SELECT (run_no << 32) | ${maxOffset} FROM eventflow_journal_runs WHERE run_id = ${runId})`,
            sql`DELETE FROM eventflow_journal_compactions WHERE run_id = ${runId}`,
            sql`DELETE FROM eventflow_journal_runs WHERE run_id = ${runId}`
          ])
        ).pipe(Effect.asVoid, mapErrors("remove", runId))
      ) as Effect.Effect<void, JournalStoreError>

    const claim = (runId: string) =>
      sql<{ readonly epoch: number }>`INSERT INTO eventflow_journal_fences (run_id, epoch) VALUES (${runId}, 1)
        ON CONFLICT (run_id) DO UPDATE SET epoch = epoch + 1 RETURNING epoch`.pipe(
        Effect.map((rows) => rows[0].epoch),
        mapErrors("append", runId)
      ) as Effect.Effect<number, JournalStoreError>

    /**
     * The epoch check and the append run in one `BEGIN IMMEDIATE` transaction (the write lock is taken first), so a
     * claim from another connection waits for it, and after a claim no append of an older epoch lands. In a
     * transaction of its own it uses the run's cached head (no scan of the run per append) and caches the new head
     * once the COMMIT succeeded; in a caller's transaction it judges the batch exactly and caches nothing.
     */
    const appendFenced = (
      runId: string,
      epoch: number,
      entries: ReadonlyArray<Journal.Entry>,
      options?: JournalStore.AppendOptions
    ) =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (connection) => {
        const ownTransaction = Option.isNone(connection)
        const body = Effect.gen(function* () {
          const [fence] = yield* sql<{
            readonly epoch: number
          }>`SELECT epoch FROM eventflow_journal_fences WHERE run_id = ${runId}`
          const current = fence?.epoch ?? 0
          if (current !== epoch) return yield* Effect.fail(JournalStore.fenced(runId, epoch, current))
          return entries.length === 0
            ? { stored: [], head: undefined }
            : yield* appendIn(runId, entries, options, ownTransaction)
        })
        return Effect.map(ownTransaction ? immediateTransaction(sql, body) : body, (result) => {
          if (ownTransaction && result.head !== undefined) remember(runId, result.head)
          return result.stored as ReadonlyArray<Journal.Stored>
        })
      }).pipe(
        Effect.mapError((cause) =>
          cause instanceof JournalFencedError ||
          cause instanceof JournalConflictError ||
          cause instanceof JournalStoreError
            ? cause
            : new JournalStoreError({ operation: "append", runId, cause: withReason(cause) })
        )
      )

    return JournalStore.JournalStore.of({ append, read, load, compact, list, summary, remove, claim, appendFenced })
  })

/** @internal */
export const layerFromClient = (
  options?: Options
): Layer.Layer<JournalStore.JournalStore, JournalStoreError, SqlClient.SqlClient> =>
  Layer.effect(JournalStore.JournalStore, make(options))

/** @internal */
export const layer = (
  options: Options & { readonly filename: string }
): Layer.Layer<JournalStore.JournalStore, JournalStoreError> =>
  layerFromClient(options).pipe(
    Layer.provide(
      Layer.mapError(
        clientLayer(options.filename),
        (error) => new JournalStoreError({ operation: "open", cause: error.cause })
      )
    )
  )
