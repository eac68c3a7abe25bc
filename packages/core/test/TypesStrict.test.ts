/**
 * Type tests for issue 11's "Types that do not lie": each `@ts-expect-error` line is checked by `tsc -b`
 * (`pnpm check`), each `expectTypeOf` by both tsc and vitest.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { expectTypeOf } from "vitest"
import {
  defineWorkflow,
  type InvalidInputError,
  type RunStore,
  type RunStoreError,
  StartEvent,
  StopEvent,
  Workflow,
  type WorkflowCancelledError,
  type WorkflowStalledError,
  type WorkflowTimeoutError,
  type WorkflowValidationError
} from "@eventflow/core"

type EngineErrors = WorkflowTimeoutError | WorkflowCancelledError | WorkflowStalledError | WorkflowValidationError

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
