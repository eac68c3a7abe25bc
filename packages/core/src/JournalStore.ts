/**
 * `JournalStore`: where durable runs keep their journals (see {@link Journal}). An append-only list of entries per
 * run, idempotent on the entry id, read from any offset, with compactions (a snapshot standing for the entries
 * before an offset) so that loading a run reads the last compaction and the tail after it.
 *
 * `layerMemory` here; `SqliteJournalStore.layer` in `@eventflow/sqlite` for a real file. Every store passes the
 * conformance suite of `JournalStoreSuite`.
 *
 * This store is additive: today's engine checkpoints whole snapshots to {@link RunStore}; the journal engine of
 * issue 12 appends here.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type * as Journal from "./Journal.js"
import * as internal from "./internal/journalStore.js"
import { applyFilter } from "./internal/runFilter.js"
import type { ListFilter, RunSummary } from "./RunStore.js"
import type { Status } from "./Snapshot.js"
import { type JournalConflictError, JournalFencedError, JournalStoreError } from "./WorkflowError.js"

/**
 * A run as listed by a journal store: the summary of `RunStore.list`, plus the definition signature the run was
 * started with, the number of entries and the offset of its last compaction.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Summary extends RunSummary {
  readonly signature: string
  readonly entries: number
  readonly compactedUpTo: number | undefined
}

/**
 * A compaction: `snapshot` (JSON, the engine's own format) stands for the entries at offsets `0` to `upToOffset - 1`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Compaction {
  readonly upToOffset: number
  readonly snapshot: unknown
}

/**
 * What loading a run returns: its summary, its last compaction and the entries after it (all entries without one).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Loaded {
  readonly summary: Summary
  readonly compaction: Option.Option<Compaction>
  readonly tail: ReadonlyArray<Journal.Stored>
}

/**
 * Options of `append`. `status`: the run's status after these entries, for runs that have not ended (`"waiting"`
 * when the interpreter is quiet but can be woken); a `RunEnded` entry sets the ended status by itself.
 *
 * @since 0.1.0
 * @category Models
 */
export interface AppendOptions {
  readonly status?: "running" | "waiting" | undefined
}

/**
 * The operations of a journal store.
 *
 * - `append(runId, entries)`: adds the entries after the journal's last one, atomically (all or none). An entry whose
 *   id is already in the journal with the same content is skipped (a replayed append is a no-op); with different
 *   content the whole append fails with `JournalConflictError`. The first entry of a journal must be `RunStarted`.
 *   Returns every entry of the batch with its offset.
 * - `read(runId, fromOffset)`: the entries at offsets `fromOffset` and after, in order (none for an unknown run).
 * - `load(runId)`: the summary, the last compaction and the entries after it.
 * - `compact(runId, snapshot, upToOffset)`: records `snapshot` as standing for the entries before `upToOffset`
 *   (at most the journal's length). A compaction at a lower offset than the current one is ignored. Entries are
 *   kept (the timeline stays readable); `load` skips them.
 * - `list(filter)`, `summary(runId)`, `remove(runId)`: as `RunStore`'s.
 *
 * Fencing (optional; every store of this repository has it): `claim(runId)` makes the caller the run's writer and
 * returns its epoch (1, 2, 3, … one more than the last claim of the run, kept across `remove`); `appendFenced(runId,
 * epoch, entries)` is `append` that first checks, atomically with the write, that `epoch` is still the run's
 * current one and fails with `JournalFencedError` (appending nothing) once another writer has claimed the run. A
 * claim waits for the fenced appends in flight, so after `claim` returns no append of an older epoch lands. Plain
 * `append` is not fenced: a process that claims must write through `appendFenced` only (see {@link claimWriter}).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly append: (
    runId: string,
    entries: ReadonlyArray<Journal.Entry>,
    options?: AppendOptions
  ) => Effect.Effect<ReadonlyArray<Journal.Stored>, JournalStoreError | JournalConflictError>
  readonly read: (runId: string, fromOffset?: number) => Effect.Effect<ReadonlyArray<Journal.Stored>, JournalStoreError>
  readonly load: (runId: string) => Effect.Effect<Option.Option<Loaded>, JournalStoreError>
  readonly compact: (runId: string, snapshot: unknown, upToOffset: number) => Effect.Effect<void, JournalStoreError>
  readonly list: (filter?: ListFilter) => Effect.Effect<ReadonlyArray<Summary>, JournalStoreError>
  readonly summary: (runId: string) => Effect.Effect<Option.Option<Summary>, JournalStoreError>
  readonly remove: (runId: string) => Effect.Effect<void, JournalStoreError>
  readonly claim?: ((runId: string) => Effect.Effect<number, JournalStoreError>) | undefined
  readonly appendFenced?:
    | ((
        runId: string,
        epoch: number,
        entries: ReadonlyArray<Journal.Entry>,
        options?: AppendOptions
      ) => Effect.Effect<ReadonlyArray<Journal.Stored>, JournalStoreError | JournalConflictError | JournalFencedError>)
    | undefined
  /**
   * Optional: the entries of a run's journal from `fromOffset` on, then each entry as its append commits (in any
   * process sharing the store), ending after the run's `RunEnded`. A store that can be woken by its writers
   * (PostgreSQL's `LISTEN/NOTIFY`) has it; without it `RunEvents.follow` polls `read`.
   */
  readonly follow?:
    | ((runId: string, options?: FollowOptions) => Stream.Stream<Journal.Stored, JournalStoreError>)
    | undefined
}

