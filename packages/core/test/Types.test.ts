import { assert, describe, it } from "@effect/vitest"
import { Context, Data, Effect, Layer, Schema } from "effect"
import { expectTypeOf } from "vitest"
import {
  defineWorkflow,
  Event,
  type HandleRequiredError,
  type StateNotSerializableError,
  type InvalidInputError,
  type RecoveryBudgetError,
  StartEvent,
  type StepTimeoutError,
  StopEvent,
  Workflow,
  type WorkflowCancelledError,
  type WorkflowStalledError,
  type WorkflowTimeoutError,
  type WorkflowValidationError
} from "@eventflow/core"

const Query = Event.define("Query", { text: Schema.String })
const Answer = Event.define("Answer", { text: Schema.String })
const Orphan = Event.define("Orphan", {})

class Llm extends Context.Tag("Types/Llm")<Llm, { readonly complete: (prompt: string) => Effect.Effect<string> }>() {}
class Search extends Context.Tag("Types/Search")<Search, { readonly find: (q: string) => Effect.Effect<string> }>() {}

class LlmError extends Data.TaggedError("LlmError")<{ readonly reason: string }> {}
class SearchError extends Data.TaggedError("SearchError")<{}> {}

type EngineErrors =
  | WorkflowTimeoutError
  | WorkflowCancelledError
  | WorkflowStalledError
  | WorkflowValidationError
  | RecoveryBudgetError
  | HandleRequiredError
  | StateNotSerializableError

const rag = defineWorkflow({
  name: "types-rag",
  input: Schema.Struct({ question: Schema.String }),
  output: Schema.String
})
  .step(
    StartEvent,
    (start) =>
      Effect.gen(function* () {
        const search = yield* Search
        if (start.input.question.length === 0) return yield* Effect.fail(new SearchError())
        return Query.make({ text: yield* search.find(start.input.question) })
      }),
    { emits: [Query] }
  )
  .step(
    Query,
    (query) =>
      Effect.gen(function* () {
        const llm = yield* Llm
        const text = yield* llm.complete(query.text)
        if (text.length === 0) return yield* Effect.fail(new LlmError({ reason: "empty" }))
        return Answer.make({ text })
      }),
    { emits: [Answer] }
  )
  .step(Answer, (answer) => Effect.succeed(StopEvent.make({ result: answer.text })), { emits: [StopEvent] })

