/**
 * `Follower`: one fiber that follows many runs. Each run added with {@link Follower.follow} has its published
 * events passed to one callback, in order within the run, one event at a time (the next only once the callback's
 * effect has completed), until the run's terminal event.
 *
 * For a process that follows thousands of runs at once (runs waiting for people for days, their events forwarded to
 * a queue or a socket hub): a followed run costs a cursor and one listener on its log (~0.2 KB), where a fiber per run
 * costs ~4 KB in Effect 3 (`handle.follow`) and a `Stream` consumer of `handle.events()` ~20 KB. To follow one run, or
 * to compose with `Stream` operators, use `handle.follow` or `handle.events()`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { internalTags } from "./internal/event.js"
import { RunHandleImpl } from "./internal/handle.js"
import type { Log } from "./internal/log.js"
import type { PublishedEvent, RunHandle } from "./Run.js"

/**
 * Where an event passed to a follower's callback comes from.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Position {
  readonly runId: string
  /** The event's position in the run's published log (trace events included), as in `handle.follow` and SSE. */
  readonly offset: number
}

/**
 * What {@link make} gives: add runs to follow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Follower {
  /**
   * Follows a run of this process from offset `from` (default 0: everything published so far) to its terminal
   * event (or until it is detached from this process); `internal: true` adds trace events. Returns at once.
   */
  readonly follow: (
    handle: RunHandle<any, any>,
    options?: { readonly from?: number | undefined; readonly internal?: boolean | undefined }
  ) => Effect.Effect<void>
  /** How many added runs it still follows (not ended yet). */
  readonly following: Effect.Effect<number>
}

/** A followed run: where its follower stands in its log. */
class Cursor {
  queued = false
  readonly notify: () => void
  constructor(
    readonly runId: string,
    readonly log: Log,
    public offset: number,
    readonly internal: boolean,
    mux: Mux
  ) {
    this.notify = () => mux.schedule(this)
  }
}

/** The runs with events to pass (round robin), and the loop's wake-up while none has. */
class Mux {
  ready: Array<Cursor> = []
  head = 0
  live = 0
  closed = false
  wake: (() => void) | undefined = undefined

  schedule(cursor: Cursor): void {
    if (cursor.queued || this.closed) return
    cursor.queued = true
    this.ready.push(cursor)
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      wake()
    }
  }

  next(): Cursor | undefined {
    if (this.head >= this.ready.length) return undefined
    const cursor = this.ready[this.head]
    this.ready[this.head++] = undefined as any
    if (this.head === this.ready.length) {
      this.ready = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.head)
      this.head = 0
    }
    return cursor
  }
}

/**
 * Makes a follower: one fiber, forked in the scope (closing the scope stops it), that calls `f` with every event of
 * every run added with {@link Follower.follow}, in order within each run, one call at a time across all runs
 * (runs take turns, one event each), and waits for each call's effect before the next: a slow callback holds back
 * every followed run's events (not the runs themselves). `f` handles its own failures (`E` is `never`); a defect in
 * it stops the follower, and is logged.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <R = never>(
  f: (event: PublishedEvent, position: Position) => Effect.Effect<unknown, never, R>
): Effect.Effect<Follower, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const mux = new Mux()
    const idle = Effect.async<void>((resume) => {
      // The fiber may have yielded since it found nothing to do: runs scheduled meanwhile did not wake it.
      if (mux.head < mux.ready.length) return resume(Effect.void)
      mux.wake = () => resume(Effect.void)
      return Effect.sync(() => {
        mux.wake = undefined
      })
    })
    const loop: Effect.Effect<void, never, R> = Effect.suspend(() => {
      for (let cursor = mux.next(); cursor !== undefined; cursor = mux.next()) {
        const entries = cursor.log.entries
        while (cursor.offset < entries.length) {
          const offset = cursor.offset++
          const event = entries[offset]
          if (!cursor.internal && internalTags.has(event._tag)) continue
          // Its turn ends with this event: it queues again behind the other runs.
          mux.ready.push(cursor)
          return Effect.zipRight(f(event, { runId: cursor.runId, offset }), loop)
        }
        cursor.queued = false
        if (cursor.log.closed) mux.live--
        else cursor.log.onNext(cursor.notify)
      }
      return Effect.zipRight(idle, loop)
    })
    yield* Effect.forkScoped(
      loop.pipe(
        Effect.catchAllDefect((defect) => Effect.logError("Follower: the callback died; the follower stopped", defect)),
        Effect.ensuring(
          Effect.sync(() => {
            mux.closed = true
          })
        )
      )
    )
    return {
      follow: (handle, options) =>
        Effect.suspend(() => {
          if (!(handle instanceof RunHandleImpl)) {
            return Effect.dieMessage(
              `Follower.follow: run ${String(handle.runId)} is not a run of this process (a handle from Workflow.start ` +
                "or ctx.start); follow it with handle.events()."
            )
          }
          const from = options?.from ?? 0
          if (!Number.isInteger(from) || from < 0) {
            return Effect.dieMessage(`Follower.follow: "from" must be an integer offset >= 0, got ${String(from)}.`)
          }
          mux.live++
          mux.schedule(new Cursor(handle.runId, handle.log, from, options?.internal === true, mux))
          return Effect.void
        }),
      following: Effect.sync(() => mux.live)
    } satisfies Follower
  })
