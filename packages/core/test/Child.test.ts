import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Duration, Effect, Exit, Fiber, Option, Schema, Stream, TestClock } from "effect"
import {
  Child,
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  JournalStore,
  RunStore,
  StartEvent,
  StopEvent,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  Workflow
} from "@eventflow/core"
import { allEvents, statusIs } from "./utils.js"

class Boom extends Data.TaggedError("Boom")<{ readonly why: string }> {}

const Progress = Event.define("Progress", { note: Schema.String })

/** A child that doubles its input and reports progress. */
const double = defineWorkflow({ name: "double", input: Schema.Number, output: Schema.Number }).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      yield* ctx.write(Progress.make({ note: `doubling ${start.input}` }))
      return StopEvent.make({ result: start.input * 2 })
    }),
  { emits: [StopEvent] }
)

/** A child that fails with its own typed error. */
const failing = defineWorkflow({ name: "failing", output: Schema.Number }).step(
  StartEvent,
  () => Effect.fail(new Boom({ why: "no luck" })),
  { emits: [StopEvent] }
)

/** A child that asks a person. */
const asking = defineWorkflow({ name: "asking", output: Schema.String }).step(
  StartEvent,
  (_, ctx) =>
    Effect.gen(function* () {
      const answer = yield* ctx.waitFor(HumanResponse, {
        prompt: InputRequired.make({ prompt: "name?", requestId: "name" })
      })
      return StopEvent.make({ result: answer.response })
    }),
  { emits: [StopEvent] }
)

/** A parent whose one step runs `child` (typed loosely: the tests look at what happens at run time). */
const parentOf = (child: Workflow.Any, input: unknown, name: string) =>
  defineWorkflow({ name, output: Schema.Unknown }).step(
    StartEvent,
    (_, ctx) =>
      Effect.gen(function* () {
        const run = ctx.run.bind(ctx) as (w: Workflow.Any, i: unknown) => Effect.Effect<unknown, unknown>
        const result = yield* run(child, input)
        return StopEvent.make({ result })
      }),
    { emits: [StopEvent] }
  )