describe("Types", () => {
  it("the builder accumulates the services (R) of every step; Workflow.run requires exactly them", () => {
    expectTypeOf<Workflow.Requirements<typeof rag>>().toEqualTypeOf<Llm | Search>()
    const program = Workflow.run(rag, { question: "q" })
    expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<Llm | Search>()
    const runUnprovided = () =>
      // @ts-expect-error the services are not provided
      Effect.runPromise(program)
    expectTypeOf(runUnprovided).toBeFunction()
  })

  it("the builder accumulates the typed errors (E) of every step into the run's error type", () => {
    expectTypeOf<Workflow.Error<typeof rag>>().toEqualTypeOf<SearchError | LlmError>()
    const program = Workflow.run(rag, { question: "q" })
    expectTypeOf<Effect.Effect.Error<typeof program>>().toEqualTypeOf<
      SearchError | LlmError | EngineErrors | InvalidInputError
    >()
  })

  it("a step with `timeout` adds StepTimeoutError to the error type; without it, nothing", () => {
    const withTimeout = defineWorkflow({ name: "types-timeout" }).step(
      StartEvent,
      () => Effect.succeed(StopEvent.make({ result: 1 })),
      { emits: [StopEvent], timeout: "1 second" }
    )
    const withoutTimeout = defineWorkflow({ name: "types-no-timeout" }).step(
      StartEvent,
      () => Effect.succeed(StopEvent.make({ result: 1 })),
      { emits: [StopEvent] }
    )
    expectTypeOf<Workflow.Error<typeof withTimeout>>().toEqualTypeOf<StepTimeoutError>()
    expectTypeOf<Workflow.Error<typeof withoutTimeout>>().toEqualTypeOf<never>()
  })

  it("`emits` constrains the handler's return type", () => {
    const base = defineWorkflow({ name: "types-emits" })
    // @ts-expect-error Answer is not declared in emits
    base.step(StartEvent, () => Effect.succeed(Answer.make({ text: "x" })), { emits: [Query] })
    // @ts-expect-error an array containing an undeclared event
    base.step(StartEvent, () => Effect.succeed([Query.make({ text: "x" }), Answer.make({ text: "y" })]), {
      emits: [Query]
    })
    const ok = base.step(StartEvent, () => Effect.succeed([Query.make({ text: "x" })]), { emits: [Query, Answer] })
    expectTypeOf(ok).not.toBeNever()
  })

  it("a StopEvent result is checked against `output` when emits includes StopEvent", () => {
    const base = defineWorkflow({ name: "types-output", output: Schema.String })
    // @ts-expect-error 42 is not a string
    base.step(StartEvent, () => Effect.succeed(StopEvent.make({ result: 42 })), { emits: [StopEvent] })
    const ok = base.step(StartEvent, () => Effect.succeed(StopEvent.make({ result: "ok" })), { emits: [StopEvent] })
    expectTypeOf<Workflow.Output<typeof ok>>().toEqualTypeOf<string>()
  })

  it("Workflow.run of a workflow that emits an event no step handles does not compile", () => {
    const incomplete = defineWorkflow({ name: "types-unhandled" }).step(
      StartEvent,
      () => Effect.succeed(Orphan.make({})),
      { emits: [Orphan, StopEvent] }
    )
    // @ts-expect-error Event not handled: Orphan
    Workflow.run(incomplete)
    // @ts-expect-error Event not handled: Orphan
    Workflow.start(incomplete)
    const complete = incomplete.step(Orphan, () => Effect.succeed(StopEvent.make({ result: "adopted" })), {
      emits: [StopEvent]
    })
    expectTypeOf(Workflow.run(complete)).toEqualTypeOf<Effect.Effect<unknown, EngineErrors | InvalidInputError>>()
  })

  it("Workflow.Output / Input / Error / Requirements extract the workflow's types", () => {
    expectTypeOf<Workflow.Output<typeof rag>>().toEqualTypeOf<string>()
    expectTypeOf<Workflow.Input<typeof rag>>().toEqualTypeOf<{ readonly question: string }>()
    expectTypeOf<Workflow.Error<typeof rag>>().toEqualTypeOf<SearchError | LlmError>()
    expectTypeOf<Workflow.Requirements<typeof rag>>().toEqualTypeOf<Llm | Search>()
  })

  it("start.input is typed by the input schema, and run/start take its encoded form", () => {
    const parse = defineWorkflow({ name: "types-input", input: Schema.NumberFromString, output: Schema.Number }).step(
      StartEvent,
      (start) => {
        expectTypeOf(start.input).toEqualTypeOf<number>()
        return Effect.succeed(StopEvent.make({ result: start.input * 2 }))
      },
      { emits: [StopEvent] }
    )
    expectTypeOf<Workflow.Input<typeof parse>>().toEqualTypeOf<number>()
    expectTypeOf<Workflow.InputEncoded<typeof parse>>().toEqualTypeOf<string>()
    Workflow.run(parse, "21")
    // @ts-expect-error the input is the schema's encoded type (string)
    Workflow.run(parse, 21)
    // @ts-expect-error the input is required
    Workflow.run(parse)
    // @ts-expect-error `question` must be a string
    Workflow.run(rag, { question: 1 })
  })

  it.effect("providing the services with test layers satisfies R at runtime", () =>
    Effect.gen(function* () {
      const program = Workflow.run(rag, { question: "capital of France" }).pipe(
        Effect.provide(
          Layer.merge(
            Layer.succeed(Search, { find: (q) => Effect.succeed(`docs about ${q}`) }),
            Layer.succeed(Llm, { complete: (prompt) => Effect.succeed(`answer from ${prompt}`) })
          )
        )
      )
      expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<never>()
      assert.strictEqual(yield* program, "answer from docs about capital of France")
    })
  )

  it.effect("a step's typed error reaches the caller at runtime as that type", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Workflow.run(rag, { question: "q" }).pipe(
          Effect.provideService(Search, { find: (q) => Effect.succeed(q) }),
          Effect.provideService(Llm, { complete: () => Effect.succeed("") })
        )
      )
      assert.instanceOf(error, LlmError)
      assert.strictEqual((error as LlmError).reason, "empty")
    })
  )
})
