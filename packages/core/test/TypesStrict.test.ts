/**
 * Type tests for issue 11's "Types that do not lie": each `@ts-expect-error` line is checked by `tsc -b`
 * (`pnpm check`), each `expectTypeOf` by both tsc and vitest.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Data, Effect, Ref, Schedule, Schema, Stream } from "effect"
import { expectTypeOf } from "vitest"
import {
  defineWorkflow,
  Event,
  type HandleRequiredError,
  type StateNotSerializableError,
  type InvalidInputError,
  type RecoveryBudgetError,
  type RunStore,
  type RunStoreError,
  type UnknownStepError,
  StartEvent,
  type StepTimeoutError,
  StopEvent,
  Testing,
  Workflow,
  type WorkflowCancelledError,
  type WorkflowStalledError,
  type WorkflowTimeoutError,
  type WorkflowValidationError
} from "@eventflow/core"

type EngineErrors =
  | WorkflowTimeoutError
  | WorkflowCancelledError
  | WorkflowStalledError
  | WorkflowValidationError
  | RecoveryBudgetError
  | HandleRequiredError
  | StateNotSerializableError

const echo = defineWorkflow({ name: "strict-echo", input: Schema.String, output: Schema.String }).step(
  StartEvent,
  (start) => Effect.succeed(StopEvent.make({ result: start.input })),
  { emits: [StopEvent] }
)

describe("TypesStrict", () => {
  describe("durable overloads", () => {
    it("Workflow.run(wf, input, { durable: true }) requires RunStore and may fail with RunStoreError", () => {
      const durable = Workflow.run(echo, "x", { durable: true })
      expectTypeOf<Effect.Effect.Context<typeof durable>>().toEqualTypeOf<RunStore.RunStore>()
      expectTypeOf<Effect.Effect.Error<typeof durable>>().toEqualTypeOf<
        EngineErrors | InvalidInputError | RunStoreError
      >()
      const runUnprovided = () =>
        // @ts-expect-error a durable run needs a RunStore
        Effect.runPromise(durable)
      expectTypeOf(runUnprovided).toBeFunction()
    })

    it("a `durable` that may be true requires RunStore; `durable: false` and no options do not", () => {
      const flag = (Math.random() > 2) as boolean
      const maybe = Workflow.run(echo, "x", { durable: flag })
      expectTypeOf<Effect.Effect.Context<typeof maybe>>().toEqualTypeOf<RunStore.RunStore>()
      const notDurable = Workflow.run(echo, "x", { durable: false })
      expectTypeOf<Effect.Effect.Context<typeof notDurable>>().toEqualTypeOf<never>()
      expectTypeOf<Effect.Effect.Error<typeof notDurable>>().toEqualTypeOf<EngineErrors | InvalidInputError>()
      const plain = Workflow.run(echo, "x", { timeout: "1 second" })
      expectTypeOf<Effect.Effect.Context<typeof plain>>().toEqualTypeOf<never>()
    })

    it("Workflow.start(wf, input, { durable: true }) requires RunStore; its handle's result may fail with RunStoreError", () => {
      const started = Workflow.start(echo, "x", { durable: true })
      expectTypeOf<Effect.Effect.Context<typeof started>>().toEqualTypeOf<
        RunStore.RunStore | import("effect/Scope").Scope
      >()
      const handle = Effect.map(started, (h) => h.result)
      expectTypeOf<Effect.Effect.Error<Effect.Effect.Success<typeof handle>>>().toEqualTypeOf<
        EngineErrors | RunStoreError
      >()
      const plain = Workflow.start(echo, "x")
      expectTypeOf<Effect.Effect.Context<typeof plain>>().toEqualTypeOf<import("effect/Scope").Scope>()
      const plainResult = Effect.map(plain, (h) => h.result)
      expectTypeOf<Effect.Effect.Error<Effect.Effect.Success<typeof plainResult>>>().toEqualTypeOf<EngineErrors>()
    })

    it.effect("a non-durable run still runs without a RunStore", () =>
      Effect.gen(function* () {
        assert.strictEqual(yield* Workflow.run(echo, "hi", { durable: false }), "hi")
      })
    )
  })
})

const Draft = Event.define("Draft", { text: Schema.String })
const Review = Event.define("Review", { score: Schema.Number })
const Stray = Event.define("Stray", {})

class Policy extends Context.Tag("TypesStrict/Policy")<Policy, { readonly retryable: (e: unknown) => boolean }>() {}
class Llm extends Context.Tag("TypesStrict/Llm")<Llm, { readonly complete: Effect.Effect<string> }>() {}
class LlmError extends Data.TaggedError("LlmError")<{}> {}
class OtherError extends Data.TaggedError("OtherError")<{ readonly code: number }> {}

describe("TypesStrict: sends and step names", () => {
  it("ctx.send of an event type outside the step's emits does not compile; inside it does", () => {
    const base = defineWorkflow({ name: "strict-send" })
    base.step(
      StartEvent,
      // @ts-expect-error Stray is not in emits
      (_, ctx) => Effect.as(ctx.send(Stray.make()), Draft.make({ text: "x" })),
      { emits: [Draft] }
    )
    const ok = base.step(StartEvent, (_, ctx) => Effect.as(ctx.send(Draft.make({ text: "a" })), undefined), {
      emits: [Draft]
    })
    expectTypeOf(ok).not.toBeNever()
    // Without `emits` every event may be sent.
    const free = base.step(StartEvent, (_, ctx) => ctx.send(Stray.make()))
    expectTypeOf(free).not.toBeNever()
  })

  it("step names are literal types: from `name`, from the matched tags, with #2 for a second step", () => {
    const wf = defineWorkflow({ name: "strict-names", output: Schema.Number })
      .step(StartEvent, () => Effect.succeed(Draft.make({ text: "x" })), { emits: [Draft] })
      .step(Draft, () => Effect.succeed(Review.make({ score: 1 })), { name: "review", emits: [Review] })
      .step([Review, Draft], () => Effect.void, { emits: [] })
      .step(Review, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
      .step(Review, () => Effect.void)
    expectTypeOf<Workflow.StepNames<typeof wf>>().toEqualTypeOf<
      "StartEvent" | "review" | "Review|Draft" | "Review" | "Review#2"
    >()
    assert.deepStrictEqual(
      wf.steps.map((s) => s.name),
      ["StartEvent", "review", "Review|Draft", "Review", "Review#2"]
    )
  })

  it("Testing.runStep with a misspelled step name does not compile", () => {
    const wf = defineWorkflow({ name: "strict-runstep" })
      .step(StartEvent, () => Effect.succeed(Draft.make({ text: "x" })), { emits: [Draft] })
      .step(Draft, () => Effect.succeed(StopEvent.make({ result: 1 })), { name: "review", emits: [StopEvent] })
    Testing.runStep(wf, "review", Draft.make({ text: "x" }))
    // @ts-expect-error "reveiw" is not a step of wf
    Testing.runStep(wf, "reveiw", Draft.make({ text: "x" }))
  })

  it("a misspelled step in ctx.send(ev, { step }) makes run/start/stream not compile, also for a step added later", () => {
    const sendTo = <const Step extends string>(step: Step) =>
      defineWorkflow({ name: "strict-target", output: Schema.String })
        .step(StartEvent, (_, ctx) => Effect.as(ctx.send(Draft.make({ text: "x" }), { step }), undefined), {
          emits: [Draft]
        })
        // the target is added after the step that sends to it
        .step(Draft, (d) => Effect.succeed(StopEvent.make({ result: d.text })), { name: "review", emits: [StopEvent] })
    const good = sendTo("review")
    // the marker of the targeted send is not a requirement of the workflow
    expectTypeOf<Workflow.Requirements<typeof good>>().toEqualTypeOf<never>()
    expectTypeOf(Workflow.run(good)).toEqualTypeOf<
      Effect.Effect<string, EngineErrors | InvalidInputError | UnknownStepError>
    >()
    const bad = sendTo("reveiw")
    expectTypeOf<Workflow.UnknownTargets<typeof bad>>().toEqualTypeOf<"reveiw">()
    // @ts-expect-error ctx.send to an unknown step: reveiw
    Workflow.run(bad)
    // @ts-expect-error ctx.send to an unknown step: reveiw
    Workflow.start(bad)
    // @ts-expect-error ctx.send to an unknown step: reveiw
    Workflow.stream(bad)
    // A step name only known at run time (`string`) is checked at run time.
    const dynamic = sendTo("review" as string)
    expectTypeOf(Workflow.run(dynamic)).toEqualTypeOf<
      Effect.Effect<string, EngineErrors | InvalidInputError | UnknownStepError>
    >()
  })
})

describe("TypesStrict: retry", () => {
  it("retry is a Schedule over the step's own errors: a schedule of another error type does not compile", () => {
    const base = defineWorkflow({ name: "strict-retry" })
    const failing = () => Effect.fail(new LlmError())
    const onlyLlm = Schedule.recurWhile((e: LlmError) => e._tag === "LlmError")
    const onlyOther = Schedule.recurWhile((e: OtherError) => e.code > 0)
    const ok = base.step(StartEvent, failing, { retry: onlyLlm })
    expectTypeOf<Workflow.Error<typeof ok>>().toEqualTypeOf<LlmError>()
    // @ts-expect-error the schedule reads OtherError, the step fails with LlmError
    base.step(StartEvent, failing, { retry: onlyOther })
    // the schedule does not widen the step's error type (NoInfer)
    const withEmits = base.step(StartEvent, () => Effect.as(failing(), StopEvent.make({ result: 1 })), {
      emits: [StopEvent],
      retry: Schedule.recurs(2)
    })
    expectTypeOf<Workflow.Error<typeof withEmits>>().toEqualTypeOf<LlmError>()
    // with a timeout, the schedule also sees StepTimeoutError
    base.step(StartEvent, failing, {
      timeout: "1 second",
      retry: Schedule.recurWhile((e: LlmError | StepTimeoutError) => e._tag !== "StepTimeoutError")
    })
  })

  it("the services a retry schedule needs add up in the workflow's requirements", () => {
    const policy = Schedule.whileInputEffect(Schedule.recurs(3), (e: LlmError) =>
      Effect.map(Policy, (p) => p.retryable(e))
    )
    const wf = defineWorkflow({ name: "strict-retry-r", output: Schema.String }).step(
      StartEvent,
      () =>
        Effect.gen(function* () {
          const llm = yield* Llm
          const text = yield* llm.complete
          if (text === "") return yield* Effect.fail(new LlmError())
          return StopEvent.make({ result: text })
        }),
      { emits: [StopEvent], retry: policy }
    )
    expectTypeOf<Workflow.Requirements<typeof wf>>().toEqualTypeOf<Llm | Policy>()
    const program = Workflow.run(wf)
    expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<Llm | Policy>()
  })

  it.effect("a schedule with services retries with the service of the caller's context", () =>
    Effect.gen(function* () {
      let calls = 0
      const wf = defineWorkflow({ name: "strict-retry-run", output: Schema.Number }).step(
        StartEvent,
        () =>
          Effect.suspend(() => {
            calls++
            return calls < 3 ? Effect.fail(new LlmError()) : Effect.succeed(StopEvent.make({ result: calls }))
          }),
        {
          emits: [StopEvent],
          retry: Schedule.whileInputEffect(Schedule.recurs(5), (e: LlmError) =>
            Effect.map(Policy, (p) => p.retryable(e))
          )
        }
      )
      const result = yield* Workflow.run(wf).pipe(Effect.provideService(Policy, { retryable: () => true }))
      assert.strictEqual(result, 3)
    })
  )
})

describe("TypesStrict: Workflow.Any", () => {
  const needsLlm = defineWorkflow({ name: "strict-any-llm", output: Schema.String }).step(
    StartEvent,
    () =>
      Effect.gen(function* () {
        const llm = yield* Llm
        return StopEvent.make({ result: yield* llm.complete })
      }),
    { emits: [StopEvent] }
  )
  const needsNothing = defineWorkflow({ name: "strict-any-none" }).step(StartEvent, () => Effect.fail(new LlmError()), {
    emits: [StopEvent]
  })

  it("Workflow.Any is the top type: errors and requirements are unknown, never any", () => {
    expectTypeOf<Workflow.Requirements<Workflow.Any>>().toEqualTypeOf<unknown>()
    expectTypeOf<Workflow.Error<Workflow.Any>>().toEqualTypeOf<unknown>()
    expectTypeOf(needsLlm).toMatchTypeOf<Workflow.Any>()
    expectTypeOf(needsNothing).toMatchTypeOf<Workflow.Any>()
    // "some workflow" in a list: what running it needs is unknown, so it cannot be run unprovided by mistake
    const some: ReadonlyArray<Workflow.Any> = [needsLlm, needsNothing]
    expectTypeOf<Workflow.Requirements<(typeof some)[number]>>().toEqualTypeOf<unknown>()
    const program = Workflow.run(some[0])
    expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<unknown>()
    const runUnprovided = () =>
      // @ts-expect-error a Workflow.Any may need any service
      Effect.runPromise(program)
    expectTypeOf(runUnprovided).toBeFunction()
  })

  it("Workflow.AnyWith<R> holds workflows that need at most R; running one needs exactly R", () => {
    const none: ReadonlyArray<Workflow.AnyWith<never>> = [needsNothing]
    // @ts-expect-error needsLlm needs Llm
    const wrong: ReadonlyArray<Workflow.AnyWith<never>> = [needsLlm]
    const withLlm: ReadonlyArray<Workflow.AnyWith<Llm>> = [needsLlm, needsNothing]
    expectTypeOf(wrong).not.toBeNever()
    const free = Workflow.run(none[0])
    expectTypeOf<Effect.Effect.Context<typeof free>>().toEqualTypeOf<never>()
    const program = Workflow.run(withLlm[0])
    expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<Llm>()
  })
})

describe("TypesStrict: pipe style", () => {
  const stateful = defineWorkflow({
    name: "strict-pipe",
    input: Schema.NumberFromString,
    output: Schema.Number,
    state: Schema.Struct({ n: Schema.Number }),
    initialState: { n: 1 }
  }).step(
    StartEvent,
    (start, ctx) => Effect.map(Ref.get(ctx.state), (state) => StopEvent.make({ result: start.input * state.n })),
    { emits: [StopEvent] }
  )
  const noInput = defineWorkflow({ name: "strict-pipe-void", output: Schema.String }).step(
    StartEvent,
    () => Effect.succeed(StopEvent.make({ result: "done" })),
    { emits: [StopEvent] }
  )

  it("run / start / stream have the same types in pipe style as called directly", () => {
    expectTypeOf(stateful.pipe(Workflow.run("2"))).toEqualTypeOf(Workflow.run(stateful, "2"))
    expectTypeOf(noInput.pipe(Workflow.run())).toEqualTypeOf(Workflow.run(noInput))
    expectTypeOf(stateful.pipe(Workflow.start("2", { state: { n: 3 } }))).toEqualTypeOf(
      Workflow.start(stateful, "2", { state: { n: 3 } })
    )
    expectTypeOf(stateful.pipe(Workflow.stream("2"))).toEqualTypeOf(Workflow.stream(stateful, "2"))
    expectTypeOf(stateful.pipe(Workflow.run("2", { durable: true }))).toEqualTypeOf(
      Workflow.run(stateful, "2", { durable: true })
    )
    expectTypeOf(noInput.pipe(Workflow.validate())).toEqualTypeOf<Effect.Effect<void, WorkflowValidationError>>()
    expectTypeOf(noInput.pipe(Workflow.toMermaid())).toEqualTypeOf<string>()
  })

  it("pipe style checks the input, the state and the graph once the workflow is known", () => {
    // @ts-expect-error the input is the schema's encoded type (string)
    stateful.pipe(Workflow.run(2))
    // @ts-expect-error the state does not fit
    stateful.pipe(Workflow.run("2", { state: { n: "x" } }))
    // @ts-expect-error the input is required
    stateful.pipe(Workflow.run())
    const incomplete = defineWorkflow({ name: "strict-pipe-orphan" }).step(
      StartEvent,
      () => Effect.succeed(Stray.make()),
      {
        emits: [Stray, StopEvent]
      }
    )
    // @ts-expect-error Event not handled: Stray
    incomplete.pipe(Workflow.run())
  })

  it.effect("pipe style runs, streams, validates and draws", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* stateful.pipe(Workflow.run("2", { state: { n: 5 } })), 10)
      assert.strictEqual(yield* noInput.pipe(Workflow.run()), "done")
      const events = yield* noInput.pipe(Workflow.stream(), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(events), [StopEvent.make({ result: "done" })])
      const handle = yield* Effect.scoped(Effect.flatMap(stateful.pipe(Workflow.start("4")), (h) => h.result))
      assert.strictEqual(handle, 4)
      yield* noInput.pipe(Workflow.validate())
      assert.strictEqual(noInput.pipe(Workflow.toMermaid()), Workflow.toMermaid(noInput))
    })
  )
})

describe("TypesStrict: handlers returning a union of effects", () => {
  const A = Event.define("TernaryA", {})
  const B = Event.define("TernaryB", {})
  const coin = () => Math.random() > 0.5

  it("a step without emits returning `cond ? Effect.succeed(A) : Effect.succeed(B)` compiles; both tags are emitted", () => {
    const wf = defineWorkflow({ name: "strict-ternary", output: Schema.Number })
      .step(StartEvent, () => (coin() ? Effect.succeed(A.make()) : Effect.succeed(B.make())))
      .step(A, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
      .step(B, () => Effect.succeed(StopEvent.make({ result: 2 })), { emits: [StopEvent] })
    expectTypeOf<Workflow.Unhandled<typeof wf>>().toEqualTypeOf<never>()
    expectTypeOf(Workflow.run(wf)).toEqualTypeOf<Effect.Effect<number, EngineErrors | InvalidInputError>>()
  })

  it("the errors and services of every branch add up, with and without emits", () => {
    const fails = coin()
      ? Effect.as(Effect.fail(new LlmError()), A.make())
      : Effect.as(Effect.fail(new OtherError({ code: 1 })), B.make())
    const wf = defineWorkflow({ name: "strict-ternary-errors" })
      .step(StartEvent, () => (coin() ? fails : Effect.as(Llm, A.make())))
      .step([A, B], () => (coin() ? fails : Effect.as(Policy, StopEvent.make({ result: 1 }))), {
        emits: [A, B, StopEvent]
      })
    expectTypeOf<Workflow.Error<typeof wf>>().toEqualTypeOf<LlmError | OtherError>()
    expectTypeOf<Workflow.Requirements<typeof wf>>().toEqualTypeOf<Llm | Policy>()
  })

  it("when a branch's event is not handled, the error names it (not `add undefined`)", () => {
    const wf = defineWorkflow({ name: "strict-ternary-orphan" })
      .step(StartEvent, () => (coin() ? Effect.succeed(A.make()) : Effect.succeed(B.make())))
      .step(A, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
    expectTypeOf<Workflow.ValidateHandled<typeof wf>>().toEqualTypeOf<"Event not handled: TernaryB">()
    // @ts-expect-error Event not handled: TernaryB
    Workflow.run(wf)
  })
})
