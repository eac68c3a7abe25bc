import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { AnyEvent } from "../Event.js"
import { internalTags, terminalTags } from "./event.js"

/**
 * The published stream of a run: an append-only log (offset = position). Readers replay from offset 0 and
 * follow live; the log closes after the terminal event. Appending with no reader waiting costs one push.
 *
 * @internal
 */
export class Log {
  readonly entries: Array<AnyEvent> = []
  closed = false
  private listeners: Array<() => void> = []

  append(event: AnyEvent): void {
    if (this.closed) return
    this.entries.push(event)
    if (terminalTags.has(event._tag)) this.closed = true
    if (this.listeners.length > 0) {
      const listeners = this.listeners
      this.listeners = []
      for (const listener of listeners) listener()
    }
  }

  /** Ends the log without a terminal event (a durable run detached from this process). */
  close(): void {
    if (this.closed) return
    this.closed = true
    const listeners = this.listeners
    this.listeners = []
    for (const listener of listeners) listener()
  }

  /** Calls `listener` once, at the next append or when the log closes (the caller checks `closed` first). */
  onNext(listener: () => void): void {
    this.listeners.push(listener)
  }

  /** Suspends until there are entries past `offset` or the log is closed. */
  private awaitPast(offset: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.entries.length > offset || this.closed) {
        resume(Effect.void)
        return
      }
      const listener = () => resume(Effect.void)
      this.listeners.push(listener)
      return Effect.sync(() => {
        const index = this.listeners.indexOf(listener)
        if (index >= 0) this.listeners.splice(index, 1)
      })
    })
  }

  /**
   * Calls `f` with each event from offset `from` on (its log position as the second argument), in order, then follows
   * live; succeeds after the terminal event (or when the log is closed). The next event is passed only once `f`'s
   * effect has completed (backpressure); a failure of `f` ends the follow with that failure. It runs on the caller's
   * fiber and holds, while it waits, one listener on the log: no stream, channel or extra fiber (a `Stream` consumer
   * costs ~20 KB in Effect 3; a server follows every waiting run).
   */
  follow<E, R>(
    f: (event: AnyEvent, offset: number) => Effect.Effect<unknown, E, R>,
    options?: { readonly internal?: boolean | undefined; readonly from?: number | undefined }
  ): Effect.Effect<void, E, R> {
    const withInternal = options?.internal === true
    const start = options?.from ?? 0
    return Effect.suspend(() => {
      if (!Number.isInteger(start) || start < 0) {
        return Effect.dieMessage(`handle.follow: "from" must be an integer offset >= 0, got ${String(start)}.`)
      }
      let offset = start
      const loop: Effect.Effect<void, E, R> = Effect.suspend(() => {
        const entries = this.entries
        while (offset < entries.length) {
          const at = offset++
          const event = entries[at]
          if (!withInternal && internalTags.has(event._tag)) continue
          return Effect.zipRight(f(event, at), loop)
        }
        if (this.closed) return Effect.void
        return Effect.zipRight(this.awaitPast(offset), loop)
      })
      return loop
    })
  }

  /**
   * Replays everything from `from` on, then follows live; ends after the terminal event. Built as one channel loop
   * (cheaper per subscriber than `Stream.repeatEffectChunkOption`: a server follows every waiting run).
   */
  stream(options?: {
    readonly internal?: boolean | undefined
    readonly from?: number | undefined
  }): Stream.Stream<AnyEvent> {
    const withInternal = options?.internal === true
    const from = options?.from ?? 0
    return Stream.fromChannel(
      Channel.suspend(() => {
        let offset = from
        const loop: Channel.Channel<Chunk.Chunk<AnyEvent>, unknown, never, unknown, void, unknown> = Channel.suspend(
          () => {
            const end = this.entries.length
            if (offset < end) {
              const slice = this.entries.slice(offset, end)
              offset = end
              const chunk = withInternal ? slice : slice.filter((event) => !internalTags.has(event._tag))
              return chunk.length > 0 ? Channel.zipRight(Channel.write(Chunk.unsafeFromArray(chunk)), loop) : loop
            }
            if (this.closed) return Channel.void
            return Channel.zipRight(Channel.fromEffect(this.awaitPast(offset)), loop)
          }
        )
        return loop
      })
    )
  }
}
