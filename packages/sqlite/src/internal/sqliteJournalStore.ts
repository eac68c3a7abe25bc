/**
 * The SQLite journal store: one row per entry in `eventflow_journal_entries` (run id, offset, entry id unique per
 * run, tag, canonical JSON), a head row per run in `eventflow_journal_runs` (summary and length) and the last
 * compaction per run in `eventflow_journal_compactions`, the fencing epoch per claimed run in
 * `eventflow_journal_fences` (schema version 5; see `sqliteRunStore.ts`).
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

const HeadAndExistingRow = Schema.Struct({
  entries: Schema.Number,
  status: Snapshot.Status,
  entry_id: Schema.NullOr(Schema.String),
  entry_offset: Schema.NullOr(Schema.Number),
  payload: Schema.NullOr(Schema.String)
})

const decodeHeadAndExisting = Schema.decodeUnknown(Schema.Array(HeadAndExistingRow))

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

    const heads = (where: ReturnType<typeof sql.and>, page = "") =>
      sql`SELECT r.run_id, r.workflow, r.signature, r.status, r.created_at,
          max(r.updated_at, coalesce(l.appended_at, 0)) AS updated_at, coalesce(l.entry_offset + 1, 0) AS entries,
          c.up_to_offset, json_extract(s.payload, '$.conversation.id') AS conversation_id,
          json_extract(s.payload, '$.parent') AS parent_run_id
        FROM eventflow_journal_runs r LEFT JOIN eventflow_journal_compactions c ON c.run_id = r.run_id
          LEFT JOIN eventflow_journal_entries s ON s.run_id = r.run_id AND s.entry_offset = 0
          LEFT JOIN eventflow_journal_entries l ON l.run_id = r.run_id
            AND l.entry_offset = (SELECT max(entry_offset) FROM eventflow_journal_entries WHERE run_id = r.run_id)
        WHERE ${where} ${sql.unsafe(page)}`.pipe(
        Effect.flatMap(decodeHeads),
        Effect.map((rows) => rows.map(toSummary))
      )

    const summary = (runId: string) =>
      heads(sql.and([sql`r.run_id = ${runId}`])).pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        mapErrors("list", runId)
      ) as Effect.Effect<Option.Option<JournalStore.Summary>, JournalStoreError>

    /**
     * An append is one query (the head row and the entries of the batch's ids already there) and one INSERT of the
     * new entries (the head row is written by a trigger only when a run starts or ends): no explicit transaction. The offsets
     * come from the head row read first, so the primary key (run id, offset) is the compare-and-set: an append that
     * raced with another one on the same run fails on it and is retried from the read (and finds, on a replay, its
     * entries already there).
     */
    /**
     * The head (length and status) of the journals this store appended to last, outside any transaction of the
     * caller's: the next append of the same run skips the query and inserts at once. It stays correct when another
     * writer appended meanwhile or the batch was already appended: the INSERT then fails on the primary key or on the
     * entry id, the cached head is dropped, and the append is retried from the query.
     */
    const cachedHeads = new Map<string, { readonly entries: number; readonly status: Snapshot.Status }>()
    const noExisting = new Map<string, JournalStore.Existing>()

    /**
     * The INSERT of `n` entries, as text: run through the client's connection (its prepared-statement cache keeps one
     * statement per text) rather than as a `sql` template, whose compilation and span cost more than SQLite's own
     * work for a small row. Tagged templates are still used for everything that is not on a durable hop's path.
     */
    const insertTexts: Array<string> = []
    const insertText = (n: number): string => {
      let text = insertTexts[n]
      if (text === undefined) {
        text = `INSERT INTO eventflow_journal_entries (run_id, entry_offset, entry_id, tag, payload, appended_at) VALUES ${Array.from(
          { length: n },
          () => "(?, ?, ?, ?, ?, ?)"
        ).join(", ")}`
        insertTexts[n] = text
      }
      return text
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

    /**
     * @param fromQuery read the head and the batch's existing entries first (a retry after a constraint failure):
     *   otherwise the cached head of this store's last append to the run is used, or, for a batch that starts a
     *   journal (RunStarted first), an empty journal is assumed — the primary key catches a run already there.
     */
    const appendOnce = (
      runId: string,
      entries: ReadonlyArray<Journal.Entry>,
      options: JournalStore.AppendOptions | undefined,
      fromQuery: boolean
    ): Effect.Effect<ReadonlyArray<Journal.Stored>, unknown> =>
      Effect.gen(function* () {
        const transaction = yield* Effect.serviceOption(SqlClient.TransactionConnection)
        const inTransaction = Option.isSome(transaction)
        const cached = inTransaction || fromQuery ? undefined : cachedHeads.get(runId)
        cachedHeads.delete(runId)
        // A new journal (outside a caller's transaction, so that its failed INSERT cannot be part of one).
        const assumedNew = cached === undefined && !inTransaction && !fromQuery && entries[0]._tag === "RunStarted"
        let head: { readonly entries: number; readonly status: Snapshot.Status } | undefined = cached
        let existing = noExisting
        if (cached === undefined && !assumedNew) {
          const ids = [...new Set(entries.map((entry) => entry.id))]
          const rows = yield* sql`SELECT
              (SELECT coalesce(max(entry_offset) + 1, 0) FROM eventflow_journal_entries WHERE run_id = r.run_id) AS entries,
              r.status, e.entry_id, e.entry_offset, e.payload
            FROM eventflow_journal_runs r LEFT JOIN eventflow_journal_entries e
              ON e.run_id = r.run_id AND ${sql.in("e.entry_id", ids)}
            WHERE r.run_id = ${runId}`.pipe(Effect.flatMap(decodeHeadAndExisting))
          head = rows[0]
          existing = new Map<string, JournalStore.Existing>()
          for (const row of rows) {
            if (row.entry_id !== null) existing.set(row.entry_id, { offset: row.entry_offset!, json: row.payload! })
          }
        }
        const prepared = JournalStore.prepareAppend(runId, entries, existing, head?.entries ?? 0)
        if (prepared._tag !== "Prepared") {
          // Judged without the entries already there (a replayed batch): judge it again from the query.
          if (cached !== undefined || assumedNew) return yield* appendOnce(runId, entries, options, true)
          return yield* Effect.fail(prepared)
        }
        if (prepared.rows.length === 0) {
          if (!inTransaction && head !== undefined && cached !== undefined) cachedHeads.set(runId, head)
          return prepared.stored
        }
        const now = yield* Clock.currentTimeMillis
        const params: Array<unknown> = []
        for (const row of prepared.rows) params.push(runId, row.offset, row.entryId, row.tag, row.json, now)
        yield* execute(transaction, insertText(prepared.rows.length), params)
        // The status a caller gives (running / waiting) is written only when it changes.
        const before = prepared.ended ?? head?.status ?? "running"
        const status = JournalStore.nextStatus(before, undefined, options)
        if (status !== before) {
          yield* sql`UPDATE eventflow_journal_runs SET status = ${status} WHERE run_id = ${runId}`
        }
        if (!inTransaction && prepared.ended === undefined) {
          cachedHeads.set(runId, { entries: (head?.entries ?? 0) + prepared.rows.length, status })
        }
        return prepared.stored
      })

    const isConstraint = (error: unknown): boolean =>
      error instanceof SqlError &&
      typeof (error.cause as { code?: unknown } | undefined)?.code === "string" &&
      ((error.cause as { code: string }).code.startsWith("SQLITE_CONSTRAINT_PRIMARYKEY") ||
        (error.cause as { code: string }).code.startsWith("SQLITE_CONSTRAINT_UNIQUE"))

    /** An append that lost a race (or guessed the head wrong) on a constraint is tried again from the query. */
    const appendRetried = (
      runId: string,
      entries: ReadonlyArray<Journal.Entry>,
      options: JournalStore.AppendOptions | undefined,
      retries: number
    ): Effect.Effect<ReadonlyArray<Journal.Stored>, unknown> =>
      Effect.catchIf(
        appendOnce(runId, entries, options, retries > 0),
        (error) => retries < 20 && isConstraint(error),
        () => appendRetried(runId, entries, options, retries + 1)
      )

    /**
     * On the store's own connection (`SqliteRunStore.layer({ filename })`), the common append — outside any
     * transaction, the run's head cached (or a batch starting a journal), no status to write — is judged and its
     * prepared INSERT run synchronously, in one step: nothing runs on the connection in between, and it runs only when
     * no transaction holds the connection (`isFree`), so it never slips into another fiber's transaction. Anything else
     * (a transaction open, the lock taken, a replayed or conflicting batch, a status change, a constraint failure)
     * takes the general path above, which waits for the lock and reads the head.
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
            if (cached === undefined && entries[0]._tag !== "RunStarted") return general()
            const prepared = JournalStore.prepareAppend(runId, entries, noExisting, cached?.entries ?? 0)
            if (prepared._tag !== "Prepared" || prepared.rows.length === 0) return general()
            const before = prepared.ended ?? cached?.status ?? "running"
            const status = JournalStore.nextStatus(before, undefined, options)
            if (status !== before) return general()
            const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
            const params: Array<unknown> = []
            for (const row of prepared.rows) params.push(runId, row.offset, row.entryId, row.tag, row.json, now)
            cachedHeads.delete(runId)
            try {
              statement(prepared.rows.length).run(...params)
            } catch (cause) {
              const error = new SqlError({ cause, message: "Failed to execute statement" })
              // Another writer appended meanwhile, or the batch was there already: judged again from the query.
              return isConstraint(error) ? appendRetried(runId, entries, options, 1) : Effect.fail(error)
            }
            committed()
            if (prepared.ended === undefined) {
              cachedHeads.set(runId, { entries: (cached?.entries ?? 0) + prepared.rows.length, status })
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
      sql`SELECT entry_offset, payload FROM eventflow_journal_entries
        WHERE run_id = ${runId} AND entry_offset >= ${fromOffset} ORDER BY entry_offset`.pipe(
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
          const [head] = yield* sql<{
            readonly entries: number
          }>`SELECT (SELECT coalesce(max(entry_offset) + 1, 0) FROM eventflow_journal_entries WHERE run_id = r.run_id)
              AS entries FROM eventflow_journal_runs r WHERE r.run_id = ${runId}`
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

    const remove = (runId: string) =>
      Effect.zipRight(
        Effect.sync(() => cachedHeads.delete(runId)),
        transaction(
          Effect.all([
            sql`DELETE FROM eventflow_journal_entries WHERE run_id = ${runId}`,
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
     * claim from another connection waits for it, and after a claim no append of an older epoch lands.
     */
    const appendFenced = (
      runId: string,
      epoch: number,
      entries: ReadonlyArray<Journal.Entry>,
      options?: JournalStore.AppendOptions
    ) =>
      transaction(
        Effect.gen(function* () {
          const [fence] = yield* sql<{
            readonly epoch: number
          }>`SELECT epoch FROM eventflow_journal_fences WHERE run_id = ${runId}`
          const current = fence?.epoch ?? 0
          if (current !== epoch) return yield* Effect.fail(JournalStore.fenced(runId, epoch, current))
          return entries.length === 0 ? [] : yield* appendOnce(runId, entries, options, false)
        })
      ).pipe(
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
