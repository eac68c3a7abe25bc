/**
 * `RunEvents`: the published events of a durable run, read from its journal, from any process that shares the
 * journal store. The published log of a journaled run is the concatenation of the log chunks its entries carry
 * (`Published` entries and `InvocationCompleted.log`), so the positions here are the positions of the live run's
 * log: `follow(store, runId, { from })` gives the same events, in the same order, as the live run's
 * `handle.events()` / `RunEngine.events(runId, { from })` on the machine that hosts it, and the server's SSE ids
 * (the index of each event in that stream) are the same on every server.
 *
 * The journal is read from the last compaction when it covers the offset asked for (else from the start), then
 * followed: with the store's `follow` when it has one (PostgreSQL: `LISTEN/NOTIFY` with a poll fallback), otherwise
 * by reading the journal again every `pollInterval`. The stream ends after the run's `RunEnded` entry. Only what is
 * durable is seen: an event published by the hosting process but not yet appended arrives with its append.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { internalTags } from "./internal/event.js"
import type * as Journal from "./Journal.js"
import type * as JournalStore from "./JournalStore.js"
import type { PublishedEvent } from "./Run.js"
import { type JournalStoreError, PublishedLogError, RunNotFoundError } from "./WorkflowError.js"

/**
 * Options of {@link follow}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FollowOptions {
  /**
   * The offset in the run's published log (trace events included) to start from: `0` (the default) replays
   * everything. The same offsets as `RunEngine.events`' `from`.
   */
  readonly from?: number | undefined
  /** `true` includes trace events (`StepStarted`, ...), as `handle.events({ internal: true })`. Default `false`. */
  readonly internal?: boolean | undefined
  /** How often the journal is read again when the store has no `follow` of its own. Default 200 milliseconds. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * A published event with its offset in the run's published log (trace events count).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Positioned {
  readonly offset: number
  readonly event: PublishedEvent
}

/**
 * What following a run's journal can fail with: the store failed (`JournalStoreError`), the store has no journal of
 * the run (`RunNotFoundError`, `where: "store"`), or an entry is not a valid part of the published log
 * (`PublishedLogError`, naming the run and the entry's offset).
 *
 * @since 0.1.0
 * @category Models
 */
export type FollowError = JournalStoreError | RunNotFoundError | PublishedLogError

/** The compaction format of the journal engine; its `publishedLength` is the log's length at its offset. */
const compactionFormat = "eventflow.compaction/1"

/** Where reading can start: a journal offset and the log's length before it. */
interface Start {
  readonly offset: number
  readonly position: number
}

/** The log chunk an entry carries, if any. */
const chunkOf = (
  entry: Journal.Entry
): { readonly from: number; readonly events: ReadonlyArray<unknown> } | undefined =>
  entry._tag === "Published"
    ? entry
    : entry._tag === "InvocationCompleted" && entry.log !== undefined
      ? entry.log
      : undefined

/**
 * The compaction's start when it is of this engine's format, stands for its stored offset, and the log before it
 * ends at or before `from`; the first chunk of the tail must start where it says the log ends (else the whole
 * journal is read: a compaction only saves reading).
 */
const compactedStart = (runId: string, loaded: JournalStore.Loaded, from: number): Start | undefined => {
  if (Option.isNone(loaded.compaction)) return undefined
  const { snapshot, upToOffset } = loaded.compaction.value
  const c = snapshot as { readonly [key: string]: unknown } | null
  if (typeof c !== "object" || c === null) return undefined
  const length = c.publishedLength
  if (c.format !== compactionFormat || c.runId !== runId || c.upToOffset !== upToOffset) return undefined
  if (typeof length !== "number" || !Number.isInteger(length) || length < 0 || length > from) return undefined
  for (const stored of loaded.tail) {
    const chunk = chunkOf(stored.entry)
    if (chunk !== undefined) return chunk.from === length ? { offset: upToOffset, position: length } : undefined
  }
  return { offset: upToOffset, position: length }
}

/**
 * The run's published events with their offsets, read from its journal and followed to the run's end (see
 * {@link follow}).
 *
 * @since 0.1.0
 * @category Streams
 */
