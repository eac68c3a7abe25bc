import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Ref, Schema } from "effect"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"

const Item = Event.define("Item", { i: Schema.Number })

/** Lets every other fiber run until `done` holds (bounded, so a broken engine fails an assertion, never hangs). */
const yieldUntil = (done: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !(yield* done); i++) yield* Effect.yieldNow()
  })

/** More turns for every other fiber, to show that nothing else happens. */
const settle = Effect.replicateEffect(Effect.yieldNow(), 100, { discard: true })

/**
 * A workflow that fans out `count` `Item`s to one step with the given `workers` option. Each invocation records
 * that it started, counts itself as active (tracking the maximum), and holds until its latch is released.
 */
const makeProbe = (count: number, workers: number | undefined) =>
  Effect.gen(function* () {
    const active = yield* Ref.make(0)
    const max = yield* Ref.make(0)
    const started = yield* Ref.make<Array<number>>([])
    const latches = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      () => Deferred.make<void>()
    )
    const wf = defineWorkflow({ name: "probe", output: Schema.Array(Schema.Number) })
      .step(StartEvent, () => Effect.succeed(Array.from({ length: count }, (_, i) => Item.make({ i }))), {
        emits: [Item]
      })
      .step(
        Item,
        (item, ctx) =>
          Effect.gen(function* () {
            const now = yield* Ref.updateAndGet(active, (n) => n + 1)
            yield* Ref.update(max, (m) => Math.max(m, now))
            yield* Ref.update(started, (xs) => [...xs, item.i])
            yield* Deferred.await(latches[item.i])
            yield* Ref.update(active, (n) => n - 1)
            const all = yield* ctx.collect(item, Item, count)
            return all._tag === "Some" ? StopEvent.make({ result: all.value.map((x) => x.i) }) : undefined
          }),
        workers === undefined ? { emits: [StopEvent] } : { emits: [StopEvent], workers }
      )
    const release = (i: number) => Deferred.succeed(latches[i], undefined)
    const releaseAll = Effect.forEach(latches, (latch) => Deferred.succeed(latch, undefined), { discard: true })
    const startedCount = Effect.map(Ref.get(started), (xs) => xs.length)
    /** The invocations that got a slot at once, then the queued ones: each group must start in dispatch order. */
    const startOrder = (cap: number) =>
      Effect.map(Ref.get(started), (xs) => ({
        first: xs.slice(0, cap),
        queued: xs.slice(cap)
      }))
    return { wf, active, max, started, startedCount, startOrder, release, releaseAll }
  })

describe("Concurrency", () => {
  it.scoped("workers caps the concurrent invocations of a step exactly", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe(10, 3)
      const handle = yield* Workflow.start(probe.wf)
      yield* yieldUntil(Effect.map(probe.startedCount, (n) => n >= 3))
      yield* settle
      assert.strictEqual(yield* probe.startedCount, 3)
      assert.strictEqual(yield* Ref.get(probe.active), 3)
      yield* probe.releaseAll
      const result = yield* handle.result
      assert.strictEqual(result.length, 10)
      assert.strictEqual(yield* Ref.get(probe.max), 3)
      assert.deepStrictEqual(yield* probe.startOrder(3), { first: [0, 1, 2], queued: [3, 4, 5, 6, 7, 8, 9] })
    })
  )

  it.scoped("events beyond the cap start in arrival order (FIFO), whichever invocation frees a slot", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe(6, 2)
      const handle = yield* Workflow.start(probe.wf)
      const expectStarted = (queued: ReadonlyArray<number>) =>
        Effect.gen(function* () {
          yield* yieldUntil(Effect.map(probe.startedCount, (n) => n >= 2 + queued.length))
          yield* settle
          assert.deepStrictEqual(yield* probe.startOrder(2), { first: [0, 1], queued })
          assert.strictEqual(yield* Ref.get(probe.active), 2)
        })
      yield* expectStarted([])
      yield* probe.release(1)
      yield* expectStarted([2])
      yield* probe.release(0)
      yield* expectStarted([2, 3])
      yield* probe.release(3)
      yield* expectStarted([2, 3, 4])
      yield* probe.release(2)
      yield* expectStarted([2, 3, 4, 5])
      yield* probe.release(5)
      yield* yieldUntil(Effect.map(Ref.get(probe.active), (n) => n === 1))
      yield* probe.release(4)
      // collect returns the Items in the order the invocations finished
      assert.deepStrictEqual(yield* handle.result, [1, 0, 3, 2, 5, 4])
      assert.strictEqual(yield* Ref.get(probe.max), 2)
    })
  )

  it.effect("workers: 1 runs the invocations one at a time, in dispatch order", () =>
    Effect.gen(function* () {
      const active = yield* Ref.make(0)
      const max = yield* Ref.make(0)
      const wf = defineWorkflow({ name: "serial", output: Schema.Array(Schema.Number) })
        .step(StartEvent, () => Effect.succeed([0, 1, 2, 3, 4, 5].map((i) => Item.make({ i }))), { emits: [Item] })
        .step(
          Item,
          (item, ctx) =>
            Effect.gen(function* () {
              const now = yield* Ref.updateAndGet(active, (n) => n + 1)
              yield* Ref.update(max, (m) => Math.max(m, now))
              // Earlier items wait longer: run concurrently, later items would overtake them.
              yield* Effect.replicateEffect(Effect.yieldNow(), 2 * (6 - item.i), { discard: true })
              yield* Ref.update(active, (n) => n - 1)
              const all = yield* ctx.collect(item, Item, 6)
              return all._tag === "Some" ? StopEvent.make({ result: all.value.map((x) => x.i) }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [0, 1, 2, 3, 4, 5])
      assert.strictEqual(yield* Ref.get(max), 1)
    })
  )

  it.scoped("the default is 4 workers per step", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe(10, undefined)
      assert.strictEqual(probe.wf.steps[1].workers, 4)
      const handle = yield* Workflow.start(probe.wf)
      yield* yieldUntil(Effect.map(probe.startedCount, (n) => n >= 4))
      yield* settle
      assert.deepStrictEqual(yield* probe.startOrder(4), { first: [0, 1, 2, 3], queued: [] })
      yield* probe.releaseAll
      assert.strictEqual((yield* handle.result).length, 10)
      assert.strictEqual(yield* Ref.get(probe.max), 4)
    })
  )

  it.scoped("workers: Infinity starts every invocation at once", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe(50, Infinity)
      const handle = yield* Workflow.start(probe.wf)
      yield* yieldUntil(Effect.map(probe.startedCount, (n) => n >= 50))
      assert.strictEqual(yield* probe.startedCount, 50)
      assert.strictEqual(yield* Ref.get(probe.active), 50)
      yield* probe.releaseAll
      assert.strictEqual((yield* handle.result).length, 50)
      assert.strictEqual(yield* Ref.get(probe.max), 50)
    })
  )
})
