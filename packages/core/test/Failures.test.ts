import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Clock,
  Data,
  Effect,
  Exit,
  Fiber,
  Option,
  Queue,
  Ref,
  Schedule,
  Schema,
  Stream,
  TestClock
} from "effect"
import { defineWorkflow, Event, StartEvent, StepFailed, StopEvent, Workflow } from "@eventflow/core"

const Query = Event.define("Query", { text: Schema.String })

class Boom extends Data.TaggedError("Boom")<{ readonly attempt: number }> {}
class RecoveryFailed extends Data.TaggedError("RecoveryFailed")<{ readonly reason: string }> {}

const collectAll = (stream: Stream.Stream<Event.AnyEvent>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

describe("Failures", () => {
  describe("retry", () => {
    it.effect("Schedule.recurs(2) executes a failing step exactly 3 times with ctx.attempt 1, 2, 3", () =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const wf = defineWorkflow({ name: "recurs-2", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* Ref.update(attempts, (a) => [...a, ctx.attempt])
              return yield* Effect.fail(new Boom({ attempt: ctx.attempt }))
            }),
          { emits: [StopEvent], retry: Schedule.recurs(2) }
        )
        const error = yield* Effect.flip(Workflow.run(wf))
        assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2, 3])
        assert.instanceOf(error, Boom)
        assert.strictEqual((error as Boom).attempt, 3)
      })
    )

    it.effect("a step that succeeds on its third execution ends the run with its result", () =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const wf = defineWorkflow({ name: "recurs-2-ok", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* Ref.update(attempts, (a) => [...a, ctx.attempt])
              if (ctx.attempt < 3) return yield* Effect.fail(new Boom({ attempt: ctx.attempt }))
              return StopEvent.make({ result: `ok on ${ctx.attempt}` })
            }),
          { emits: [StopEvent], retry: Schedule.recurs(2) }
        )
        assert.strictEqual(yield* Workflow.run(wf), "ok on 3")
        assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2, 3])
      })
    )

    it.effect("a spaced retry schedule waits for the clock: each retry runs only after TestClock moves 1 second", () =>
      Effect.gen(function* () {
        const executions = yield* Queue.unbounded<{ readonly attempt: number; readonly at: number }>()
        const wf = defineWorkflow({ name: "spaced", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              const at = yield* Clock.currentTimeMillis
              yield* Queue.offer(executions, { attempt: ctx.attempt, at })
              if (ctx.attempt < 3) return yield* Effect.fail(new Boom({ attempt: ctx.attempt }))
              return StopEvent.make({ result: "done" })
            }),
          { emits: [StopEvent], retry: Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(2)) }
        )
        const fiber = yield* Effect.fork(Workflow.run(wf))

        assert.deepStrictEqual(yield* Queue.take(executions), { attempt: 1, at: 0 })
        yield* TestClock.adjust("999 millis")
        assert.isTrue(Option.isNone(yield* Queue.poll(executions)), "no retry before 1 second has passed")
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(yield* Queue.take(executions), { attempt: 2, at: 1000 })
        yield* TestClock.adjust("500 millis")
        assert.isTrue(Option.isNone(yield* Queue.poll(executions)), "no second retry before 2 seconds have passed")
        yield* TestClock.adjust("500 millis")
        assert.deepStrictEqual(yield* Queue.take(executions), { attempt: 3, at: 2000 })

        assert.strictEqual(yield* Fiber.join(fiber), "done")
        assert.isTrue(Option.isNone(yield* Queue.poll(executions)))
      })
    )
  })

  describe("final failure", () => {
    it.scoped("fails the run with the step's own typed error (unwrapped) and publishes WorkflowFailed last", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "fails", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(Query.make({ text: "q" })), { emits: [Query] })
          .step(Query, (_, ctx) => Effect.fail(new Boom({ attempt: ctx.attempt })), {
            name: "flaky",
            emits: [StopEvent],
            retry: Schedule.recurs(2)
          })
        const handle = yield* Workflow.start(wf)
        const exit = yield* Effect.exit(handle.result)

        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.isDie(exit.cause), "a typed failure is not a defect")
          const failure = Cause.failureOption(exit.cause)
          assert.isTrue(Option.isSome(failure))
          if (Option.isSome(failure)) {
            assert.instanceOf(failure.value, Boom)
            assert.strictEqual(failure.value._tag, "Boom")
            assert.strictEqual((failure.value as Boom).attempt, 3)
          }
        }

        const published = yield* collectAll(handle.events())
        const last = published[published.length - 1]
        assert.strictEqual(last._tag, "WorkflowFailed")
        const failed = last as Event.WorkflowFailed
        assert.strictEqual(failed.step, "flaky")
        assert.strictEqual(failed.attempts, 3)
        assert.instanceOf(failed.error, Boom)
        assert.strictEqual((failed.error as Boom).attempt, 3)
        assert.strictEqual(published.filter((e) => e._tag === "WorkflowFailed").length, 1)
        assert.strictEqual(yield* handle.status, "failed")
      })
    )

    it.effect("Workflow.run fails with the step's error, observable with Effect.flip", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "flip" }).step(StartEvent, () => Effect.fail(new Boom({ attempt: 1 })), {
          emits: [StopEvent]
        })
        const error = yield* Effect.flip(Workflow.run(wf))
        assert.instanceOf(error, Boom)
        assert.strictEqual(error._tag, "Boom")
      })
    )
  })

  describe("StepFailed recovery", () => {
    it.scoped("a step accepting StepFailed receives { step, event, error, attempts } and can return a StopEvent", () =>
      Effect.gen(function* () {
        const received = yield* Ref.make<Option.Option<StepFailed>>(Option.none())
        const wf = defineWorkflow({ name: "recover", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(Query.make({ text: "q" })), { emits: [Query] })
          .step(Query, (_, ctx) => Effect.fail(new Boom({ attempt: ctx.attempt })), {
            name: "flaky",
            emits: [StopEvent],
            retry: Schedule.recurs(1)
          })
          .step(
            StepFailed,
            (failed) =>
              Effect.as(
                Ref.set(received, Option.some(failed)),
                StopEvent.make({ result: `recovered from ${failed.step}` })
              ),
            { name: "recovery", emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        assert.strictEqual(yield* handle.result, "recovered from flaky")

        const failed = Option.getOrThrow(yield* Ref.get(received))
        assert.strictEqual(failed._tag, "StepFailed")
        assert.strictEqual(failed.step, "flaky")
        assert.deepStrictEqual(failed.event, { _tag: "Query", text: "q" })
        assert.instanceOf(failed.error, Boom)
        assert.strictEqual((failed.error as Boom).attempt, 2)
        assert.strictEqual(failed.attempts, 2)

        const published = yield* collectAll(handle.events())
        assert.deepStrictEqual(
          published.map((e) => e._tag),
          ["StopEvent"]
        )
        assert.strictEqual(yield* handle.status, "completed")
      })
    )

    it.scoped("a StepFailed handler's own failure ends the run with that handler's error", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "recover-fails", output: Schema.String })
          .step(StartEvent, () => Effect.fail(new Boom({ attempt: 1 })), { name: "first", emits: [StopEvent] })
          .step(StepFailed, (failed) => Effect.fail(new RecoveryFailed({ reason: `cannot fix ${failed.step}` })), {
            name: "recovery",
            emits: [StopEvent]
          })
        const handle = yield* Workflow.start(wf)
        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, RecoveryFailed)
        assert.strictEqual((error as RecoveryFailed).reason, "cannot fix first")

        const published = yield* collectAll(handle.events())
        assert.strictEqual(published.length, 1)
        const last = published[0] as Event.WorkflowFailed
        assert.strictEqual(last._tag, "WorkflowFailed")
        assert.strictEqual(last.step, "recovery")
        assert.instanceOf(last.error, RecoveryFailed)
        assert.strictEqual(yield* handle.status, "failed")
      })
    )
  })

  describe("defects", () => {
    it.scoped(
      "a defect is not retried; without a StepFailed handler the run dies with it and publishes WorkflowFailed",
      () =>
        Effect.gen(function* () {
          const executions = yield* Ref.make(0)
          const defect = new Error("kaboom")
          const wf = defineWorkflow({ name: "defect", output: Schema.String }).step(
            StartEvent,
            () =>
              Effect.zipRight(
                Ref.update(executions, (n) => n + 1),
                Effect.die(defect)
              ),
            {
              name: "dies",
              emits: [StopEvent],
              retry: Schedule.recurs(3)
            }
          )
          const handle = yield* Workflow.start(wf)
          const exit = yield* Effect.exit(handle.result)

          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            assert.isTrue(Cause.isDie(exit.cause), "the run ends with the defect")
            assert.isTrue(Option.isNone(Cause.failureOption(exit.cause)), "the defect is not turned into a failure")
            assert.strictEqual(Option.getOrThrow(Cause.dieOption(exit.cause)), defect)
          }
          assert.strictEqual(yield* Ref.get(executions), 1, "defects are not retried")

          const published = yield* collectAll(handle.events())
          assert.strictEqual(published.length, 1)
          const last = published[0] as Event.WorkflowFailed
          assert.strictEqual(last._tag, "WorkflowFailed")
          assert.strictEqual(last.step, "dies")
          assert.strictEqual(last.error, defect)
          assert.strictEqual(last.attempts, 1)
        })
    )

    it.effect("Workflow.run dies with the defect of a step", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "defect-run" }).step(
          StartEvent,
          () => Effect.dieMessage("broken invariant"),
          {
            emits: [StopEvent]
          }
        )
        const exit = yield* Effect.exit(Workflow.run(wf))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
        if (Exit.isFailure(exit)) {
          const die = Option.getOrThrow(Cause.dieOption(exit.cause))
          assert.instanceOf(die, Error)
          assert.strictEqual((die as Error).message, "broken invariant")
        }
      })
    )
  })

  describe("trace", () => {
    it.scoped("each failed execution publishes a StepFailedAttempt trace event, visible only with internal: true", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "trace-attempts", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(Query.make({ text: "q" })), { emits: [Query] })
          .step(
            Query,
            (_, ctx) =>
              ctx.attempt < 3
                ? Effect.fail(new Boom({ attempt: ctx.attempt }))
                : Effect.succeed(StopEvent.make({ result: "third time lucky" })),
            { name: "flaky", emits: [StopEvent], retry: Schedule.recurs(2) }
          )
        const handle = yield* Workflow.start(wf)
        assert.strictEqual(yield* handle.result, "third time lucky")

        const traced = yield* collectAll(handle.events({ internal: true }))
        const started = traced.filter(
          (e): e is typeof Event.StepStarted.Type => e._tag === "StepStarted" && (e as any).step === "flaky"
        )
        const failedAttempts = traced.filter(
          (e): e is typeof Event.StepFailedAttempt.Type => e._tag === "StepFailedAttempt"
        )
        assert.deepStrictEqual(
          started.map((e) => e.attempt),
          [1, 2, 3]
        )
        assert.deepStrictEqual(
          failedAttempts.map((e) => [e.step, e.attempt]),
          [
            ["flaky", 1],
            ["flaky", 2]
          ]
        )
        for (const e of failedAttempts) {
          assert.strictEqual(e.eventId, started[0].eventId)
          assert.instanceOf(e.error, Boom)
          assert.strictEqual((e.error as Boom).attempt, e.attempt)
        }
        assert.strictEqual(traced[traced.length - 1]._tag, "StopEvent")

        const visible = yield* collectAll(handle.events())
        assert.isFalse(visible.some((e) => e._tag === "StepFailedAttempt" || e._tag === "StepStarted"))
      })
    )

    it.scoped("a failing step without retry publishes one StepFailedAttempt before WorkflowFailed", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "trace-once" }).step(
          StartEvent,
          () => Effect.fail(new Boom({ attempt: 1 })),
          {
            name: "once",
            emits: [StopEvent]
          }
        )
        const handle = yield* Workflow.start(wf)
        yield* Effect.flip(handle.result)
        const traced = yield* collectAll(handle.events({ internal: true }))
        const tags = traced.map((e) => e._tag)
        const failedAttempts = traced.filter((e) => e._tag === "StepFailedAttempt") as Array<
          typeof Event.StepFailedAttempt.Type
        >
        assert.strictEqual(failedAttempts.length, 1)
        assert.strictEqual(failedAttempts[0].step, "once")
        assert.strictEqual(failedAttempts[0].attempt, 1)
        assert.isTrue(tags.indexOf("StepFailedAttempt") < tags.indexOf("WorkflowFailed"))
        assert.strictEqual(tags[tags.length - 1], "WorkflowFailed")
      })
    )
  })
})
