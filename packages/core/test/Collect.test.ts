import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Ref, Schema } from "effect"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"

const A = Event.define("A", { n: Schema.Number })
const B = Event.define("B", { n: Schema.Number })
const C = Event.define("C", { n: Schema.Number })
const Noise = Event.define("Noise", { n: Schema.Number })
const Result = Event.define("Result", { n: Schema.Number })

type Outcome = ReadonlyArray<Event.AnyEvent> | null

/** What each `ctx.collect` call returned, in call order (`null` for `None`). */
const makeLog = Ref.make<Array<Outcome>>([])

const record = (log: Ref.Ref<Array<Outcome>>, outcome: Option.Option<ReadonlyArray<Event.AnyEvent>>) =>
  Ref.updateAndGet(log, (xs) => [...xs, Option.getOrNull(outcome)])

describe("Collect", () => {
  it.effect("returns the events ordered as `expected`, not in arrival order", () =>
    Effect.gen(function* () {
      const log = yield* makeLog
      const wf = defineWorkflow({ name: "collect-order", output: Schema.Array(Schema.String) })
        .step(StartEvent, () => Effect.succeed([C.make({ n: 3 }), A.make({ n: 1 }), B.make({ n: 2 })]), {
          emits: [A, B, C]
        })
        .step(
          [A, B, C],
          (ev, ctx) =>
            Effect.gen(function* () {
              const all = yield* ctx.collect(ev, [A, B, C])
              yield* record(log, all)
              return Option.isSome(all) ? StopEvent.make({ result: all.value.map((e) => e._tag) }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), ["A", "B", "C"])
      assert.deepStrictEqual(yield* Ref.get(log), [null, null, [A.make({ n: 1 }), B.make({ n: 2 }), C.make({ n: 3 })]])
    })
  )

  it.effect("entries of the same type are filled in arrival order", () =>
    Effect.gen(function* () {
      const log = yield* makeLog
      const wf = defineWorkflow({ name: "collect-same-type", output: Schema.Unknown })
        .step(StartEvent, () => Effect.succeed([A.make({ n: 1 }), A.make({ n: 2 }), B.make({ n: 3 })]), {
          emits: [A, B]
        })
        .step(
          [A, B],
          (ev, ctx) =>
            Effect.gen(function* () {
              const all = yield* ctx.collect(ev, [A, B, A])
              yield* record(log, all)
              return Option.isSome(all) ? StopEvent.make({ result: all.value }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [A.make({ n: 1 }), B.make({ n: 3 }), A.make({ n: 2 })])
      assert.deepStrictEqual(yield* Ref.get(log), [null, null, [A.make({ n: 1 }), B.make({ n: 3 }), A.make({ n: 2 })]])
    })
  )

  it.effect("events of types not in `expected` are ignored", () =>
    Effect.gen(function* () {
      const log = yield* makeLog
      const wf = defineWorkflow({ name: "collect-ignore", output: Schema.Unknown })
        .step(
          StartEvent,
          () => Effect.succeed([Noise.make({ n: 0 }), A.make({ n: 1 }), Noise.make({ n: 2 }), B.make({ n: 3 })]),
          { emits: [A, B, Noise] }
        )
        .step(
          [A, B, Noise],
          (ev, ctx) =>
            Effect.gen(function* () {
              const all = yield* ctx.collect(ev, [A, B])
              yield* record(log, all)
              return Option.isSome(all) ? StopEvent.make({ result: all.value }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [A.make({ n: 1 }), B.make({ n: 3 })])
      assert.deepStrictEqual(yield* Ref.get(log), [null, null, null, [A.make({ n: 1 }), B.make({ n: 3 })]])
    })
  )

  it.effect("ignored events are not buffered: a stalled join names only what it collected", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "collect-ignore-stall", output: Schema.Unknown })
        .step(StartEvent, () => Effect.succeed([Noise.make({ n: 0 }), A.make({ n: 1 })]), { emits: [A, B, Noise] })
        .step([A, B, Noise], (ev, ctx) => Effect.as(ctx.collect(ev, [A, B]), undefined), {
          emits: [StopEvent],
          workers: 1,
          name: "join"
        })
      const error = yield* Effect.flip(Workflow.run(wf))
      assert.strictEqual(error._tag, "WorkflowStalledError")
      if (error._tag !== "WorkflowStalledError") return
      assert.strictEqual(error.waitingFor.length, 1)
      assert.include(error.waitingFor[0], `"join"`)
      assert.match(error.waitingFor[0], /collected A\b/)
      assert.notInclude(error.waitingFor[0], "Noise")
    })
  )

  it.effect("`expected = []` returns Some([]) at once", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "collect-empty", output: Schema.Unknown })
        .step(StartEvent, () => Effect.succeed(A.make({ n: 1 })), { emits: [A] })
        .step(A, (a, ctx) => Effect.map(ctx.collect(a, []), (result) => StopEvent.make({ result })), {
          emits: [StopEvent]
        })
      const result = yield* Workflow.run(wf)
      assert.isTrue(Option.isOption(result))
      assert.deepStrictEqual(Option.getOrNull(result as Option.Option<unknown>), [])
    })
  )

  it.effect("count form: ctx.collect(ev, Result, n) returns Some of n Results once n have arrived", () =>
    Effect.gen(function* () {
      const log = yield* makeLog
      const wf = defineWorkflow({ name: "collect-count", output: Schema.Array(Schema.Number) })
        .step(StartEvent, () => Effect.succeed([5, 6, 7].map((n) => Result.make({ n }))), { emits: [Result] })
        .step(
          Result,
          (r, ctx) =>
            Effect.gen(function* () {
              const all = yield* ctx.collect(r, Result, 3)
              yield* record(log, all)
              return Option.isSome(all) ? StopEvent.make({ result: all.value.map((x) => x.n) }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [5, 6, 7])
      assert.deepStrictEqual(yield* Ref.get(log), [null, null, [5, 6, 7].map((n) => Result.make({ n }))])
    })
  )

  it.effect("the buffer is cleared after a Some: a second round collects only new events", () =>
    Effect.gen(function* () {
      const log = yield* makeLog
      const wf = defineWorkflow({ name: "collect-rounds", output: Schema.Unknown })
        .step(
          StartEvent,
          () => Effect.succeed([A.make({ n: 1 }), B.make({ n: 2 }), A.make({ n: 3 }), B.make({ n: 4 })]),
          { emits: [A, B] }
        )
        .step(
          [A, B],
          (ev, ctx) =>
            Effect.gen(function* () {
              const all = yield* ctx.collect(ev, [A, B])
              const outcomes = yield* record(log, all)
              return outcomes.length === 4 ? StopEvent.make({ result: outcomes }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [
        null,
        [A.make({ n: 1 }), B.make({ n: 2 })],
        null,
        [A.make({ n: 3 }), B.make({ n: 4 })]
      ])
    })
  )

  it.effect("count form: the buffer is cleared after a Some: a second round collects only new events", () =>
    Effect.gen(function* () {
      const log = yield* makeLog
      const wf = defineWorkflow({ name: "collect-count-rounds", output: Schema.Unknown })
        .step(StartEvent, () => Effect.succeed([1, 2, 3, 4].map((n) => Result.make({ n }))), { emits: [Result] })
        .step(
          Result,
          (r, ctx) =>
            Effect.gen(function* () {
              const all = yield* ctx.collect(r, Result, 2)
              const outcomes = yield* record(log, all)
              return outcomes.length === 4 ? StopEvent.make({ result: outcomes }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [
        null,
        [Result.make({ n: 1 }), Result.make({ n: 2 })],
        null,
        [Result.make({ n: 3 }), Result.make({ n: 4 })]
      ])
    })
  )

  it.effect("each step has its own buffer", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "collect-per-step", output: Schema.Unknown })
        .step(StartEvent, () => Effect.succeed(A.make({ n: 1 })), { emits: [A] })
        .step(A, (a, ctx) => Effect.as(ctx.collect(a, [A, B]), B.make({ n: 2 })), { emits: [B], name: "left" })
        // "left" buffered an A; "right" never received one, so its [A, B] is not complete.
        .step(B, (b, ctx) => Effect.map(ctx.collect(b, [A, B]), (result) => StopEvent.make({ result })), {
          emits: [StopEvent],
          name: "right"
        })
      const result = yield* Workflow.run(wf)
      assert.isTrue(Option.isOption(result) && Option.isNone(result))
    })
  )
})