/**
 * Options of a store's `follow`: the journal offset to start from (default 0).
 *
 * @since 0.1.0
 * @category Models
 */
export interface FollowOptions {
  readonly fromOffset?: number | undefined
}

/**
 * The writer of one run, made by {@link claimWriter}: its epoch, and `append`, which fails with `JournalFencedError`
 * once another writer has claimed the run.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Writer {
  readonly runId: string
  readonly epoch: number
  readonly append: (
    entries: ReadonlyArray<Journal.Entry>,
    options?: AppendOptions
  ) => Effect.Effect<ReadonlyArray<Journal.Stored>, JournalStoreError | JournalConflictError | JournalFencedError>
}

/**
 * Claims a run in a store with fencing (`claim` and `appendFenced`) and returns its writer. A store without fencing
 * fails with `JournalStoreError` (operation `"append"`) saying so.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const claimWriter = (store: Service, runId: string): Effect.Effect<Writer, JournalStoreError> => {
  const { appendFenced, claim } = store
  if (claim === undefined || appendFenced === undefined) {
    return Effect.fail(
      new JournalStoreError({
        operation: "append",
        runId,
        cause: new Error(
          "this journal store has no fencing (claim / appendFenced): use one that has, such as " +
            "JournalStore.layerMemory, SqliteJournalStore or PgJournalStore"
        )
      })
    )
  }
  return Effect.map(claim(runId), (epoch) => ({
    runId,
    epoch,
    append: (entries, options) => appendFenced(runId, epoch, entries, options)
  }))
}

/**
 * The error of a fenced append whose epoch is not the run's current one, for store implementations.
 *
 * @since 0.1.0
 * @category Errors
 */
export const fenced = (runId: string, epoch: number, current: number): JournalFencedError =>
  new JournalFencedError({ runId, epoch, current })

/**
 * The journal store service.
 *
 * @since 0.1.0
 * @category Models
 */
export class JournalStore extends Context.Tag("@eventflow/core/JournalStore")<JournalStore, Service>() {}

/**
 * An entry already in a journal, for {@link prepareAppend}: its offset and its text ({@link Journal.toJson}).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Existing extends internal.Existing {}

/**
 * What {@link prepareAppend} decided: the rows to insert (offset, entry id, tag, text), every entry of the batch with
 * its offset, the batch's `RunStarted` when it starts the journal and the status of its `RunEnded`, if any.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Prepared extends internal.Prepared {}

/**
 * The append rules every store applies the same way, for store implementations: given the batch, the entries of
 * the journal that have the batch's ids (by id) and the journal's length, returns the rows to insert, or the
 * `JournalConflictError` / `JournalStoreError` the append fails with. A store runs it inside the transaction that
 * inserts the rows.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const prepareAppend: (
  runId: string,
  entries: ReadonlyArray<Journal.Entry>,
  existing: ReadonlyMap<string, Existing>,
  length: number
) => Prepared | JournalStoreError | JournalConflictError = internal.prepareAppend

/**
 * The error of a compaction past the end of a journal, for store implementations.
 *
 * @since 0.1.0
 * @category Errors
 */
export const compactionBeyondEnd: (runId: string, upToOffset: number, length: number) => JournalStoreError =
  internal.compactionBeyondEnd

/**
 * The error of an operation on a run the store has no journal for, for store implementations.
 *
 * @since 0.1.0
 * @category Errors
 */
export const unknownRun: (operation: JournalStoreError["operation"], runId: string) => JournalStoreError =
  internal.unknownRun

/**
 * The status of a run's summary after an append: a `RunEnded` decides; otherwise the append's `status`, unless the
 * run has already ended.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const nextStatus = (
  current: Status,
  ended: Journal.EndStatus | undefined,
  options: AppendOptions | undefined
): Status => {
  if (ended !== undefined) return ended
  if (current !== "running" && current !== "waiting") return current
  return options?.status ?? current
}

/** The conversation id and parent run id a run's `RunStarted` records, as `RunSummary` fields (absent when unset). */
const summaryLinks = (
  started: Journal.Entry & { readonly _tag: "RunStarted" }
): { readonly conversationId?: string; readonly parentRunId?: string } => ({
  ...(started.conversation === undefined ? {} : { conversationId: started.conversation.id }),
  ...(started.parent === undefined ? {} : { parentRunId: started.parent })
})

interface MemoryRun {
  /** Updated in place by appends (`summaryOf` hands out copies). */
  summary: { -readonly [K in keyof Summary]: Summary[K] }
  readonly rows: Array<string>
  readonly byId: Map<string, Existing>
  compaction: { readonly upToOffset: number; readonly json: string } | undefined
}

