/**
 * Follows runs' journals for one process: ONE `LISTEN eventflow_journal` for the whole engine (made ready once, at
 * start), dispatching each notification to the followers of its run, plus a poll as the fallback for a lost one.
 * (`PgJournalStore.follow` listens per stream; with hundreds of concurrent followers on @effect/sql-pg 0.53.0's shared
 * listen connection, one stream's end UNLISTENs the channel for all the others, and their handshakes then stall.)
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import type { Journal, JournalStore, JournalStoreError } from "@eventflow/core"
import { PgJournalStore } from "@eventflow/postgres"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** @internal */
export interface Follower {
  /** The run's entries from `fromOffset` on, then each appended one as it commits; ends after `RunEnded`. */
  readonly follow: (runId: string, fromOffset: number) => Stream.Stream<Journal.Stored, JournalStoreError>
}

/** @internal */
export const makeFollower = (
  client: PgClient.PgClient,
  journal: JournalStore.Service,
  pollInterval: Duration.DurationInput = Duration.seconds(1)
): Effect.Effect<Follower, never, Scope.Scope> =>
  Effect.gen(function* () {
    const waiters = new Map<string, Set<Queue.Queue<void>>>()
    const listening = yield* Effect.makeLatch(false)
    const nonce = `eventflow-cluster-ready:${Math.random().toString(36).slice(2)}${Date.now()}`
    yield* client.listen(PgJournalStore.channel).pipe(
      Stream.runForEach((payload) =>
        Effect.sync(() => {
          if (payload === nonce) return listening.unsafeOpen()
          const queues = waiters.get(payload)
          if (queues !== undefined) for (const queue of queues) Queue.unsafeOffer(queue, undefined)
        })
      ),
      // A dropped listening connection is listened again; the poll covers the gap.
      Effect.retry(Schedule.spaced("1 second")),
      Effect.ignore,
      Effect.forkScoped
    )
    const sql = client.withoutTransforms()
    const ping = sql`SELECT pg_notify(${PgJournalStore.channel}, ${nonce})`.pipe(
      Effect.zipLeft(Effect.sleep("10 millis"))
    )
    // Ready when its own notification comes back (at most ~2 s of pings; after that the poll covers the gap).
    yield* Effect.race(listening.await, Effect.repeat(ping, { times: 200 })).pipe(Effect.ignore)
    const interval = Duration.decode(pollInterval)

    const follow = (runId: string, fromOffset: number): Stream.Stream<Journal.Stored, JournalStoreError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const wakeups = yield* Queue.sliding<void>(1)
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              const queues = waiters.get(runId) ?? new Set<Queue.Queue<void>>()
              waiters.set(runId, queues)
              queues.add(wakeups)
            }),
            () =>
              Effect.sync(() => {
                const queues = waiters.get(runId)
                queues?.delete(wakeups)
                if (queues !== undefined && queues.size === 0) waiters.delete(runId)
              })
          )
          const wait = Queue.take(wakeups).pipe(Effect.timeoutOption(interval), Effect.asVoid)
          return Stream.paginateChunkEffect({ next: Math.max(0, fromOffset), first: true }, (cursor) =>
            Effect.gen(function* () {
              if (!cursor.first) yield* wait
              const batch = yield* journal.read(runId, cursor.next)
              const ended = batch.some((stored) => stored.entry._tag === "RunEnded")
              const next = batch.length === 0 ? cursor.next : batch[batch.length - 1]!.offset + 1
              return [
                Chunk.unsafeFromArray(batch as Array<Journal.Stored>),
                ended ? Option.none() : Option.some({ next, first: false })
              ] as const
            })
          )
        })
      )
    return { follow }
  })
