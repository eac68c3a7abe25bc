import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Data,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Option,
  Queue,
  Ref,
  Schema,
  Scope,
  Stream,
  TestClock
} from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  InvalidEventError,
  type RunHandle,
  RunNotActiveError,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowCancelledError,
  WorkflowStalledError
} from "@eventflow/core"
import { stores } from "./utils.js"

const Fast = Event.define("Fast", {})
const Slow = Event.define("Slow", { n: Schema.Number })
const Progress = Event.define("Progress", { text: Schema.String })
const A = Event.define("A", { value: Schema.String })
const B = Event.define("B", { value: Schema.String })

class Boom extends Data.TaggedError("Boom")<{}> {}

const collectAll = (stream: Stream.Stream<Event.AnyEvent>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Every terminal event of the run's full (internal) log, in order. */
const terminalTags = (handle: Pick<RunHandle, "events">) =>
  Effect.map(collectAll(handle.events({ internal: true })), (events) => ({
    terminals: events.filter(Event.isTerminal).map((e) => e._tag),
    last: events[events.length - 1]?._tag
  }))

/** A workflow whose only step signals `started` and then blocks until interrupted. */
const blocking = (
  name: string,
  started: Deferred.Deferred<void>,
  onInterrupt: Effect.Effect<void> = Effect.void,
  onExit: Effect.Effect<void> = Effect.void
) =>
  defineWorkflow({ name, output: Schema.String }).step(
    StartEvent,
    () =>
      Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
        Effect.onInterrupt(() => onInterrupt),
        Effect.ensuring(onExit)
      ),
    { name: "block", emits: [StopEvent] }
  )

/** A workflow that asks a person and finishes with the answer. */
const asking = defineWorkflow({ name: "asking", output: Schema.String })
  .step(StartEvent, () => Effect.succeed(InputRequired.make({ prompt: "your name?" })), {
    name: "ask",
    emits: [InputRequired]
  })
  .step(HumanResponse, (answer) => Effect.succeed(StopEvent.make({ result: `hello ${answer.response}` })), {
    name: "greet",
    emits: [StopEvent]
  })