/**
 * A journal store in memory (entries are copied through JSON, as a real store would).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  const runs = new Map<string, MemoryRun>()
  // Fencing epochs, kept across `remove` so that a removed and restarted run never reuses an epoch.
  const epochs = new Map<string, number>()
  const toStored = (run: MemoryRun, from: number): ReadonlyArray<Journal.Stored> => {
    const out: Array<Journal.Stored> = []
    for (let offset = Math.max(0, from); offset < run.rows.length; offset++) {
      out.push({ offset, entry: JSON.parse(run.rows[offset]) })
    }
    return out
  }
  const noneExisting: ReadonlyMap<string, Existing> = new Map()
  const summaryOf = (run: MemoryRun): Summary => ({
    ...run.summary,
    entries: run.rows.length,
    compactedUpTo: run.compaction?.upToOffset
  })
  const store = JournalStore.of({
    append: (runId, entries, options) =>
      // The clock read at once (one step, not a `flatMap` of `Clock.currentTimeMillis`).
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const run = runs.get(runId)
        // The batch's ids already in the journal (usually none: no map made).
        let existing: Map<string, Existing> | undefined
        if (run !== undefined) {
          for (const entry of entries) {
            const known = run.byId.get(entry.id)
            if (known === undefined) continue
            existing ??= new Map()
            existing.set(entry.id, known)
          }
        }
        const prepared = prepareAppend(runId, entries, existing ?? noneExisting, run?.rows.length ?? 0)
        if (prepared._tag !== "Prepared") return Effect.fail(prepared)
        if (prepared.rows.length === 0) return Effect.succeed(prepared.stored)
        let target = run
        if (target === undefined) {
          const started = prepared.started!
          target = {
            summary: {
              runId,
              workflow: started.workflow,
              signature: started.signature,
              ...summaryLinks(started),
              status: "running",
              createdAt: started.at ?? now,
              updatedAt: now,
              entries: 0,
              compactedUpTo: undefined
            },
            rows: [],
            byId: new Map(),
            compaction: undefined
          }
          runs.set(runId, target)
        }
        for (const row of prepared.rows) {
          // `JSON.stringify` (canonical JSON) returns a rope of the parts it wrote; reading a character flattens it in
          // place (V8), so what is kept is one flat string (~200 B less per kept entry, measured).
          row.json.charCodeAt(0)
          target.rows.push(row.json)
          target.byId.set(row.entryId, { offset: row.offset, json: row.json })
        }
        target.summary.status = nextStatus(target.summary.status, prepared.ended, options)
        target.summary.updatedAt = now
        return Effect.succeed(prepared.stored)
      }),
    read: (runId, fromOffset = 0) =>
      Effect.sync(() => {
        const run = runs.get(runId)
        return run === undefined ? [] : toStored(run, fromOffset)
      }),
    load: (runId) =>
      Effect.sync(() => {
        const run = runs.get(runId)
        if (run === undefined) return Option.none()
        return Option.some({
          summary: summaryOf(run),
          compaction:
            run.compaction === undefined
              ? Option.none()
              : Option.some({ upToOffset: run.compaction.upToOffset, snapshot: JSON.parse(run.compaction.json) }),
          tail: toStored(run, run.compaction?.upToOffset ?? 0)
        })
      }),
    compact: (runId, snapshot, upToOffset) =>
      Effect.suspend(() => {
        const run = runs.get(runId)
        if (run === undefined) return Effect.fail(unknownRun("compact", runId))
        if (!Number.isInteger(upToOffset) || upToOffset < 0 || upToOffset > run.rows.length) {
          return Effect.fail(compactionBeyondEnd(runId, upToOffset, run.rows.length))
        }
        if (run.compaction === undefined || upToOffset >= run.compaction.upToOffset) {
          run.compaction = { upToOffset, json: JSON.stringify(snapshot) }
        }
        return Effect.void
      }),
    list: (filter) =>
      Effect.sync(() => applyFilter([...runs.values()].map(summaryOf), filter) as ReadonlyArray<Summary>),
    summary: (runId) => Effect.sync(() => Option.map(Option.fromNullable(runs.get(runId)), summaryOf)),
    remove: (runId) =>
      Effect.sync(() => {
        runs.delete(runId)
      })
  })
  // A claim waits for the fenced appends in flight (the check and the write of one are one step under the lock).
  const fencing = Effect.unsafeMakeSemaphore(1).withPermits(1)
  return JournalStore.of({
    ...store,
    claim: (runId) =>
      fencing(
        Effect.sync(() => {
          const epoch = (epochs.get(runId) ?? 0) + 1
          epochs.set(runId, epoch)
          return epoch
        })
      ),
    appendFenced: (runId, epoch, entries, options) =>
      fencing(
        Effect.suspend(() => {
          const current = epochs.get(runId) ?? 0
          return current === epoch
            ? store.append(runId, entries, options)
            : Effect.fail<JournalStoreError | JournalConflictError | JournalFencedError>(fenced(runId, epoch, current))
        })
      )
  })
})

/**
 * A `JournalStore` in memory: for tests and for runs that need a journal but not a file.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerMemory: Layer.Layer<JournalStore> = Layer.effect(JournalStore, makeMemory)
