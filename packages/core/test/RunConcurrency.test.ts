/**
 * `handle.runningSteps` and the workflow's `concurrency` option (runs active at once per process, FIFO queue).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Option, Schema, Scope } from "effect"
import { defineWorkflow, Event, RunStore, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { statusIs, waitUntil } from "./utils.js"

const Item = Event.define("Item", { i: Schema.Number })
const Answer = Event.define("Answer", {})

describe("handle.runningSteps", () => {
  it.scoped("names and counts the invocations executing now; waiting ones are not running", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const wf = defineWorkflow({ name: "running-steps", external: [Answer] })
        .step(StartEvent, () => Effect.succeed([0, 1, 2].map((i) => Item.make({ i }))), { emits: [Item] })
        .step(Item, () => Effect.as(Deferred.await(gate), undefined), { name: "work", workers: 2 })
        .step(StartEvent, (_, ctx) => Effect.as(ctx.waitFor(Answer), undefined), { name: "asks" })
      const handle = yield* Workflow.start(wf)
      yield* waitUntil(
        Effect.map(handle.runningSteps, (r) => r.work === 2),
        "two work invocations running"
      )
      assert.deepStrictEqual(yield* handle.runningSteps, { work: 2 }, "the third Item is queued; asks waits")
      yield* Deferred.succeed(gate, undefined)
      yield* statusIs(handle, "waiting")
      assert.deepStrictEqual(yield* handle.runningSteps, {})
    })
  )
})

describe("concurrency", () => {
  /** A workflow whose run `i` records that it started, then holds until its gate opens. */
  const make = (cap: number | undefined) =>
    Effect.gen(function* () {
      const gates = yield* Effect.forEach([0, 1, 2, 3, 4], () => Deferred.make<void>())
      const started: Array<number> = []
      const wf = defineWorkflow({ name: "capped", input: Schema.Number, output: Schema.Number, concurrency: cap }).step(
        StartEvent,
        (start) =>
          Effect.gen(function* () {
            started.push(start.input)
            yield* Deferred.await(gates[start.input])
            return StopEvent.make({ result: start.input })
          }),
        { emits: [StopEvent] }
      )
      return { wf, gates, started }
    })

  it.scoped("at most `concurrency` runs are active at once; queued runs start in order (FIFO)", () =>
    Effect.gen(function* () {
      const { wf, gates, started } = yield* make(2)
      const handles = yield* Effect.forEach([0, 1, 2, 3, 4], (i) => Workflow.start(wf, i))
      const startedAre = (expected: ReadonlyArray<number>) =>
        Effect.gen(function* () {
          yield* waitUntil(
            Effect.sync(() => started.length >= expected.length),
            `runs ${expected.join(", ")} started`
          )
          yield* Effect.replicateEffect(Effect.yieldNow(), 50, { discard: true })
          assert.deepStrictEqual(started, expected)
        })
      yield* startedAre([0, 1])
      // Run 1 ends first: the oldest queued run (2) takes its slot, not a later one.
      yield* Deferred.succeed(gates[1], undefined)
      assert.strictEqual(yield* handles[1].result, 1)
      yield* startedAre([0, 1, 2])
      yield* Deferred.succeed(gates[0], undefined)
      yield* startedAre([0, 1, 2, 3])
      // A queued run that is cancelled leaves the queue: it never starts, and the next one gets the slot.
      yield* handles[4].cancel
      yield* Deferred.succeed(gates[2], undefined)
      yield* Deferred.succeed(gates[3], undefined)
      assert.deepStrictEqual(yield* Effect.all([handles[2].result, handles[3].result]), [2, 3])
      yield* Effect.replicateEffect(Effect.yieldNow(), 50, { discard: true })
      assert.deepStrictEqual(started, [0, 1, 2, 3])
      assert.strictEqual(yield* handles[4].status, "cancelled")
    })
  )

  it.scoped("without the option every run starts at once", () =>
    Effect.gen(function* () {
      const { wf, started } = yield* make(undefined)
      yield* Effect.forEach([0, 1, 2, 3, 4], (i) => Workflow.start(wf, i))
      yield* waitUntil(
        Effect.sync(() => started.length === 5),
        "all five runs started"
      )
      assert.deepStrictEqual(started, [0, 1, 2, 3, 4])
    })
  )

  it.effect("a queued durable run is saved at once: a process that dies while it waits loses nothing", () =>
    Effect.gen(function* () {
      const { wf, gates, started } = yield* make(1)
      const store = yield* RunStore.RunStore
      const scope = yield* Scope.make()
      const first = yield* Workflow.start(wf, 0, { durable: true }).pipe(Scope.extend(scope))
      const queued = yield* Workflow.start(wf, 1, { durable: true }).pipe(Scope.extend(scope))
      yield* waitUntil(
        Effect.sync(() => started.length === 1),
        "the first run started"
      )
      // Acknowledged (start returned) but waiting for a slot: it must already be in the store, with its StartEvent's
      // invocation in flight, and its step must not have started.
      const saved = yield* store.load(queued.runId)
      assert.isTrue(Option.isSome(saved), "the queued run is in the store")
      if (Option.isSome(saved)) assert.strictEqual(saved.value.inFlight.length, 1)
      assert.deepStrictEqual(started, [0])
      assert.strictEqual(yield* first.status, "running")
      // The process goes away (its scope closes: durable runs detach); a new one resumes the queued run.
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.succeed(gates[1], undefined)
      const result = yield* Effect.scoped(Effect.flatMap(Workflow.resume(wf, queued.runId), (h) => h.result))
      assert.strictEqual(result, 1)
      assert.deepStrictEqual(started, [0, 1])
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("Workflow.run waits for its turn", () =>
    Effect.gen(function* () {
      const { wf, gates, started } = yield* make(1)
      const fibers = yield* Effect.forEach([0, 1, 2], (i) => Effect.fork(Workflow.run(wf, i)))
      yield* waitUntil(
        Effect.sync(() => started.length === 1),
        "the first run started"
      )
      for (const i of [0, 1, 2]) yield* Deferred.succeed(gates[i], undefined)
      assert.deepStrictEqual(yield* Effect.forEach(fibers, (f) => Effect.flatten(f.await)), [0, 1, 2])
      assert.deepStrictEqual(started, [0, 1, 2])
    })
  )

  it.effect("an invalid concurrency is a validation problem", () =>
    Effect.gen(function* () {
      const { wf } = yield* make(0)
      const error = yield* Effect.flip(Workflow.validate(wf))
      assert.isTrue(error.issues.some((i) => i.includes('"concurrency" must be an integer >= 1')))
    })
  )
})