describe("Lifecycle", () => {
  describe("cancel", () => {
    it.scoped(
      "handle.cancel: result fails with WorkflowCancelledError, WorkflowCancelled is published once, events() ends",
      () =>
        Effect.gen(function* () {
          const started = yield* Deferred.make<void>()
          const interrupted = yield* Ref.make(false)
          const handle = yield* Workflow.start(blocking("cancel-me", started, Ref.set(interrupted, true)))
          yield* Deferred.await(started)
          const live = yield* Effect.fork(collectAll(handle.events()))
          yield* Effect.yieldNow()

          yield* handle.cancel
          assert.isTrue(yield* Ref.get(interrupted), "the running step was interrupted by the time cancel returned")

          const error = yield* Effect.flip(handle.result)
          assert.instanceOf(error, WorkflowCancelledError)
          assert.strictEqual((error as WorkflowCancelledError).runId, handle.runId)
          assert.strictEqual((error as WorkflowCancelledError).workflow, "cancel-me")

          const followed = yield* Fiber.join(live)
          assert.deepStrictEqual(
            followed.map((e) => e._tag),
            ["WorkflowCancelled"]
          )
          yield* handle.cancel
          const replayed = yield* collectAll(handle.events())
          assert.deepStrictEqual(
            replayed.map((e) => e._tag),
            ["WorkflowCancelled"],
            "a second cancel publishes nothing more"
          )
          assert.strictEqual(yield* handle.status, "cancelled")
        })
    )
  })

  describe("first StopEvent wins", () => {
    it.scoped("interrupts the sibling invocations, whose later ctx.write calls never appear in events()", () =>
      Effect.gen(function* () {
        const slowStarted = yield* Queue.unbounded<number>()
        const gate = yield* Deferred.make<void>()
        const interrupted = yield* Ref.make<ReadonlyArray<number>>([])
        const wf = defineWorkflow({ name: "first-stop", output: Schema.String })
          .step(StartEvent, () => Effect.succeed([Slow.make({ n: 1 }), Slow.make({ n: 2 }), Fast.make({})]), {
            name: "fanOut",
            emits: [Slow, Fast]
          })
          .step(
            Slow,
            (slow, ctx) =>
              Effect.gen(function* () {
                yield* ctx.write(Progress.make({ text: `slow ${slow.n} started` }))
                yield* Queue.offer(slowStarted, slow.n)
                yield* Deferred.await(gate)
                yield* ctx.write(Progress.make({ text: `slow ${slow.n} late write` }))
                return StopEvent.make({ result: `slow ${slow.n}` })
              }).pipe(Effect.onInterrupt(() => Ref.update(interrupted, (ns) => [...ns, slow.n]))),
            { name: "slow", emits: [StopEvent] }
          )
          .step(
            Fast,
            () =>
              Effect.gen(function* () {
                yield* Queue.take(slowStarted)
                yield* Queue.take(slowStarted)
                return StopEvent.make({ result: "fast" })
              }),
            { name: "fast", emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        assert.strictEqual(yield* handle.result, "fast")
        assert.deepStrictEqual([...(yield* Ref.get(interrupted))].sort(), [1, 2])

        yield* Deferred.succeed(gate, undefined)
        yield* Effect.yieldNow()
        const published = yield* collectAll(handle.events())
        const texts = published.filter(Event.is(Progress)).map((e) => e.text)
        assert.deepStrictEqual([...texts].sort(), ["slow 1 started", "slow 2 started"])
        assert.deepStrictEqual(published[published.length - 1], StopEvent.make({ result: "fast" }))
        assert.strictEqual(published.filter(Event.isTerminal).length, 1)
      })
    )
  })

  describe("exactly one terminal event", () => {
    it.scoped("success publishes one StopEvent, last", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "t-success", output: Schema.String })
          .step(StartEvent, () => Effect.succeed([A.make({ value: "1" }), A.make({ value: "2" })]), { emits: [A] })
          .step(A, (a) => Effect.succeed(StopEvent.make({ result: a.value })), { emits: [StopEvent] })
        const handle = yield* Workflow.start(wf)
        yield* handle.result
        assert.deepStrictEqual(yield* terminalTags(handle), { terminals: ["StopEvent"], last: "StopEvent" })
      })
    )

    it.scoped("failure publishes one WorkflowFailed, last", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "t-failure" })
          .step(StartEvent, () => Effect.succeed([A.make({ value: "1" }), A.make({ value: "2" })]), { emits: [A] })
          .step(A, () => Effect.fail(new Boom()), { emits: [StopEvent] })
        const handle = yield* Workflow.start(wf)
        yield* Effect.flip(handle.result)
        assert.deepStrictEqual(yield* terminalTags(handle), { terminals: ["WorkflowFailed"], last: "WorkflowFailed" })
      })
    )

    it.scoped("timeout publishes one WorkflowTimedOut, last", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const handle = yield* Workflow.start(blocking("t-timeout", started), undefined, { timeout: "1 minute" })
        yield* Deferred.await(started)
        yield* TestClock.adjust("1 minute")
        yield* Effect.flip(handle.result)
        yield* handle.cancel
        assert.deepStrictEqual(yield* terminalTags(handle), {
          terminals: ["WorkflowTimedOut"],
          last: "WorkflowTimedOut"
        })
      })
    )

    it.scoped("cancel publishes one WorkflowCancelled, last", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const handle = yield* Workflow.start(blocking("t-cancel", started))
        yield* Deferred.await(started)
        yield* handle.cancel
        yield* Effect.flip(handle.result)
        assert.deepStrictEqual(yield* terminalTags(handle), {
          terminals: ["WorkflowCancelled"],
          last: "WorkflowCancelled"
        })
      })
    )

    it.scoped("stall publishes one WorkflowFailed, last", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "t-stall" }).step(StartEvent, () => Effect.void, { emits: [StopEvent] })
        const handle = yield* Workflow.start(wf)
        yield* Effect.flip(handle.result)
        yield* handle.cancel
        assert.deepStrictEqual(yield* terminalTags(handle), { terminals: ["WorkflowFailed"], last: "WorkflowFailed" })
      })
    )
  })

  describe("stalls", () => {
    it.scoped("a collect that can never complete fails with WorkflowStalledError naming the partial buffer", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "stall-collect", output: Schema.String })
          // declares B, but only ever returns A: the join below can never complete
          .step(StartEvent, () => Effect.succeed(A.make({ value: "a" })), { name: "produce", emits: [A, B] })
          .step(
            [A, B],
            (event, ctx) =>
              Effect.map(ctx.collect(event, [A, B]), (collected) =>
                Option.isSome(collected)
                  ? StopEvent.make({ result: collected.value.map((e) => e.value).join("+") })
                  : undefined
              ),
            { name: "join", emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, WorkflowStalledError)
        const stalled = error as WorkflowStalledError
        assert.strictEqual(stalled.runId, handle.runId)
        assert.strictEqual(stalled.waitingFor.length, 1)
        assert.include(stalled.waitingFor[0], "join")
        assert.include(stalled.waitingFor[0], "A")
        assert.include(stalled.waitingFor[0], "collect")

        const published = yield* collectAll(handle.events())
        assert.strictEqual(published.length, 1)
        const failed = published[0] as Event.WorkflowFailed
        assert.strictEqual(failed._tag, "WorkflowFailed")
        assert.isNull(failed.step)
        assert.strictEqual(yield* handle.status, "failed")
      })
    )

    it.effect("a step that returns nothing fails the run with WorkflowStalledError instead of hanging", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "stall-void" }).step(StartEvent, () => Effect.void, {
          name: "nothing",
          emits: [StopEvent]
        })
        // no TestClock.adjust: the run must end on its own, without waiting for time to pass
        const error = yield* Effect.flip(Workflow.run(wf))
        assert.instanceOf(error, WorkflowStalledError)
        assert.deepStrictEqual((error as WorkflowStalledError).waitingFor, [])
      })
    )

    it.scoped("a run with an unanswered InputRequired is not stalled: status is waiting until the answer comes", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(asking)
        const prompt = Option.getOrThrow(yield* Stream.runHead(handle.events()))
        assert.deepStrictEqual(prompt, InputRequired.make({ prompt: "your name?", requestId: "0/ask/0" }))
        assert.strictEqual(yield* handle.status, "waiting")
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* handle.status, "waiting")

        yield* handle.send(HumanResponse.make({ response: "Ada" }))
        assert.strictEqual(yield* handle.result, "hello Ada")
        assert.strictEqual(yield* handle.status, "completed")
      })
    )

    it.scoped("a run whose steps accept HumanResponse is not stalled when idle: status is waiting", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "wakeable", output: Schema.String })
          .step(StartEvent, () => Effect.void, { name: "begin", emits: [] })
          .step(HumanResponse, (answer) => Effect.succeed(StopEvent.make({ result: answer.response })), {
            name: "answer",
            emits: [StopEvent]
          })
        const handle = yield* Workflow.start(wf)
        yield* Stream.runDrain(
          Stream.takeUntil(handle.events({ internal: true }), (e) => e._tag === "RunIdle" || Event.isTerminal(e))
        )
        assert.strictEqual(yield* handle.status, "waiting")
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* handle.status, "waiting")

        yield* handle.send(HumanResponse.make({ response: "woken" }))
        assert.strictEqual(yield* handle.result, "woken")
      })
    )
  })

  describe("scope", () => {
    it.effect("closing the scope of Workflow.start interrupts the steps and waits for their finalizers", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Ref.make(false)
        const finalized = yield* Ref.make(false)
        const stepFiber = yield* Ref.make<Option.Option<Fiber.RuntimeFiber<any, any>>>(Option.none())
        const wf = defineWorkflow({ name: "scoped", output: Schema.String }).step(
          StartEvent,
          () =>
            Effect.gen(function* () {
              yield* Ref.set(stepFiber, Fiber.getCurrentFiber())
              yield* Deferred.succeed(started, undefined)
              return yield* Effect.never
            }).pipe(
              Effect.onInterrupt(() => Ref.set(interrupted, true)),
              // a finalizer that takes a few scheduler turns: close must still wait for it
              Effect.ensuring(Effect.zipRight(Effect.repeatN(Effect.yieldNow(), 5), Ref.set(finalized, true)))
            ),
          { name: "block", emits: [StopEvent] }
        )
        const scope = yield* Scope.make()
        const handle = yield* Scope.extend(Workflow.start(wf), scope)
        yield* Deferred.await(started)
        assert.strictEqual(yield* handle.status, "running")

        yield* Scope.close(scope, Exit.void)
        assert.isTrue(yield* Ref.get(interrupted), "the step was interrupted")
        assert.isTrue(yield* Ref.get(finalized), "the step's finalizer ran before Scope.close returned")
        const fiber = Option.getOrThrow(yield* Ref.get(stepFiber))
        assert.isNotNull(fiber.unsafePoll(), "the step's fiber is done")

        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, WorkflowCancelledError)
        assert.strictEqual(yield* handle.status, "cancelled")
        const published = yield* collectAll(handle.events())
        assert.deepStrictEqual(
          published.map((e) => e._tag),
          ["WorkflowCancelled"]
        )
      })
    )

    it.effect("leaving Effect.scoped cancels a run started inside it", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Ref.make(false)
        const finalized = yield* Ref.make(false)
        const handle = yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* Workflow.start(
              blocking("scoped-block", started, Ref.set(interrupted, true), Ref.set(finalized, true))
            )
            yield* Deferred.await(started)
            return handle
          })
        )
        assert.isTrue(yield* Ref.get(interrupted))
        assert.isTrue(yield* Ref.get(finalized))
        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, WorkflowCancelledError)
      })
    )
  })

  describe("send", () => {
    it.scoped("handle.send to a finished run fails with RunNotActiveError", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(asking)
        yield* Stream.runHead(handle.events())
        yield* handle.send(HumanResponse.make({ response: "Ada" }))
        yield* handle.result
        const error = yield* Effect.flip(handle.send(HumanResponse.make({ response: "again" })))
        assert.instanceOf(error, RunNotActiveError)
        assert.strictEqual((error as RunNotActiveError).runId, handle.runId)
        assert.strictEqual((error as RunNotActiveError).status, "completed")
      })
    )

    it.scoped("handle.send to a cancelled run fails with RunNotActiveError", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(asking)
        yield* handle.cancel
        const error = yield* Effect.flip(handle.send(HumanResponse.make({ response: "late" })))
        assert.instanceOf(error, RunNotActiveError)
        assert.strictEqual((error as RunNotActiveError).status, "cancelled")
      })
    )

    it.scoped(
      "handle.send to a durable run whose scope closed fails with RunNotActiveError (detached): nothing is taken " +
        "that would not be journaled, and the run's resume takes the answer",
      () =>
        Effect.gen(function* () {
          const { journal, provide } = yield* stores
          const scope = yield* Scope.make()
          const handle = yield* provide(Workflow.start(asking, undefined, { durable: true, runId: "left" })).pipe(
            Scope.extend(scope)
          )
          yield* Stream.runHead(handle.events().pipe(Stream.filter((e) => e._tag === "InputRequired")))
          yield* Scope.close(scope, Exit.void)
          const journaled = (yield* Effect.flatMap(journal, (j) => j.read("left"))).length
          const error = yield* Effect.flip(handle.send(HumanResponse.make({ response: "Ada" })))
          assert.instanceOf(error, RunNotActiveError)
          assert.strictEqual((error as RunNotActiveError).status, "detached")
          assert.include(error.message, "Workflow.resume")
          assert.strictEqual((yield* Effect.flatMap(journal, (j) => j.read("left"))).length, journaled)
          const resumed = yield* provide(Workflow.resume(asking, "left"))
          yield* resumed.send(HumanResponse.make({ response: "Ada" }))
          assert.strictEqual(yield* resumed.result, "hello Ada")
        })
    )

    it.scoped("handle.send with an unknown tag or bad fields fails with InvalidEventError and changes nothing", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(asking)
        yield* Stream.runHead(handle.events())

        const unknownTag = yield* Effect.flip(handle.send({ _tag: "NoSuchEvent", response: "x" }))
        assert.instanceOf(unknownTag, InvalidEventError)
        assert.strictEqual((unknownTag as InvalidEventError).tag, "NoSuchEvent")

        const badFields = yield* Effect.flip(handle.send({ _tag: "HumanResponse", response: 42 }))
        assert.instanceOf(badFields, InvalidEventError)
        assert.strictEqual((badFields as InvalidEventError).tag, "HumanResponse")

        const notAnEvent = yield* Effect.flip(handle.send("hello"))
        assert.instanceOf(notAnEvent, InvalidEventError)
        assert.isUndefined((notAnEvent as InvalidEventError).tag)

        assert.strictEqual(yield* handle.status, "waiting")
        yield* handle.send({ _tag: "HumanResponse", response: "Ada" })
        assert.strictEqual(yield* handle.result, "hello Ada")
      })
    )
  })

  describe("status", () => {
    it.scoped("is running while a step runs, then completed", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "s-running", output: Schema.String }).step(
          StartEvent,
          () =>
            Effect.zipRight(
              Deferred.succeed(started, undefined),
              Effect.as(Deferred.await(gate), StopEvent.make({ result: "done" }))
            ),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* Deferred.await(started)
        assert.strictEqual(yield* handle.status, "running")
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* handle.result, "done")
        assert.strictEqual(yield* handle.status, "completed")
      })
    )

    it.scoped("is waiting while an InputRequired is unanswered", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(asking)
        yield* Stream.runHead(handle.events())
        assert.strictEqual(yield* handle.status, "waiting")
      })
    )

    it.scoped("is failed after a step failure", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "s-failed" }).step(StartEvent, () => Effect.fail(new Boom()), {
          emits: [StopEvent]
        })
        const handle = yield* Workflow.start(wf)
        yield* Effect.flip(handle.result)
        assert.strictEqual(yield* handle.status, "failed")
      })
    )

    it.scoped("is cancelled after handle.cancel", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const handle = yield* Workflow.start(blocking("s-cancelled", started))
        yield* Deferred.await(started)
        yield* handle.cancel
        assert.strictEqual(yield* handle.status, "cancelled")
      })
    )

    it.scoped("is timed-out after the run timeout expires", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const handle = yield* Workflow.start(blocking("s-timed-out", started), undefined, { timeout: "10 seconds" })
        yield* Deferred.await(started)
        yield* TestClock.adjust("10 seconds")
        yield* Effect.flip(handle.result)
        assert.strictEqual(yield* handle.status, "timed-out")
      })
    )
  })
})
