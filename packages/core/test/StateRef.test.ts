/**
 * The run's state ref (`ctx.state`): Effect's own `SynchronizedRef` class with a light lock (internal/stateRef.ts).
 * Its lock must exclude like the semaphore it replaces, and an interrupted waiter must neither take nor lose it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref, SynchronizedRef } from "effect"
import { make, unsafeGet } from "../src/internal/stateRef.js"

/** Lets every other fiber run until `done` holds (bounded). */
const yieldUntil = (done: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !done(); i++) yield* Effect.yieldNow()
  })

describe("the run's state ref", () => {
  it.effect("is a SynchronizedRef: Ref and SynchronizedRef functions and `yield*` read and update it", () =>
    Effect.gen(function* () {
      const ref = make({ n: 1 })
      assert.isTrue(SynchronizedRef.SynchronizedRefTypeId in ref)
      yield* Ref.update(ref, (s) => ({ n: s.n + 1 }))
      assert.deepStrictEqual(yield* Ref.get(ref), { n: 2 })
      yield* SynchronizedRef.updateEffect(ref, (s) => Effect.succeed({ n: s.n * 10 }))
      assert.deepStrictEqual(yield* ref, { n: 20 })
      assert.strictEqual(yield* SynchronizedRef.modify(ref, (s) => [s.n, { n: 0 }] as const), 20)
      assert.deepStrictEqual(yield* ref.get, { n: 0 })
    })
  )

  it.effect("effectful updates are mutually exclusive: each sees the value the previous one set", () =>
    Effect.gen(function* () {
      const ref = make(0)
      let inside = 0
      let most = 0
      const increment = SynchronizedRef.updateEffect(ref, (n) =>
        Effect.gen(function* () {
          most = Math.max(most, ++inside)
          yield* Effect.yieldNow()
          yield* Effect.yieldNow()
          inside--
          return n + 1
        })
      )
      yield* Effect.all(
        Array.from({ length: 50 }, () => increment),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(yield* Ref.get(ref), 50)
      assert.strictEqual(most, 1)
    })
  )

  it.effect("a waiter interrupted while the lock is held takes nothing; the next one gets the lock", () =>
    Effect.gen(function* () {
      const ref = make("a")
      const hold = yield* Deferred.make<void>()
      let holding = false
      const holder = yield* Effect.fork(
        SynchronizedRef.updateEffect(ref, () =>
          Effect.zipRight(
            Effect.sync(() => {
              holding = true
            }),
            Effect.as(Deferred.await(hold), "held")
          )
        )
      )
      yield* yieldUntil(() => holding)
      const interrupted = yield* Effect.fork(SynchronizedRef.updateEffect(ref, () => Effect.succeed("never")))
      const next = yield* Effect.fork(SynchronizedRef.updateEffect(ref, (s) => Effect.succeed(`${s}+next`)))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(interrupted)
      yield* Deferred.succeed(hold, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(next)
      assert.strictEqual(yield* Ref.get(ref), "held+next")
    })
  )

  it.effect("an update that fails or is interrupted releases the lock", () =>
    Effect.gen(function* () {
      const ref = make(1)
      const failed = yield* Effect.either(SynchronizedRef.updateEffect(ref, () => Effect.fail("no")))
      assert.isTrue(failed._tag === "Left")
      const stuck = yield* Effect.fork(SynchronizedRef.updateEffect(ref, () => Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(stuck)
      yield* SynchronizedRef.updateEffect(ref, (n) => Effect.succeed(n + 1))
      assert.strictEqual(yield* Ref.get(ref), 2)
    })
  )

  it.effect(
    "unsafeGet reads the value it holds now, after updates; another SynchronizedRef is read through Effect",
    () =>
      Effect.gen(function* () {
        const ref = make({ n: 1 })
        assert.deepStrictEqual(unsafeGet(ref), { n: 1 })
        yield* Ref.update(ref, (s) => ({ n: s.n + 1 }))
        yield* SynchronizedRef.updateEffect(ref, (s) => Effect.succeed({ n: s.n * 10 }))
        assert.deepStrictEqual(unsafeGet(ref), { n: 20 })
        const other = yield* SynchronizedRef.make("x")
        assert.strictEqual(unsafeGet(other), "x")
      })
  )
})
