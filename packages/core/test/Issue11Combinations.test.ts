/**
 * Issue 11 where its parts meet: the run options and accessors of the run loop (`maxRecoveries`, `concurrency`,
 * `runningSteps`, `ctx.retry`, the state round-trip, `HandleRequiredError`) used through the typed overloads and the
 * pipe forms, durable ones included. Type assertions are checked by `tsc -b`; the run-time ones by vitest.
 */
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Cause, Data, Deferred, Effect, Exit, Option, Schedule, Schema, Stream, TestClock } from "effect"
import {
  defineWorkflow,
  Event,
  HandleRequiredError,
  InputRequired,
  RecoveryBudgetError,
  RunStore,
  StartEvent,
  StateNotSerializableError,
  StepFailed,
  StopEvent,
  Workflow
} from "@eventflow/core"
import type { RunHandle, RunStoreError } from "@eventflow/core"
import { statusIs, waitUntil } from "./utils.js"

/** `true` when `X` is one of the members of `U` (and `U` is not `any`). */
type Has<U, X> = 0 extends 1 & U ? false : [X] extends [U] ? true : false

const Work = Event.define("Work", { n: Schema.Number })
class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {}

/** The recovery loop of issue 11: a StepFailed handler routes the work back to the step that keeps failing. */
const recoveryLoop = (name: string, counter: { handled: number }) =>
  defineWorkflow({ name, output: Schema.String, maxRecoveries: 50 })
    .step(StartEvent, () => Effect.succeed(Work.make({ n: 0 })), { emits: [Work] })
    .step(Work, (work) => Effect.fail(new Boom({ n: work.n })), { name: "fails", emits: [StopEvent] })
    .step(
      StepFailed,
      (failed) =>
        Effect.sync(() => {
          counter.handled++
          return Work.make({ n: (failed.event as Event.AnyEvent & { n: number }).n + 1 })
        }),
      { name: "retry-it", emits: [Work] }
    )

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("maxRecoveries through the overloads and pipe forms", () => {
  it.effect("wf.pipe(Workflow.run(input, { maxRecoveries: 3 })) type-checks and ends the loop after 3 recoveries", () =>
    Effect.gen(function* () {
      const counter = { handled: 0 }
      const wf = recoveryLoop("pipe-max-recoveries", counter)
      const program = wf.pipe(Workflow.run(undefined, { maxRecoveries: 3 }))
      expectTypeOf<Has<Effect.Effect.Error<typeof program>, RecoveryBudgetError>>().toEqualTypeOf<true>()
      expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<never>()
      const error = yield* Effect.flip(program)
      assert.instanceOf(error, RecoveryBudgetError)
      assert.strictEqual((error as RecoveryBudgetError).maxRecoveries, 3, "the run option, not the workflow's 50")
      assert.strictEqual((error as RecoveryBudgetError).step, "fails")
      assert.strictEqual(counter.handled, 3)
    })
  )

  it.effect(
    "a durable run with maxRecoveries (direct and pipe) needs a RunStore, may fail with RunStoreError, and honours it",
    () =>
      Effect.gen(function* () {
        const counter = { handled: 0 }
        const wf = recoveryLoop("durable-max-recoveries", counter)
        const direct = Workflow.run(wf, undefined, { durable: true, maxRecoveries: 2 })
        const piped = wf.pipe(Workflow.run(undefined, { durable: true, maxRecoveries: 2 }))
        expectTypeOf(piped).toEqualTypeOf(direct)
        expectTypeOf<Effect.Effect.Context<typeof direct>>().toEqualTypeOf<RunStore.RunStore>()
        expectTypeOf<Has<Effect.Effect.Error<typeof direct>, RunStoreError>>().toEqualTypeOf<true>()
        expectTypeOf<Has<Effect.Effect.Error<typeof direct>, RecoveryBudgetError>>().toEqualTypeOf<true>()
        for (const program of [direct, piped]) {
          counter.handled = 0
          const error = yield* Effect.flip(program)
          assert.instanceOf(error, RecoveryBudgetError)
          assert.strictEqual((error as RecoveryBudgetError).maxRecoveries, 2)
          assert.strictEqual(counter.handled, 2)
        }
      }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("an invalid per-run maxRecoveries (NaN, -1) is a validation error, not an endless loop", () =>
    Effect.gen(function* () {
      const wf = recoveryLoop("bad-run-max-recoveries", { handled: 0 })
      for (const maxRecoveries of [Number.NaN, -1, 1.5]) {
        const error = yield* Effect.flip(Workflow.run(wf, undefined, { maxRecoveries }))
        assert.strictEqual(error._tag, "WorkflowValidationError", `maxRecoveries ${maxRecoveries}`)
        assert.include(error.message, "maxRecoveries")
      }
    })
  )
})

describe("concurrency with durable runs and the pipe forms", () => {
  const make = (name: string) =>
    Effect.gen(function* () {
      const gates = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
      const started: Array<number> = []
      const wf = defineWorkflow({ name, input: Schema.Number, output: Schema.Number, concurrency: 1 }).step(
        StartEvent,
        (start) =>
          Effect.gen(function* () {
            started.push(start.input)
            yield* Deferred.await(gates[start.input])
            return StopEvent.make({ result: start.input * 10 })
          }),
        { emits: [StopEvent] }
      )
      return { wf, gates, started }
    })

  it.scoped(
    "durable runs queued by concurrency (start, pipe start, run) type-check, start in order and are saved",
    () =>
      Effect.gen(function* () {
        const { wf, gates, started } = yield* make("durable-capped")
        const store = yield* RunStore.RunStore
        const first = yield* Workflow.start(wf, 0, { durable: true })
        const second = yield* wf.pipe(Workflow.start(1, { durable: true }))
        expectTypeOf(first).toEqualTypeOf<RunHandle<typeof wf, RunStoreError>>()
        expectTypeOf(second).toEqualTypeOf<RunHandle<typeof wf, RunStoreError>>()
        const third = yield* Effect.fork(Workflow.run(wf, 2, { durable: true }))
        yield* waitUntil(
          Effect.sync(() => started.length === 1),
          "run 0 started"
        )
        assert.deepStrictEqual(yield* first.runningSteps, { StartEvent: 1 })
        assert.deepStrictEqual(yield* second.runningSteps, {}, "queued: nothing runs yet")
        assert.deepStrictEqual(started, [0])
        yield* Deferred.succeed(gates[0], undefined)
        assert.strictEqual(yield* first.result, 0)
        yield* waitUntil(
          Effect.sync(() => started.length === 2),
          "run 1 started"
        )
        assert.deepStrictEqual(started, [0, 1])
        yield* Deferred.succeed(gates[1], undefined)
        assert.strictEqual(yield* second.result, 10)
        yield* Deferred.succeed(gates[2], undefined)
        assert.strictEqual(yield* Effect.flatten(third.await), 20)
        assert.deepStrictEqual(started, [0, 1, 2])
        const saved = yield* store.load(second.runId)
        assert.isTrue(Option.isSome(saved))
        assert.strictEqual(Option.getOrThrow(saved).status, "completed")
      }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("a queued durable run whose state cannot round-trip fails with the typed error and frees its slot", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const wf = defineWorkflow({
        name: "capped-bad-state",
        input: Schema.Boolean,
        output: Schema.String,
        concurrency: 1,
        state: Schema.Struct({ at: Schema.Unknown }),
        initialState: { at: 0 as unknown }
      }).step(
        StartEvent,
        (start) => Effect.as(Deferred.await(gate), StopEvent.make({ result: start.input ? "held" : "quick" })),
        { emits: [StopEvent] }
      )
      const holder = yield* Workflow.start(wf, true)
      const bad = yield* wf.pipe(Workflow.start(false, { durable: true, state: { at: () => 1 } }))
      expectTypeOf<Has<Effect.Effect.Error<typeof bad.result>, StateNotSerializableError>>().toEqualTypeOf<true>()
      const after = yield* Workflow.start(wf, false)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* holder.result, "held")
      const error = failureOf(yield* Effect.exit(bad.result))
      assert.instanceOf(error, StateNotSerializableError)
      assert.deepStrictEqual((error as StateNotSerializableError).path, ["at"])
      assert.strictEqual(yield* after.result, "quick", "the failed run's slot went to the next run")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )
})

describe("the state round-trip through the durable overloads", () => {
  const dated = (name: string) =>
    defineWorkflow({
      name,
      output: Schema.Number,
      state: Schema.Struct({ at: Schema.DateFromSelf }),
      initialState: { at: new Date(0) }
    }).step(StartEvent, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })

  it.scoped(
    "durable run / pipe start / stream of a DateFromSelf state fail with StateNotSerializableError, typed",
    () =>
      Effect.gen(function* () {
        const wf = dated("dated-overloads")
        const run = Workflow.run(wf, undefined, { durable: true })
        const piped = wf.pipe(Workflow.run(undefined, { durable: true }))
        expectTypeOf<Has<Effect.Effect.Error<typeof run>, StateNotSerializableError>>().toEqualTypeOf<true>()
        expectTypeOf<Has<Effect.Effect.Error<typeof piped>, StateNotSerializableError>>().toEqualTypeOf<true>()
        assert.instanceOf(yield* Effect.flip(run), StateNotSerializableError)
        assert.instanceOf(yield* Effect.flip(piped), StateNotSerializableError)
        const handle = yield* wf.pipe(Workflow.start(undefined, { durable: true }))
        assert.instanceOf(failureOf(yield* Effect.exit(handle.result)), StateNotSerializableError)
        const streamed = yield* Effect.flip(Stream.runDrain(wf.pipe(Workflow.stream(undefined, { durable: true }))))
        assert.instanceOf(streamed, StateNotSerializableError)
        // Not durable: nothing is snapshotted, so the same workflow runs.
        assert.strictEqual(yield* wf.pipe(Workflow.run()), 1)
      }).pipe(Effect.provide(RunStore.layerMemory))
  )
})

describe("HandleRequiredError through the pipe form and the concurrency queue", () => {
  const Approval = Event.define("Approval", { ok: Schema.Boolean })

  it.effect("wf.pipe(Workflow.run()) of a workflow that waits for a person fails at once, typed", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "pipe-needs-approval", output: Schema.String, external: [Approval] }).step(
        StartEvent,
        (_, ctx) => Effect.as(ctx.waitFor(Approval), StopEvent.make({ result: "answered" })),
        { emits: [StopEvent] }
      )
      const program = wf.pipe(Workflow.run())
      expectTypeOf<Has<Effect.Effect.Error<typeof program>, HandleRequiredError>>().toEqualTypeOf<true>()
      assert.instanceOf(yield* Effect.flip(program), HandleRequiredError)
    })
  )

  it.scoped(
    "a queued Workflow.run that then waits for a person fails with HandleRequiredError and frees its slot",
    () =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const wf = defineWorkflow({
          name: "capped-approval",
          input: Schema.String,
          output: Schema.String,
          external: [Approval],
          concurrency: 1
        }).step(
          StartEvent,
          (start, ctx) =>
            Effect.gen(function* () {
              if (start.input === "hold") yield* Deferred.await(gate)
              if (start.input === "ask") yield* ctx.waitFor(Approval)
              return StopEvent.make({ result: start.input })
            }),
          { emits: [StopEvent] }
        )
        const holder = yield* Workflow.start(wf, "hold")
        const asking = yield* Effect.fork(Workflow.run(wf, "ask"))
        const after = yield* Effect.fork(Workflow.run(wf, "plain"))
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* holder.result, "hold")
        assert.instanceOf(failureOf(yield* asking.await), HandleRequiredError)
        assert.strictEqual(yield* Effect.flatten(after.await), "plain")
      })
  )
})

