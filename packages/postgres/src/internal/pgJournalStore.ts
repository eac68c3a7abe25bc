/**
 * The PostgreSQL journal store: entries in `eventflow_journal_entries`, the head row of each run in
 * `eventflow_journal_runs` (summary and length), the last compaction in `eventflow_journal_compactions`, the fencing
 * epoch in `eventflow_journal_fences`. An append locks the head row (`FOR UPDATE`), so appends to one run are
 * serialized and offsets stay dense; it notifies `eventflow_journal` with the run id when it commits.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Journal from "@eventflow/core/Journal"
import * as JournalStore from "@eventflow/core/JournalStore"
import type * as RunStore from "@eventflow/core/RunStore"
import * as Snapshot from "@eventflow/core/Snapshot"
import { JournalConflictError, JournalFencedError, JournalStoreError } from "@eventflow/core/WorkflowError"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { page } from "./pgRunStore.js"
import { type ClientOptions, channel, clientLayer, isRetryable, open, withReason } from "./schema.js"

type Operation = JournalStoreError["operation"]

type AppendError = JournalStoreError | JournalConflictError | JournalFencedError

const mapErrors =
  (operation: Operation, runId?: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, AppendError, R> =>
    Effect.mapError(effect, (cause) =>
      cause instanceof JournalConflictError || cause instanceof JournalStoreError || cause instanceof JournalFencedError
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

/** The store's operations on a client, and `readFrom` for following a journal. */
export interface Store extends JournalStore.Service {
  readonly claim: (runId: string) => Effect.Effect<number, JournalStoreError>
  readonly appendFenced: NonNullable<JournalStore.Service["appendFenced"]>
}

