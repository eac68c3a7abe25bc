import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema, SynchronizedRef } from "effect"
import {
  defineWorkflow,
  JournalStore,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowValidationError
} from "@eventflow/core"

/** A chat turn: remembers every message in its typed state and answers with how many it has seen. */
const chat = defineWorkflow({
  name: "conv-chat",
  input: Schema.String,
  output: Schema.String,
  state: Schema.Struct({ messages: Schema.Array(Schema.String) }),
  initialState: { messages: [] }
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const { messages } = yield* SynchronizedRef.updateAndGet(ctx.state, (s) => ({
        messages: [...s.messages, start.input]
      }))
      return StopEvent.make({ result: `${messages.length}: ${messages.join(" / ")}` })
    }),
  { emits: [StopEvent] }
)

const other = defineWorkflow({ name: "conv-other", output: Schema.Number }).step(
  StartEvent,
  () => Effect.succeed(StopEvent.make({ result: 1 })),
  { emits: [StopEvent] }
)

const issuesOf = (error: unknown) => {
  assert.instanceOf(error, WorkflowValidationError)
  return (error as WorkflowValidationError).issues.join("\n")
}

describe("Conversations", () => {
  it.scoped("a run that continues a handle starts from its final state and joins its conversation", () =>
    Effect.gen(function* () {
      const first = yield* Workflow.start(chat, "hi", { runId: "t1" })
      assert.strictEqual(yield* first.result, "1: hi")
      const second = yield* Workflow.start(chat, "how are you?", { runId: "t2", continue: first })
      assert.strictEqual(yield* second.result, "2: hi / how are you?")
      const third = yield* Workflow.start(chat, "bye", { runId: "t3", continue: second })
      assert.strictEqual(yield* third.result, "3: hi / how are you? / bye")
      // The conversation's id is its first run's; each run names the one it continues.
      assert.deepStrictEqual((yield* second.snapshot).conversation, { id: "t1", previous: "t1" })
      assert.deepStrictEqual((yield* third.snapshot).conversation, { id: "t1", previous: "t2" })
      assert.isUndefined((yield* first.snapshot).conversation)
      // The earlier run is not changed by its continuation.
      assert.deepStrictEqual(yield* first.state, { messages: ["hi"] })
    })
  )

  it.effect("Workflow.run continues a durable run by its id, and the store lists the conversation's runs", () =>
    Effect.gen(function* () {
      yield* Workflow.run(chat, "a", { runId: "c1", durable: true })
      yield* Workflow.run(chat, "b", { runId: "c2", durable: true, continue: "c1" })
      const last = yield* Workflow.run(chat, "c", { runId: "c3", durable: true, continue: "c2" })
      assert.strictEqual(last, "3: a / b / c")
      yield* Workflow.run(chat, "unrelated", { runId: "x1", durable: true })
      const store = yield* RunStore.RunStore
      const runs = yield* store.list({ conversation: "c1" })
      assert.sameMembers(
        runs.map((r) => r.runId),
        ["c1", "c2", "c3"]
      )
      assert.deepStrictEqual(
        runs.filter((r) => r.runId !== "c1").map((r) => r.conversationId),
        ["c1", "c1"]
      )
      const saved = Option.getOrThrow(yield* store.load("c3"))
      assert.deepStrictEqual(saved.conversation, { id: "c1", previous: "c2" })
      // The runs are journaled: the conversation is recorded in each continuing run's RunStarted.
      const journal = yield* JournalStore.JournalStore
      const [started] = yield* journal.read("c3", 0)
      if (started.entry._tag !== "RunStarted") return assert.fail(`the journal starts with ${started.entry._tag}`)
      assert.deepStrictEqual(started.entry.conversation, { id: "c1", previous: "c2" })
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("continuing a run that has not ended fails with a validation error that says so", () =>
    Effect.gen(function* () {
      const store = yield* RunStore.RunStore
      // A run of the workflow as the store holds it while it still runs.
      const snapshot = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.start(chat, "x", { runId: "r1" })
          yield* handle.result
          return { ...(yield* handle.snapshot), status: "running" as const, runId: "still" }
        })
      )
      yield* store.save(snapshot)
      const error = yield* Effect.flip(Workflow.run(chat, "y", { continue: "still" }))
      assert.include(issuesOf(error), `run options: "continue": run "still" is still running`)
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("continuing a run of another workflow, an unknown run, or with a state fails with what was wrong", () =>
    Effect.gen(function* () {
      yield* Workflow.run(other, undefined, { runId: "o1", durable: true })
      assert.include(
        issuesOf(yield* Effect.flip(Workflow.run(chat, "y", { continue: "o1" }))),
        `run "o1" is a run of workflow "conv-other", not "conv-chat"`
      )
      assert.include(
        issuesOf(yield* Effect.flip(Workflow.run(chat, "y", { continue: "nope" }))),
        `there is no run "nope" in the RunStore`
      )
      yield* Workflow.run(chat, "a", { runId: "s1", durable: true })
      assert.include(
        issuesOf(yield* Effect.flip(Workflow.run(chat, "y", { continue: "s1", state: { messages: [] } }))),
        `give either "continue" or "state", not both`
      )
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("continuing by id without a RunStore fails with a validation error, not a missing service", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Workflow.run(chat, "y", { continue: "c1" }))
      assert.include(issuesOf(error), "reads it from the RunStore, and there is none")
    }).pipe(Effect.provide(Layer.empty))
  )
})