describe("ctx.waitFor under the user's own Effect.timeout (auto-approve after 5 minutes)", () => {
  const Approval = Event.define("Approval", { ok: Schema.Boolean })
  const autoApprove = defineWorkflow({ name: "auto-approve", output: Schema.String, external: [Approval] }).step(
    StartEvent,
    (_, ctx) =>
      Effect.gen(function* () {
        const answer = yield* Effect.timeout(
          ctx.waitFor(Approval, { prompt: InputRequired.make({ prompt: "approve?" }) }),
          "5 minutes"
        )
        return StopEvent.make({ result: answer.ok ? "approved" : "rejected" })
      }).pipe(Effect.catchTag("TimeoutException", () => Effect.succeed(StopEvent.make({ result: "auto-approved" })))),
    { emits: [StopEvent] }
  )

  it.scoped("Workflow.start waits and auto-approves after 5 minutes", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(autoApprove)
      yield* statusIs(handle, "waiting")
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual(yield* handle.result, "auto-approved")
    })
  )

  it.effect("Workflow.run fails at once, and its message points to ctx.waitFor's own timeout option", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Workflow.run(autoApprove))
      assert.instanceOf(error, HandleRequiredError)
      assert.include((error as HandleRequiredError).message, "ctx.waitFor(Type, { timeout })")
    })
  )

  it.effect("the README's form, ctx.waitFor(Approval, { timeout }), auto-approves under Workflow.run", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "auto-approve-own-timeout", output: Schema.String, external: [Approval] }).step(
        StartEvent,
        (_, ctx) =>
          ctx.waitFor(Approval, { timeout: "5 minutes" }).pipe(
            Effect.map((answer) => StopEvent.make({ result: answer.ok ? "approved" : "rejected" })),
            Effect.catchTag("WaitTimeoutError", () => Effect.succeed(StopEvent.make({ result: "auto-approved" })))
          ),
        { emits: [StopEvent] }
      )
      const fiber = yield* Effect.fork(Workflow.run(wf))
      yield* TestClock.adjust("4 minutes")
      assert.isNull(fiber.unsafePoll(), "still waiting before the 5 minutes")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* Effect.flatten(fiber.await), "auto-approved")
    })
  )
})

