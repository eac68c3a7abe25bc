/**
 * A run's state must survive a snapshot: durable runs and `handle.snapshot` encode it with the workflow's `state`
 * schema, and a state that would not come back the same fails at the first checkpoint with a typed error.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Ref, Schema } from "effect"
import {
  defineWorkflow,
  Event,
  RunStore,
  StartEvent,
  StateNotSerializableError,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { waitUntil } from "./utils.js"

const Next = Event.define("Next", {})

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("state round-trip", () => {
  it.scoped("Schema.DateFromSelf state fails the durable run at its first checkpoint, naming the path", () =>
    Effect.gen(function* () {
      const executions = yield* Ref.make(0)
      const wf = defineWorkflow({
        name: "date-from-self",
        output: Schema.Number,
        state: Schema.Struct({ at: Schema.DateFromSelf }),
        initialState: { at: new Date(0) }
      }).step(
        StartEvent,
        () =>
          Effect.as(
            Ref.update(executions, (n) => n + 1),
            StopEvent.make({ result: 1 })
          ),
        {
          emits: [StopEvent]
        }
      )
      const handle = yield* Workflow.start(wf, undefined, { durable: true })
      const error = failureOf(yield* Effect.exit(handle.result))
      assert.instanceOf(error, StateNotSerializableError)
      assert.deepStrictEqual((error as StateNotSerializableError).path, ["at"])
      assert.include((error as StateNotSerializableError).message, 'state["at"]')
      assert.include((error as StateNotSerializableError).message, "Date")
      assert.strictEqual(yield* Ref.get(executions), 0, "no step ran")
      assert.strictEqual(yield* handle.status, "failed")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("a function that a step puts in the state fails the next checkpoint, naming the path", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({
        name: "function-in-state",
        output: Schema.Number,
        state: Schema.Struct({ items: Schema.Array(Schema.Unknown) }),
        initialState: { items: [] }
      })
        .step(StartEvent, (_, ctx) => Effect.as(Ref.set(ctx.state, { items: [1, () => 2] }), Next.make({})), {
          emits: [Next]
        })
        .step(Next, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
      const handle = yield* Workflow.start(wf, undefined, { durable: true })
      const error = failureOf(yield* Effect.exit(handle.result))
      assert.instanceOf(error, StateNotSerializableError)
      assert.deepStrictEqual((error as StateNotSerializableError).path, ["items", 1])
      assert.include((error as StateNotSerializableError).message, "function")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("handle.snapshot of a run whose state cannot be snapshotted dies with the typed error", () =>
    Effect.gen(function* () {
      // No state schema: the state must be plain JSON itself.
      const wf = defineWorkflow({ name: "no-schema-map" })
        .step(
          StartEvent,
          (_, ctx) => Effect.as(Ref.set(ctx.state as Ref.Ref<unknown>, new Map([["a", 1]])), Next.make({})),
          {
            emits: [Next]
          }
        )
        .step(Next, (_, ctx) => Effect.as(ctx.waitFor(Next), StopEvent.make({ result: 1 })), { emits: [StopEvent] })
      const handle = yield* Workflow.start(wf)
      yield* waitUntil(
        Effect.map(handle.status, (status) => status === "waiting"),
        "the run waits"
      )
      const exit = yield* Effect.exit(handle.snapshot)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
      assert.instanceOf(defect, StateNotSerializableError)
      assert.deepStrictEqual((defect as StateNotSerializableError).path, [])
      assert.include((defect as StateNotSerializableError).message, "Map")
    })
  )

  it.scoped("a state whose encoded form is JSON (Schema.Date) round-trips through a durable run", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({
        name: "date-ok",
        output: Schema.Number,
        state: Schema.Struct({ at: Schema.Date, note: Schema.optional(Schema.String) }),
        initialState: { at: new Date(5), note: undefined }
      }).step(
        StartEvent,
        (_, ctx) => Effect.map(Ref.get(ctx.state), (s) => StopEvent.make({ result: s.at.getTime() })),
        { emits: [StopEvent] }
      )
      const handle = yield* Workflow.start(wf, undefined, { durable: true })
      assert.strictEqual(yield* handle.result, 5)
      const snapshot = yield* handle.snapshot
      assert.strictEqual((snapshot.state as { at: unknown }).at, new Date(5).toISOString())
    }).pipe(Effect.provide(RunStore.layerMemory))
  )
})
