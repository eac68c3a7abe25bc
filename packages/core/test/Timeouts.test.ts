import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Deferred,
  Duration,
  Effect,
  Fiber,
  Option,
  Queue,
  Ref,
  Schedule,
  Schema,
  Stream,
  TestClock
} from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  StartEvent,
  StepTimeoutError,
  StopEvent,
  Workflow,
  WorkflowTimeoutError
} from "@eventflow/core"

const Left = Event.define("Left", {})
const Right = Event.define("Right", {})

const collectAll = (stream: Stream.Stream<Event.AnyEvent>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

describe("Timeouts", () => {
  describe("step timeout", () => {
    it.effect("an execution longer than the step's timeout fails with StepTimeoutError", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "step-timeout", output: Schema.String }).step(
          StartEvent,
          () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never),
          { name: "slow", emits: [StopEvent], timeout: "1 second" }
        )
        const fiber = yield* Effect.fork(Effect.flip(Workflow.run(wf)))
        yield* Deferred.await(started)
        yield* TestClock.adjust("999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "not timed out before 1 second")
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, StepTimeoutError)
        const timeout = error as StepTimeoutError
        assert.strictEqual(timeout._tag, "StepTimeoutError")
        assert.strictEqual(timeout.step, "slow")
        assert.strictEqual(timeout.attempt, 1)
        assert.strictEqual(timeout.eventId, "0")
        assert.isTrue(Duration.equals(timeout.timeout, Duration.seconds(1)))
      })
    )

    it.scoped("a timed-out execution is retried when retry allows, and the retry can succeed", () =>
      Effect.gen(function* () {
        const attempts = yield* Queue.unbounded<number>()
        const wf = defineWorkflow({ name: "step-timeout-retry", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.zipRight(
              Queue.offer(attempts, ctx.attempt),
              ctx.attempt === 1 ? Effect.never : Effect.succeed(StopEvent.make({ result: `attempt ${ctx.attempt}` }))
            ),
          { name: "slow", emits: [StopEvent], timeout: "1 second", retry: Schedule.recurs(1) }
        )
        const handle = yield* Workflow.start(wf)
        assert.strictEqual(yield* Queue.take(attempts), 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* handle.result, "attempt 2")
        assert.strictEqual(yield* Queue.take(attempts), 2)

        const traced = yield* collectAll(handle.events({ internal: true }))
        const failedAttempts = traced.filter((e) => e._tag === "StepFailedAttempt") as Array<
          typeof Event.StepFailedAttempt.Type
        >
        assert.strictEqual(failedAttempts.length, 1)
        assert.strictEqual(failedAttempts[0].attempt, 1)
        assert.instanceOf(failedAttempts[0].error, StepTimeoutError)
      })
    )

    it.effect("when every allowed execution times out, the run fails with the last StepTimeoutError", () =>
      Effect.gen(function* () {
        const attempts = yield* Queue.unbounded<number>()
        const wf = defineWorkflow({ name: "step-timeout-exhausted" }).step(
          StartEvent,
          (_, ctx) => Effect.zipRight(Queue.offer(attempts, ctx.attempt), Effect.never),
          { name: "slow", emits: [StopEvent], timeout: "1 second", retry: Schedule.recurs(1) }
        )
        const fiber = yield* Effect.fork(Effect.flip(Workflow.run(wf)))
        assert.strictEqual(yield* Queue.take(attempts), 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Queue.take(attempts), 2)
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the second execution is still running")
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, StepTimeoutError)
        assert.strictEqual((error as StepTimeoutError).attempt, 2)
        assert.isTrue(Option.isNone(yield* Queue.poll(attempts)), "no third execution")
      })
    )
  })

  describe("run timeout", () => {
    it.scoped(
      "defineWorkflow timeout: WorkflowTimeoutError names the active steps, WorkflowTimedOut is published, events() ends",
      () =>
        Effect.gen(function* () {
          const leftStarted = yield* Deferred.make<void>()
          const rightStarted = yield* Deferred.make<void>()
          const interrupted = yield* Ref.make<ReadonlyArray<string>>([])
          const hang = (name: string, started: Deferred.Deferred<void>) =>
            Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
              Effect.onInterrupt(() => Ref.update(interrupted, (names) => [...names, name]))
            )
          const wf = defineWorkflow({ name: "run-timeout", output: Schema.String, timeout: "5 seconds" })
            .step(StartEvent, () => Effect.succeed([Left.make({}), Right.make({})]), {
              name: "fanOut",
              emits: [Left, Right]
            })
            .step(Left, () => hang("left", leftStarted), { name: "left", emits: [StopEvent] })
            .step(Right, () => hang("right", rightStarted), { name: "right", emits: [StopEvent] })
          const handle = yield* Workflow.start(wf)
          yield* Deferred.await(leftStarted)
          yield* Deferred.await(rightStarted)
          const live = yield* Effect.fork(collectAll(handle.events()))

          yield* TestClock.adjust("4999 millis")
          assert.strictEqual(yield* handle.status, "running", "not timed out before 5 seconds")
          yield* TestClock.adjust("1 millis")

          const error = yield* Effect.flip(handle.result)
          assert.instanceOf(error, WorkflowTimeoutError)
          const timeout = error as WorkflowTimeoutError
          assert.isTrue(Duration.equals(timeout.timeout, Duration.seconds(5)))
          assert.deepStrictEqual([...timeout.activeSteps].sort(), ["left", "right"])
          assert.deepStrictEqual([...(yield* Ref.get(interrupted))].sort(), ["left", "right"])

          const followed = yield* Fiber.join(live)
          assert.deepStrictEqual(
            followed.map((e) => e._tag),
            ["WorkflowTimedOut"],
            "a live events() stream ends after the terminal event"
          )
          const published = yield* collectAll(handle.events())
          assert.strictEqual(published.length, 1)
          const timedOut = published[0] as Event.WorkflowTimedOut
          assert.strictEqual(timedOut._tag, "WorkflowTimedOut")
          assert.isTrue(Duration.equals(timedOut.timeout, Duration.seconds(5)))
          assert.deepStrictEqual([...timedOut.activeSteps].sort(), ["left", "right"])
          assert.strictEqual(yield* handle.status, "timed-out")
        })
    )

    it.effect("the run option timeout applies to Workflow.run and overrides the workflow's timeout", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "run-option-timeout", timeout: "1 hour" }).step(
          StartEvent,
          () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never),
          { name: "forever", emits: [StopEvent] }
        )
        const fiber = yield* Effect.fork(Effect.flip(Workflow.run(wf, undefined, { timeout: "2 seconds" })))
        yield* Deferred.await(started)
        yield* TestClock.adjust("1999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, WorkflowTimeoutError)
        assert.isTrue(Duration.equals((error as WorkflowTimeoutError).timeout, Duration.seconds(2)))
        assert.deepStrictEqual((error as WorkflowTimeoutError).activeSteps, ["forever"])
      })
    )

    it.scoped("a run option timeout on a workflow without one ends a run waiting for a person", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "waiting-timeout", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "name?" }) }), (answer) =>
              StopEvent.make({ result: answer.response })
            ),
          { name: "ask", emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf, undefined, { timeout: "30 seconds" })
        const prompt = yield* Stream.runHead(handle.events())
        assert.strictEqual(Option.getOrThrow(prompt)._tag, "InputRequired")
        assert.strictEqual(yield* handle.status, "waiting")

        yield* TestClock.adjust("30 seconds")
        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, WorkflowTimeoutError)
        assert.deepStrictEqual((error as WorkflowTimeoutError).activeSteps, ["ask"])
        const published = yield* collectAll(handle.events())
        assert.deepStrictEqual(
          published.map((e) => e._tag),
          ["InputRequired", "WorkflowTimedOut"]
        )
        assert.strictEqual(yield* handle.status, "timed-out")
      })
    )

    it.effect("a run that finishes before its timeout succeeds and is not timed out later", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "fast", output: Schema.String, timeout: "1 second" }).step(
          StartEvent,
          () => Effect.as(Effect.sleep("500 millis"), StopEvent.make({ result: "in time" })),
          { emits: [StopEvent] }
        )
        const fiber = yield* Effect.fork(Workflow.run(wf))
        yield* TestClock.adjust("500 millis")
        assert.strictEqual(yield* Fiber.join(fiber), "in time")
      })
    )
  })
})