describe("ctx.retry and runningSteps in a durable run started in pipe style", () => {
  it.scoped("ctx.retry gives the last error on the retry; runningSteps is readable on the durable handle", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const seen: Array<Option.Option<unknown>> = []
      const wf = defineWorkflow({ name: "durable-retry-info", output: Schema.Number }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            seen.push(Option.map(ctx.retry, (r) => [r.attempt, r.lastError]))
            if (ctx.attempt === 1) return yield* Effect.fail(new Boom({ n: 1 }))
            yield* Deferred.await(gate)
            return StopEvent.make({ result: ctx.attempt })
          }),
        { emits: [StopEvent], retry: Schedule.recurs(1) }
      )
      const handle = yield* wf.pipe(Workflow.start(undefined, { durable: true }))
      yield* waitUntil(
        Effect.sync(() => seen.length === 2),
        "the retry started"
      )
      assert.deepStrictEqual(yield* handle.runningSteps, { StartEvent: 1 })
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* handle.result, 2)
      assert.isTrue(Option.isNone(seen[0]))
      assert.deepStrictEqual(Option.getOrThrow(seen[1]), [2, new Boom({ n: 1 })])
    }).pipe(Effect.provide(RunStore.layerMemory))
  )
})

describe("fair scheduling in a durable run started in pipe style", () => {
  const Ping = Event.define("Ping", { n: Schema.Number })
  const Pong = Event.define("Pong", { n: Schema.Number })
  const pingPong = defineWorkflow({ name: "durable-ping-pong", output: Schema.Number })
    .step(StartEvent, () => Effect.succeed(Ping.make({ n: 0 })), { emits: [Ping] })
    .step(Ping, (ping) => Effect.succeed(Pong.make({ n: ping.n + 1 })), { emits: [Pong] })
    .step(Pong, (pong) => Effect.succeed(pong.n < 0 ? StopEvent.make({ result: pong.n }) : Ping.make({ n: pong.n })), {
      emits: [Ping, StopEvent]
    })

  it.live("a never-suspending durable ping-pong still times out near its deadline (best of 3)", () =>
    Effect.gen(function* () {
      const tries: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        const error = yield* Effect.flip(
          pingPong.pipe(Workflow.run(undefined, { durable: true, timeout: "300 millis", trace: false }))
        )
        assert.strictEqual(error._tag, "WorkflowTimeoutError")
        tries.push(performance.now() - started - 300)
        if (tries.at(-1)! < 50) break
      }
      assert.isBelow(Math.min(...tries), 50, `ended ${tries.map(Math.round).join(", ")} ms after the deadline`)
    }).pipe(Effect.provide(RunStore.layerMemory))
  )
})