/** @internal */
export const make = (): Effect.Effect<Store, JournalStoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* open(sql).pipe(Effect.mapError((cause) => new JournalStoreError({ operation: "open", cause })))

    const heads = (where: ReturnType<typeof sql.and>, tail = "") =>
      sql`SELECT r.run_id, r.workflow, r.signature, r.status, r.created_at::float8 AS created_at,
          r.updated_at::float8 AS updated_at, r.entries, c.up_to_offset,
          (s.payload::jsonb -> 'conversation' ->> 'id') AS conversation_id, (s.payload::jsonb ->> 'parent') AS parent_run_id
        FROM eventflow_journal_runs r LEFT JOIN eventflow_journal_compactions c ON c.run_id = r.run_id
          LEFT JOIN eventflow_journal_entries s ON s.run_id = r.run_id AND s.entry_offset = 0
        WHERE ${where} ${sql.unsafe(tail)}`.pipe(
        Effect.flatMap(decodeHeads),
        Effect.map((rows) => rows.map(toSummary))
      )

    const summary = (runId: string) =>
      heads(sql.and([sql`r.run_id = ${runId}`])).pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        mapErrors("list", runId)
      ) as Effect.Effect<Option.Option<JournalStore.Summary>, JournalStoreError>

    /**
     * One append, inside the transaction: the head row is locked first (`FOR UPDATE`; appends to one run wait for
     * each other, appends to different runs do not), then the entries of the batch's ids already there are read (a
     * new statement, so it sees what the append before committed), then one statement inserts the entries, creates
     * or advances the head row and queues the notification (sent when the transaction commits).
     */
    const appendInTransaction = (
      runId: string,
      entries: ReadonlyArray<Journal.Entry>,
      options: JournalStore.AppendOptions | undefined
    ) =>
      Effect.gen(function* () {
        const [head] = yield* sql<{
          readonly entries: number
          readonly status: Snapshot.Status
        }>`SELECT entries, status FROM eventflow_journal_runs WHERE run_id = ${runId} FOR UPDATE`
        const ids = [...new Set(entries.map((entry) => entry.id))]
        const known =
          head === undefined
            ? []
            : yield* sql<{
                readonly entry_id: string
                readonly entry_offset: number
                readonly payload: string
              }>`SELECT entry_id, entry_offset, payload FROM eventflow_journal_entries
                WHERE run_id = ${runId} AND ${sql.in("entry_id", ids)}`
        const existing = new Map<string, JournalStore.Existing>()
        for (const row of known) existing.set(row.entry_id, { offset: row.entry_offset, json: row.payload })
        const prepared = JournalStore.prepareAppend(runId, entries, existing, head?.entries ?? 0)
        if (prepared._tag !== "Prepared") return yield* Effect.fail(prepared)
        if (prepared.rows.length === 0) return prepared.stored
        const now = yield* Clock.currentTimeMillis
        const rows = sql.insert(
          prepared.rows.map((row) => ({
            run_id: runId,
            entry_offset: row.offset,
            entry_id: row.entryId,
            tag: row.tag,
            payload: row.json,
            appended_at: now
          }))
        )
        const status = JournalStore.nextStatus(head?.status ?? "running", prepared.ended, options)
        const count = prepared.rows.length
        const started = prepared.started
        const headStatement =
          head === undefined
            ? sql`INSERT INTO eventflow_journal_runs (run_id, workflow, signature, status, created_at, updated_at, entries)
                VALUES (${runId}, ${started!.workflow}, ${started!.signature}, ${status}, ${started!.at ?? now}, ${now},
                  ${count}) RETURNING 1`
            : sql`UPDATE eventflow_journal_runs SET entries = entries + ${count}, updated_at = ${now},
                status = ${status} WHERE run_id = ${runId} RETURNING 1`
        yield* sql`WITH inserted AS (INSERT INTO eventflow_journal_entries ${rows} RETURNING 1),
            head AS (${headStatement})
          SELECT pg_notify(${channel}, ${runId}), (SELECT count(*) FROM inserted) AS inserted,
            (SELECT count(*) FROM head) AS heads`
        return prepared.stored
      })

    /** Runs an append in a transaction of its own (or the caller's), retried when a racing first append won. */
    const inTransaction = <A, E, R>(runId: string, body: Effect.Effect<A, E, R>) =>
      sql.withTransaction(body).pipe(Effect.retry({ while: isRetryable, times: 20 }), mapErrors("append", runId))

    const append = (runId: string, entries: ReadonlyArray<Journal.Entry>, options?: JournalStore.AppendOptions) =>
      (entries.length === 0
        ? Effect.succeed([])
        : inTransaction(runId, appendInTransaction(runId, entries, options))) as Effect.Effect<
        ReadonlyArray<Journal.Stored>,
        JournalStoreError | JournalConflictError
      >

    /** Bumps the run's epoch; waits for the fenced appends in flight (they hold the fence row `FOR SHARE`). */
    const claim = (runId: string) =>
      sql<{ readonly epoch: number }>`INSERT INTO eventflow_journal_fences (run_id, epoch) VALUES (${runId}, 1)
        ON CONFLICT (run_id) DO UPDATE SET epoch = eventflow_journal_fences.epoch + 1 RETURNING epoch`.pipe(
        Effect.map((rows) => rows[0].epoch),
        mapErrors("append", runId)
      ) as Effect.Effect<number, JournalStoreError>

    /**
     * The fence row is read `FOR SHARE` in the append's transaction: a claim (which updates that row) waits until the
     * append commits, and an append after the claim sees the new epoch and is refused. Compare-and-set on the epoch.
     */
    const appendFenced = (
      runId: string,
      epoch: number,
      entries: ReadonlyArray<Journal.Entry>,
      options?: JournalStore.AppendOptions
    ) =>
      inTransaction(
        runId,
        Effect.gen(function* () {
          const [fence] = yield* sql<{
            readonly epoch: number
          }>`SELECT epoch FROM eventflow_journal_fences WHERE run_id = ${runId} FOR SHARE`
          const current = fence?.epoch ?? 0
          if (current !== epoch) return yield* Effect.fail(JournalStore.fenced(runId, epoch, current))
          return entries.length === 0 ? [] : yield* appendInTransaction(runId, entries, options)
        })
      ) as Effect.Effect<ReadonlyArray<Journal.Stored>, AppendError>

    const read = (runId: string, fromOffset = 0) =>
      sql`SELECT entry_offset, payload FROM eventflow_journal_entries
        WHERE run_id = ${runId} AND entry_offset >= ${Math.max(0, Math.trunc(fromOffset))} ORDER BY entry_offset`.pipe(
        Effect.flatMap(decodeEntries),
        Effect.map((rows) => rows.map((row): Journal.Stored => ({ offset: row.entry_offset, entry: row.payload }))),
        mapErrors("read", runId)
      ) as Effect.Effect<ReadonlyArray<Journal.Stored>, JournalStoreError>

    // One snapshot for the head, the compaction and the tail: REPEATABLE READ.
    const load = (runId: string) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`.pipe(Effect.ignore)
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
        )
        .pipe(mapErrors("load", runId)) as Effect.Effect<Option.Option<JournalStore.Loaded>, JournalStoreError>

    const compact = (runId: string, snapshot: unknown, upToOffset: number) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            const [head] = yield* sql<{
              readonly entries: number
            }>`SELECT entries FROM eventflow_journal_runs WHERE run_id = ${runId} FOR SHARE`
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
        )
        .pipe(mapErrors("compact", runId)) as Effect.Effect<void, JournalStoreError>

    const list = (filter?: RunStore.ListFilter) =>
      heads(
        sql.and([
          ...(filter?.workflow === undefined ? [] : [sql`r.workflow = ${filter.workflow}`]),
          ...(filter?.status === undefined ? [] : [sql.in("r.status", filter.status)]),
          // A conversation's id is its first run's id: that run belongs to it too.
          ...(filter?.conversation === undefined
            ? []
            : [
                sql`((s.payload::jsonb -> 'conversation' ->> 'id') = ${filter.conversation} OR r.run_id = ${filter.conversation})`
              ])
        ]),
        `ORDER BY r.created_at DESC, r.run_id COLLATE "C" ASC ${page(filter)}`
      ).pipe(mapErrors("list")) as Effect.Effect<ReadonlyArray<JournalStore.Summary>, JournalStoreError>

    const remove = (runId: string) =>
      sql
        .withTransaction(
          Effect.all([
            sql`DELETE FROM eventflow_journal_entries WHERE run_id = ${runId}`,
            sql`DELETE FROM eventflow_journal_compactions WHERE run_id = ${runId}`,
            sql`DELETE FROM eventflow_journal_runs WHERE run_id = ${runId}`
          ])
        )
        .pipe(Effect.asVoid, mapErrors("remove", runId)) as Effect.Effect<void, JournalStoreError>

    // Following with LISTEN/NOTIFY needs the PostgreSQL client itself (a plain SqlClient cannot listen).
    const pg = yield* Effect.serviceOption(PgClient.PgClient)
    const followRun = Option.isNone(pg)
      ? undefined
      : (runId: string, options?: JournalStore.FollowOptions) =>
          Stream.provideService(follow(runId, options), PgClient.PgClient, pg.value)

    return { append, read, load, compact, list, summary, remove, claim, appendFenced, follow: followRun }
  })

/** @internal */
export const layerFromClient = (): Layer.Layer<JournalStore.JournalStore, JournalStoreError, SqlClient.SqlClient> =>
  Layer.effect(JournalStore.JournalStore, make())

/** @internal */
export const layer = (options: ClientOptions): Layer.Layer<JournalStore.JournalStore, JournalStoreError> =>
  layerFromClient().pipe(
    Layer.provide(clientLayer(options, (cause) => new JournalStoreError({ operation: "open", cause })))
  )

/** @internal */
export interface FollowOptions {
  readonly fromOffset?: number | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * The entries of a run's journal from `fromOffset` on, then every entry appended after, as they commit in any
 * process: the journal is read, then read again after each notification of the run (`LISTEN eventflow_journal`) or,
 * when none comes, every `pollInterval` (default 1 second: the fallback for a lost notification or a dropped
 * listening connection). The stream ends after the run's `RunEnded` entry.
 */
export const follow = (
  runId: string,
  options?: FollowOptions
): Stream.Stream<Journal.Stored, JournalStoreError, PgClient.PgClient> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const client = yield* PgClient.PgClient
      const sql = client.withoutTransforms()
      const pollInterval = Duration.decode(options?.pollInterval ?? Duration.seconds(1))
      const wakeups = yield* Queue.sliding<void>(1)
      // Listen first: an entry committed between the first read and the LISTEN would otherwise wait for a poll.
      const listening = yield* Effect.makeLatch(false)
      const nonce = `eventflow-follow-ready:${Math.random().toString(36).slice(2)}${Date.now()}`
      yield* client.listen(channel).pipe(
        Stream.runForEach((payload) =>
          payload === nonce ? listening.open : payload === runId ? Queue.offer(wakeups, undefined) : Effect.void
        ),
        Effect.ignore,
        Effect.forkScoped
      )
      // The listener is ready when its own notification comes back: ping until one does (up to 200 round trips,
      // no clock involved; after that the poll covers the gap).
      // (Not `PgClient.notify`: it sends `NOTIFY channel, $1`, which PostgreSQL refuses; pg_notify takes parameters.)
      const ping = sql`SELECT pg_notify(${channel}, ${nonce})`.pipe(Effect.zipLeft(Effect.yieldNow()))
      yield* Effect.race(listening.await, Effect.repeat(ping, { times: 200 })).pipe(Effect.ignore)
      const readFrom = (from: number) =>
        sql`SELECT entry_offset, payload FROM eventflow_journal_entries
          WHERE run_id = ${runId} AND entry_offset >= ${from} ORDER BY entry_offset`.pipe(
          Effect.flatMap(decodeEntries),
          Effect.map((rows) => rows.map((row): Journal.Stored => ({ offset: row.entry_offset, entry: row.payload }))),
          Effect.mapError((cause) => new JournalStoreError({ operation: "read", runId, cause: withReason(cause) }))
        )
      const wait = Queue.take(wakeups).pipe(Effect.timeoutOption(pollInterval), Effect.asVoid)
      const start = Math.max(0, Math.trunc(options?.fromOffset ?? 0))
      return Stream.paginateChunkEffect({ next: start, first: true }, (cursor) =>
        Effect.gen(function* () {
          if (!cursor.first) yield* wait
          const batch = yield* readFrom(cursor.next)
          const ended = batch.some((stored) => stored.entry._tag === "RunEnded")
          const next = batch.length === 0 ? cursor.next : batch[batch.length - 1].offset + 1
          return [Chunk.unsafeFromArray(batch), ended ? Option.none() : Option.some({ next, first: false })] as const
        })
      )
    })
  )