describe("Child workflows", () => {
  it.effect("ctx.run returns the child's typed result", () =>
    Effect.gen(function* () {
      const parent = defineWorkflow({ name: "p-run", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            const n = yield* ctx.run(double, 21)
            // Typed: `n` is a number (a string here would not compile).
            const checked: number = n
            return StopEvent.make({ result: `got ${checked}` })
          }),
        { emits: [StopEvent] }
      )
      assert.strictEqual(yield* Workflow.run(parent), "got 42")
    })
  )

  it.effect("the child's own error fails the parent as it is, not wrapped", () =>
    Effect.gen(function* () {
      const parent = defineWorkflow({ name: "p-fail", output: Schema.Number }).step(
        StartEvent,
        (_, ctx) => Effect.map(ctx.run(failing), (n) => StopEvent.make({ result: n })),
        { emits: [StopEvent] }
      )
      const error = yield* Effect.flip(Workflow.run(parent))
      // The parent's error type includes the child's `Boom`, and the value is the child's own error.
      assert.instanceOf(error, Boom)
      if (error instanceof Boom) assert.strictEqual(error.why, "no luck")
    })
  )

  it.effect("a caught child error is the child's typed error", () =>
    Effect.gen(function* () {
      const parent = defineWorkflow({ name: "p-catch", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          ctx.run(failing).pipe(
            Effect.map(String),
            Effect.catchTag("Boom", (e) => Effect.succeed(`caught ${e.why}`)),
            Effect.map((result) => StopEvent.make({ result }))
          ),
        { emits: [StopEvent] }
      )
      assert.strictEqual(yield* Workflow.run(parent), "caught no luck")
    })
  )

  it.scoped("the child's events reach the parent's stream as ChildEvents named by the child run", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(parentOf(double, 5, "p-events"), undefined, { runId: "P" })
      const events = yield* allEvents(handle)
      const children = events.filter(Event.is(Child.ChildEvent))
      assert.deepStrictEqual(
        children.map((e) => [e.runId, e.workflow, (e.event as { _tag: string })._tag]),
        [
          ["P/StartEvent@0/c0", "double", "Progress"],
          ["P/StartEvent@0/c0", "double", "StopEvent"]
        ]
      )
      assert.deepStrictEqual(children[0].event, { _tag: "Progress", note: "doubling 5" })
      assert.strictEqual(yield* handle.result, 10)
    })
  )

  it.scoped("a child's prompt is in the parent's pending and answered through the parent's handle", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(parentOf(asking, undefined, "p-ask"), undefined, { runId: "P" })
      // The parent waits for the person its child waits for.
      assert.strictEqual(yield* handle.settled, "waiting")
      const pending = yield* handle.pending
      assert.deepStrictEqual(pending, [
        {
          eventId: "P/StartEvent@0/c0:name",
          requestId: "P/StartEvent@0/c0:name",
          prompt: InputRequired.make({ prompt: "name?", requestId: "P/StartEvent@0/c0:name" }),
          runId: "P/StartEvent@0/c0"
        }
      ])
      yield* handle.send(HumanResponse.make({ response: "Ada", requestId: "P/StartEvent@0/c0:name" }))
      assert.strictEqual(yield* handle.result, "Ada")
    })
  )

  it.scoped("cancelling the parent cancels its child", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(parentOf(asking, undefined, "p-cancel"), undefined, {
        runId: "P",
        durable: true
      })
      assert.strictEqual(yield* handle.settled, "waiting")
      yield* handle.cancel
      const store = yield* RunStore.RunStore
      const child = yield* store.load("P/StartEvent@0/c0")
      assert.strictEqual(Option.getOrThrow(child).status, "cancelled")
      assert.strictEqual(Option.getOrThrow(child).parent, "P")
      const exit = yield* Effect.exit(handle.result)
      assert.isTrue(Exit.isFailure(exit))
      assert.instanceOf(yield* Effect.flip(handle.result), WorkflowCancelledError)
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("a durable parent's child is durable in the same store, and resumeAll leaves it to its parent", () =>
    Effect.gen(function* () {
      const parent = parentOf(asking, undefined, "p-durable")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.start(parent, undefined, { runId: "P", durable: true })
          assert.strictEqual(yield* handle.settled, "waiting")
        })
      )
      const store = yield* RunStore.RunStore
      const runs = yield* store.list({ status: RunStore.unfinished })
      assert.deepStrictEqual(runs.map((r) => [r.runId, r.parentRunId]).sort(), [
        ["P", undefined],
        ["P/StartEvent@0/c0", "P"]
      ])
      // Resuming the child's workflow on its own resumes nothing: its parent does.
      assert.deepStrictEqual(yield* Workflow.resumeAll(asking), [])
      const [resumed] = yield* Workflow.resumeAll(parent)
      assert.strictEqual(yield* resumed.settled, "waiting")
      yield* resumed.send(HumanResponse.make({ response: "Grace", requestId: "P/StartEvent@0/c0:name" }))
      assert.strictEqual(yield* resumed.result, "Grace")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("a child's journal records its parent; a re-executed step takes a completed child's result from it", () =>
    Effect.gen(function* () {
      let childRuns = 0
      const counted = defineWorkflow({ name: "counted", input: Schema.Number, output: Schema.Number }).step(
        StartEvent,
        (start) =>
          Effect.sync(() => {
            childRuns++
            return StopEvent.make({ result: start.input + 1 })
          }),
        { emits: [StopEvent] }
      )
      // The parent's step runs the child, then waits for a person: the child has ended, the step has not.
      const parent = defineWorkflow({ name: "p-journal", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            const n = yield* ctx.run(counted, 41)
            const answer = yield* ctx.waitFor(HumanResponse, {
              prompt: InputRequired.make({ prompt: "ok?", requestId: "ok" })
            })
            return StopEvent.make({ result: `${n} ${answer.response}` })
          }),
        { emits: [StopEvent] }
      )
      yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.start(parent, undefined, { runId: "P", durable: true })
          assert.strictEqual(yield* handle.settled, "waiting")
        })
      )
      const journal = yield* JournalStore.JournalStore
      const [started] = yield* journal.read("P/StartEvent@0/c0", 0)
      if (started.entry._tag !== "RunStarted") return assert.fail(`the journal starts with ${started.entry._tag}`)
      assert.strictEqual(started.entry.parent, "P")
      assert.strictEqual(Option.getOrThrow(yield* journal.summary("P/StartEvent@0/c0")).status, "completed")
      // The resumed parent executes its step again: ctx.run finds the child's journal and takes its result.
      const resumed = yield* Workflow.resume(parent, "P")
      assert.strictEqual(yield* resumed.settled, "waiting")
      yield* resumed.send(HumanResponse.make({ response: "yes", requestId: "ok" }))
      assert.strictEqual(yield* resumed.result, "42 yes")
      assert.strictEqual(childRuns, 1)
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("ctx.start returns the child's handle; a child still running when its step ends is cancelled", () =>
    Effect.gen(function* () {
      const parent = defineWorkflow({ name: "p-start", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            const a = yield* ctx.start(double, 1)
            const b = yield* ctx.start(asking)
            const n = yield* a.result
            yield* statusIs(b, "waiting")
            return StopEvent.make({ result: `${n} ${b.runId}` })
          }),
        { emits: [StopEvent] }
      )
      const handle = yield* Workflow.start(parent, undefined, { runId: "P", durable: true })
      assert.strictEqual(yield* handle.result, "2 P/StartEvent@0/c1")
      const store = yield* RunStore.RunStore
      yield* statusIs(handle, "completed")
      const child = Option.getOrThrow(yield* store.load("P/StartEvent@0/c1"))
      assert.strictEqual(child.status, "cancelled")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("the parent's run timeout cancels its child", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(parentOf(asking, undefined, "p-timeout"), undefined, {
        runId: "P",
        durable: true,
        timeout: "1 minute"
      })
      assert.strictEqual(yield* handle.settled, "waiting")
      const result = yield* Effect.fork(Effect.flip(handle.result))
      yield* TestClock.adjust("1 minute")
      assert.instanceOf(yield* Fiber.join(result), WorkflowTimeoutError)
      const store = yield* RunStore.RunStore
      assert.strictEqual(Option.getOrThrow(yield* store.load("P/StartEvent@0/c0")).status, "cancelled")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("a step executed again whose durable child had already failed gets the child's own tagged error", () =>
    Effect.gen(function* () {
      // The child, under the id the parent's step gives it, failed before the (simulated) restart.
      yield* Effect.exit(Workflow.run(failing, undefined, { runId: "P/StartEvent@0/c0", durable: true }))
      const error = yield* Effect.flip(
        Workflow.run(parentOf(failing, undefined, "p-ended"), undefined, { runId: "P", durable: true })
      )
      // The same `_tag`, fields and message as the child's `Boom` (rebuilt from its journal, not the class itself).
      const boom = error as { readonly _tag: string; readonly why: string; readonly message: string }
      assert.strictEqual(boom._tag, "Boom")
      assert.strictEqual(boom.why, "no luck")
      assert.instanceOf(error, Error)
      const journal = yield* JournalStore.JournalStore
      const entries = yield* journal.read("P/StartEvent@0/c0", 0)
      const end = entries.map((e) => e.entry).find((e) => e._tag === "RunEnded")
      if (end?._tag !== "RunEnded") return assert.fail("the child's journal has no RunEnded")
      assert.deepStrictEqual(end.error, {
        _tag: "Boom",
        message: '{"why":"no luck","_tag":"Boom"}',
        fields: { why: "no luck", message: "" }
      })
      // Its message as the child's own error had it.
      assert.strictEqual(boom.message, "")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("Effect.catchTag on a child error kept from before a restart sees its fields", () =>
    Effect.gen(function* () {
      const parent = defineWorkflow({ name: "p-ended-catch", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          ctx.run(failing).pipe(
            Effect.map(String),
            Effect.catchTag("Boom", (e) => Effect.succeed(`caught ${e._tag} ${e.why}`)),
            Effect.map((result) => StopEvent.make({ result }))
          ),
        { emits: [StopEvent] }
      )
      yield* Effect.exit(Workflow.run(failing, undefined, { runId: "P/StartEvent@0/c0", durable: true }))
      assert.strictEqual(yield* Workflow.run(parent, undefined, { runId: "P", durable: true }), "caught Boom no luck")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("a child that had died of a defect before a restart ends the step with that defect again", () =>
    Effect.gen(function* () {
      const dying = defineWorkflow({ name: "dying", output: Schema.Number }).step(
        StartEvent,
        () => Effect.die(new Boom({ why: "broken" })),
        { emits: [StopEvent] }
      )
      yield* Effect.exit(Workflow.run(dying, undefined, { runId: "P/StartEvent@0/c0", durable: true }))
      const exit = yield* Effect.exit(
        Workflow.run(parentOf(dying, undefined, "p-died"), undefined, { runId: "P", durable: true })
      )
      if (Exit.isSuccess(exit)) return assert.fail("the parent completed")
      assert.isTrue(Cause.isDie(exit.cause))
      const defect = Cause.squash(exit.cause) as { readonly _tag: string; readonly why: string }
      assert.strictEqual(defect._tag, "Boom")
      assert.strictEqual(defect.why, "broken")
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("a child that had timed out before a restart gives its WorkflowTimeoutError again", () =>
    Effect.gen(function* () {
      const child = yield* Workflow.start(asking, undefined, {
        runId: "P/StartEvent@0/c0",
        durable: true,
        timeout: "1 minute"
      })
      assert.strictEqual(yield* child.settled, "waiting")
      yield* TestClock.adjust("1 minute")
      assert.instanceOf(yield* Effect.flip(child.result), WorkflowTimeoutError)
      const error = yield* Effect.flip(
        Workflow.run(parentOf(asking, undefined, "p-timed-out"), undefined, { runId: "P", durable: true })
      )
      assert.instanceOf(error, WorkflowTimeoutError)
      if (!(error instanceof WorkflowTimeoutError)) return
      assert.strictEqual(error.runId, "P/StartEvent@0/c0")
      assert.strictEqual(error.workflow, "asking")
      assert.strictEqual(Duration.toMillis(error.timeout), 60_000)
      assert.deepStrictEqual(error.activeSteps, ["StartEvent"])
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("a step executed again that starts another workflow under a child's id ends with a mismatch defect", () =>
    Effect.gen(function* () {
      yield* Workflow.run(double, 1, { runId: "P/StartEvent@0/c0", durable: true })
      const exit = yield* Effect.exit(
        Workflow.run(parentOf(asking, undefined, "p-mismatch"), undefined, { runId: "P", durable: true })
      )
      if (Exit.isSuccess(exit)) return assert.fail("the parent completed")
      const defect = Cause.squash(exit.cause)
      assert.instanceOf(defect, Child.ChildWorkflowMismatchError)
      assert.include((defect as Error).message, 'child run P/StartEvent@0/c0 is a run of workflow "double"')
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped(
    "a step executed again whose journaled child had been cancelled ends with the defect ChildRunEndedError",
    () =>
      Effect.gen(function* () {
        // The child, under the id the parent's step gives it, was cancelled before the (simulated) restart: its
        // journal has its end, so it cannot go on.
        const child = yield* Workflow.start(asking, undefined, { runId: "P/StartEvent@0/c0", durable: true })
        assert.strictEqual(yield* child.settled, "waiting")
        yield* child.cancel
        const exit = yield* Effect.exit(
          Workflow.run(parentOf(asking, undefined, "p-cancelled"), undefined, { runId: "P", durable: true })
        )
        if (Exit.isSuccess(exit)) return assert.fail("the parent completed")
        const defect = Cause.squash(exit.cause)
        assert.instanceOf(defect, Child.ChildRunEndedError)
        assert.include(
          (defect as Error).message,
          'child run P/StartEvent@0/c0 of workflow "asking" had already ended (cancelled)'
        )
      }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("under Workflow.run a child that waits for a person fails with HandleRequiredError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Workflow.run(parentOf(asking, undefined, "p-nohandle")))
      assert.strictEqual((error as { _tag: string })._tag, "HandleRequiredError")
    })
  )

  it.effect("ctx.run's input is checked against the child's input schema at compile time", () =>
    Effect.gen(function* () {
      defineWorkflow({ name: "p-types" }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            // @ts-expect-error a string is not the child's number input
            yield* ctx.run(double, "21")
            return StopEvent.make({ result: undefined })
          }),
        { emits: [StopEvent] }
      )
      // The child's events as the parent sees them.
      const events = yield* Workflow.stream(parentOf(double, 2, "p-stream")).pipe(
        Stream.filter(Event.is(Child.ChildEvent)),
        Stream.runCount
      )
      assert.strictEqual(events, 2)
    })
  )
})
