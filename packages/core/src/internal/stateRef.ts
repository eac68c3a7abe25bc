/**
 * The run's state (`ctx.state`): a real `SynchronizedRef` of Effect (the library's own class, so every
 * `Ref`/`SynchronizedRef` function works on it), with a lighter lock than the `Semaphore` that
 * `SynchronizedRef.make` allocates: that semaphore is ~1 KB per run (a `Set` and five closures per instance), and a
 * server holds thousands of runs that wait for days. This lock is one small object at rest.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as SynchronizedRef from "effect/SynchronizedRef"

type WithLock = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/** Effect's `SynchronizedImpl` (not exported): `new (ref, withLock)`, as `SynchronizedRef.unsafeMake` builds it. */
const SynchronizedImpl = Object.getPrototypeOf(SynchronizedRef.unsafeMake(0)).constructor as new <A>(
  ref: Ref.Ref<A>,
  withLock: WithLock
) => SynchronizedRef.SynchronizedRef<A>

/**
 * A mutex: the lock is taken and released in uninterruptible code; only the wait for it is interruptible. A release
 * wakes every waiter and each tries again (a waiter interrupted after its wake-up takes nothing, so no wake-up is
 * lost); contention on one run's state is rare, so the extra retries cost nothing measurable.
 */
class Mutex {
  private locked = false
  private waiters: Array<() => void> | undefined = undefined

  /** Suspends until the lock is free (interruptible; it takes nothing). */
  private unlocked(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (!this.locked) return resume(Effect.void)
      const waiter = () => resume(Effect.void)
      if (this.waiters === undefined) this.waiters = []
      this.waiters.push(waiter)
      return Effect.sync(() => {
        const index = this.waiters?.indexOf(waiter) ?? -1
        if (index >= 0) this.waiters!.splice(index, 1)
      })
    })
  }

  private unlock(): void {
    this.locked = false
    const waiters = this.waiters
    if (waiters === undefined) return
    this.waiters = undefined
    for (const waiter of waiters) waiter()
  }

  /** The one closure a state holds at rest (the `withLock` of Effect's `SynchronizedImpl`). */
  readonly withLock: WithLock = (self) =>
    Effect.uninterruptibleMask((restore) => {
      const acquire: Effect.Effect<void> = Effect.suspend(() => {
        if (!this.locked) {
          this.locked = true
          return Effect.void
        }
        return Effect.zipRight(restore(this.unlocked()), acquire)
      })
      return Effect.zipRight(
        acquire,
        Effect.ensuring(
          restore(self),
          Effect.sync(() => this.unlock())
        )
      )
    })
}

/** A `SynchronizedRef` holding `value`, locked by a {@link Mutex}. @internal */
export const make = <A>(value: A): SynchronizedRef.SynchronizedRef<A> =>
  new SynchronizedImpl(Ref.unsafeMake(value), new Mutex().withLock)

/**
 * The value a state made by {@link make} holds, read at once (no fiber: `Effect.runSync` of its `get` starts one).
 * Any other `SynchronizedRef` is read with `Effect.runSync`.
 *
 * @internal
 */
export const unsafeGet = <A>(self: SynchronizedRef.SynchronizedRef<A>): A => {
  const mutable = (self as { readonly ref?: { readonly ref?: { readonly current?: A } } }).ref?.ref
  return mutable !== undefined && "current" in mutable
    ? (mutable.current as A)
    : Effect.runSync(SynchronizedRef.get(self))
}