export const followPositioned = (
  store: JournalStore.Service,
  runId: string,
  options?: FollowOptions
): Stream.Stream<Positioned, FollowError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const from = Math.max(0, Math.trunc(options?.from ?? 0))
      const withInternal = options?.internal === true
      const pollInterval = Duration.decode(options?.pollInterval ?? Duration.millis(200))
      const loaded = yield* store.load(runId)
      if (Option.isNone(loaded)) return yield* Effect.fail(new RunNotFoundError({ runId, where: "store" }))
      const compacted = compactedStart(runId, loaded.value, from)
      const first = compacted === undefined ? yield* store.read(runId, 0) : loaded.value.tail

      // The reading state: the next journal offset, the log's length so far, whether `RunEnded` was read.
      let next = compacted?.offset ?? 0
      let position = compacted?.position ?? 0
      let ended = false
      /** The published events of a batch of entries (entries already read are skipped). */
      const take = (batch: Iterable<Journal.Stored>): Effect.Effect<Chunk.Chunk<Positioned>, PublishedLogError> => {
        const out: Array<Positioned> = []
        for (const { entry, offset } of batch) {
          if (offset < next || ended) continue
          next = offset + 1
          if (entry._tag === "RunEnded") ended = true
          const chunk = chunkOf(entry)
          if (chunk === undefined) continue
          if (chunk.from !== position) {
            return Effect.fail(
              new PublishedLogError({
                runId,
                offset,
                reason: `its log chunk starts at position ${chunk.from}, but the log so far has ${position} events`
              })
            )
          }
          for (let i = 0; i < chunk.events.length; i++) {
            const event = chunk.events[i] as { readonly _tag?: unknown } | null
            if (typeof event !== "object" || event === null || typeof event._tag !== "string") {
              return Effect.fail(
                new PublishedLogError({
                  runId,
                  offset,
                  reason: `the event at position ${chunk.from + i} is not an object with a string _tag`
                })
              )
            }
            const at = chunk.from + i
            if (at >= from && (withInternal || !internalTags.has(event._tag))) {
              out.push({ offset: at, event: event as PublishedEvent })
            }
          }
          position = chunk.from + chunk.events.length
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      }

      const poll = (): Stream.Stream<Journal.Stored, JournalStoreError> =>
        Stream.paginateChunkEffect(undefined, () =>
          Effect.map(
            Effect.zipRight(
              Effect.sleep(pollInterval),
              Effect.suspend(() => store.read(runId, next))
            ),
            (batch) => {
              const done = batch.some((stored) => stored.entry._tag === "RunEnded")
              return [Chunk.unsafeFromArray(batch), done ? Option.none() : Option.some(undefined)] as const
            }
          )
        )
      const rest: Stream.Stream<Positioned, FollowError> = Stream.suspend(() => {
        if (ended) return Stream.empty
        const source = store.follow !== undefined ? store.follow(runId, { fromOffset: next }) : poll()
        return source.pipe(
          Stream.takeUntil((stored) => stored.entry._tag === "RunEnded"),
          Stream.mapChunksEffect(take)
        )
      })
      return Stream.concat(Stream.fromEffect(take(first)).pipe(Stream.flattenChunks), rest)
    })
  )

/**
 * The published events of a run, read from its journal in `store` and followed until the run ends: the same
 * events, in the same order and at the same offsets, as the live run's `handle.events()` (or
 * `RunEngine.events(runId, options)`) in the process that hosts it, from any process that shares the store.
 *
 * Reads the last compaction's tail when the compaction covers `from` (else the whole journal), then new entries as
 * they are appended (the store's `follow` when it has one, e.g. `PgJournalStore`'s `LISTEN/NOTIFY`; otherwise a poll
 * every `pollInterval`); ends after the run's `RunEnded` entry. A run with no journal in the store fails with
 * `RunNotFoundError` (`where: "store"`); an entry that is not a valid part of the log with `PublishedLogError`
 * naming the run and the entry's offset.
 *
 * @since 0.1.0
 * @category Streams
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { JournalStore, RunEvents } from "@eventflow/core"
 *
 * const printAll = (runId: string) =>
 *   Effect.gen(function* () {
 *     const store = yield* JournalStore.JournalStore
 *     yield* RunEvents.follow(store, runId).pipe(Stream.runForEach((event) => Effect.log(event._tag)))
 *   })
 * ```
 */
export const follow = (
  store: JournalStore.Service,
  runId: string,
  options?: FollowOptions
): Stream.Stream<PublishedEvent, FollowError> =>
  Stream.map(followPositioned(store, runId, options), (positioned) => positioned.event)
