import { assert, describe, it } from "@effect/vitest"
import { Chunk, Data, Deferred, Effect, Either, Fiber, Option, Ref, Schema, Stream } from "effect"
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent, Workflow } from "@eventflow/core"

const Progress = Event.define("Progress", { n: Schema.Number })
const Query = Event.define("Query", { text: Schema.String })
const Item = Event.define("Item", { i: Schema.Number })
const Seen = Event.define("Seen", { i: Schema.Number, eventId: Schema.String })
const Go = Event.define("Go", {})
const Next = Event.define("Next", {})
const Orphan = Event.define("Orphan", {})

class Boom extends Data.TaggedError("Boom")<{ readonly reason: string }> {}

/** Lets every other fiber run until `done` holds (bounded, so a broken engine fails an assertion, never hangs). */
const yieldUntil = (done: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !(yield* done); i++) yield* Effect.yieldNow()
  })

/** Everything a stream publishes, as plain records (`any`: the events are compared field by field). */
const collectAll = (stream: Stream.Stream<Event.AnyEvent>) =>
  Effect.map(Stream.runCollect(stream), (chunk): ReadonlyArray<any> => Chunk.toReadonlyArray(chunk))

/**
 * A run that writes Progress 1, holds on `first`, writes Progress 2, holds on `second`, then stops with "done".
 * `wrote1` / `wrote2` complete right after each write.
 */
const makeGated = Effect.gen(function* () {
  const first = yield* Deferred.make<void>()
  const second = yield* Deferred.make<void>()
  const wrote1 = yield* Deferred.make<void>()
  const wrote2 = yield* Deferred.make<void>()
  const wf = defineWorkflow({ name: "gated", output: Schema.String }).step(
    StartEvent,
    (_, ctx) =>
      Effect.gen(function* () {
        yield* ctx.write(Progress.make({ n: 1 }))
        yield* Deferred.succeed(wrote1, undefined)
        yield* Deferred.await(first)
        yield* ctx.write(Progress.make({ n: 2 }))
        yield* Deferred.succeed(wrote2, undefined)
        yield* Deferred.await(second)
        return StopEvent.make({ result: "done" })
      }),
    { emits: [StopEvent] }
  )
  return { wf, first, second, wrote1, wrote2 }
})

const gatedEvents = [Progress.make({ n: 1 }), Progress.make({ n: 2 }), StopEvent.make({ result: "done" })]

describe("Events", () => {
  it.scoped("events() replays what was published so far, follows live, and ends right after the terminal event", () =>
    Effect.gen(function* () {
      const gated = yield* makeGated
      const handle = yield* Workflow.start(gated.wf)
      yield* Deferred.await(gated.wrote1)
      const seen = yield* Ref.make<Array<Event.AnyEvent>>([])
      const reader = yield* Effect.fork(
        Stream.runForEach(handle.events(), (event) => Ref.update(seen, (xs) => [...xs, event]))
      )
      const seenCount = (n: number) => Effect.map(Ref.get(seen), (xs) => xs.length >= n)

      yield* yieldUntil(seenCount(1))
      assert.deepStrictEqual(yield* Ref.get(seen), [Progress.make({ n: 1 })])

      yield* Deferred.succeed(gated.first, undefined)
      yield* Deferred.await(gated.wrote2)
      yield* yieldUntil(seenCount(2))
      assert.deepStrictEqual(yield* Ref.get(seen), [Progress.make({ n: 1 }), Progress.make({ n: 2 })])
      assert.strictEqual(yield* handle.status, "running")
      assert.isTrue(Option.isNone(yield* Fiber.poll(reader)))

      yield* Deferred.succeed(gated.second, undefined)
      assert.strictEqual(yield* handle.result, "done")
      yield* yieldUntil(Effect.map(Fiber.poll(reader), Option.isSome))
      const exit = yield* Fiber.poll(reader)
      assert.isTrue(Option.isSome(exit) && exit.value._tag === "Success")
      assert.deepStrictEqual(yield* Ref.get(seen), gatedEvents)
    })
  )

  it.scoped("every subscriber gets the full replay, whenever it subscribes (even after the end)", () =>
    Effect.gen(function* () {
      const gated = yield* makeGated
      const handle = yield* Workflow.start(gated.wf)
      const atStart = yield* Effect.fork(collectAll(handle.events()))
      yield* Deferred.await(gated.wrote1)
      const afterFirst = yield* Effect.fork(collectAll(handle.events()))
      yield* Deferred.succeed(gated.first, undefined)
      yield* Deferred.await(gated.wrote2)
      const afterSecond = yield* Effect.fork(collectAll(handle.events()))
      yield* Deferred.succeed(gated.second, undefined)
      yield* handle.result
      const afterEnd = yield* collectAll(handle.events())
      assert.deepStrictEqual(yield* Fiber.join(atStart), gatedEvents)
      assert.deepStrictEqual(yield* Fiber.join(afterFirst), gatedEvents)
      assert.deepStrictEqual(yield* Fiber.join(afterSecond), gatedEvents)
      assert.deepStrictEqual(afterEnd, gatedEvents)
    })
  )

  it.scoped("a successful run publishes exactly one terminal event, last, even when two steps return a StopEvent", () =>
    Effect.gen(function* () {
      const latch = yield* Deferred.make<void>()
      const started = yield* Ref.make(0)
      const stopper = (name: string) => () =>
        Effect.gen(function* () {
          yield* Ref.update(started, (n) => n + 1)
          yield* Deferred.await(latch)
          return StopEvent.make({ result: name })
        })
      const wf = defineWorkflow({ name: "two-stops", output: Schema.String })
        .step(StartEvent, () => Effect.succeed(Go.make()), { emits: [Go] })
        .step(Go, stopper("left"), { emits: [StopEvent], name: "left" })
        .step(Go, stopper("right"), { emits: [StopEvent], name: "right" })
      const handle = yield* Workflow.start(wf)
      yield* yieldUntil(Effect.map(Ref.get(started), (n) => n === 2))
      assert.strictEqual(yield* Ref.get(started), 2)
      yield* Deferred.succeed(latch, undefined)
      const result = yield* handle.result
      for (const internal of [false, true]) {
        const events = yield* collectAll(handle.events({ internal }))
        const terminals = events.filter(Event.isTerminal)
        assert.deepStrictEqual(terminals, [StopEvent.make({ result })])
        assert.strictEqual(events[events.length - 1], terminals[0])
      }
    })
  )

  it.scoped(
    "events({ internal: true }) adds StepStarted, StepCompleted and EventDispatched with deterministic ids",
    () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "traced", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(Query.make({ text: "q" })), { emits: [Query] })
          .step(Query, (q, ctx) => Effect.as(ctx.write(Progress.make({ n: 1 })), StopEvent.make({ result: q.text })), {
            emits: [StopEvent]
          })
        const handle = yield* Workflow.start(wf)
        assert.strictEqual(yield* handle.result, "q")
        assert.deepStrictEqual(yield* collectAll(handle.events({ internal: true })), [
          { _tag: "EventDispatched", eventId: "0", tag: "StartEvent", steps: ["StartEvent"] },
          { _tag: "StepStarted", step: "StartEvent", eventId: "0", attempt: 1 },
          { _tag: "StepCompleted", step: "StartEvent", eventId: "0", emitted: ["0/StartEvent/0"] },
          { _tag: "EventDispatched", eventId: "0/StartEvent/0", tag: "Query", steps: ["Query"] },
          { _tag: "StepStarted", step: "Query", eventId: "0/StartEvent/0", attempt: 1 },
          { _tag: "Progress", n: 1 },
          { _tag: "StepCompleted", step: "Query", eventId: "0/StartEvent/0", emitted: ["0/StartEvent/0/Query/0"] },
          { _tag: "StopEvent", result: "q" }
        ])
        assert.deepStrictEqual(yield* collectAll(handle.events()), [
          { _tag: "Progress", n: 1 },
          { _tag: "StopEvent", result: "q" }
        ])
      })
  )

  it.scoped("sent and returned events of one invocation are numbered k = 0, 1, 2, ... in emission order", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "ids", output: Schema.Number })
        .step(
          StartEvent,
          (_, ctx) => Effect.as(ctx.send(Item.make({ i: 0 })), [Item.make({ i: 1 }), Item.make({ i: 2 })]),
          { emits: [Item] }
        )
        .step(
          Item,
          (item, ctx) =>
            Effect.gen(function* () {
              yield* ctx.write(Seen.make({ i: item.i, eventId: ctx.eventId }))
              const all = yield* ctx.collect(item, Item, 3)
              return Option.isSome(all) ? StopEvent.make({ result: all.value.length }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      const handle = yield* Workflow.start(wf)
      assert.strictEqual(yield* handle.result, 3)
      const events = yield* collectAll(handle.events({ internal: true }))
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "Seen"),
        [
          Seen.make({ i: 0, eventId: "0/StartEvent/0" }),
          Seen.make({ i: 1, eventId: "0/StartEvent/1" }),
          Seen.make({ i: 2, eventId: "0/StartEvent/2" })
        ]
      )
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "StepCompleted" && e.step === "StartEvent"),
        [{ _tag: "StepCompleted", step: "StartEvent", eventId: "0", emitted: ["0/StartEvent/1", "0/StartEvent/2"] }]
      )
    })
  )

  it.scoped("ctx.write keeps its order and the writes come before the step's returned event is processed", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "writes", output: Schema.String })
        .step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              for (let n = 1; n <= 5; n++) {
                yield* ctx.write(Progress.make({ n }))
                yield* Effect.yieldNow()
              }
              return Next.make()
            }),
          { emits: [Next] }
        )
        .step(Next, (_, ctx) => Effect.as(ctx.write(Progress.make({ n: 99 })), StopEvent.make({ result: "ok" })), {
          emits: [StopEvent]
        })
      const handle = yield* Workflow.start(wf)
      assert.strictEqual(yield* handle.result, "ok")
      assert.deepStrictEqual(yield* collectAll(handle.events()), [
        ...[1, 2, 3, 4, 5].map((n) => Progress.make({ n })),
        Progress.make({ n: 99 }),
        StopEvent.make({ result: "ok" })
      ])
      const internal = yield* collectAll(handle.events({ internal: true }))
      const lastWrite = internal.findIndex((e) => e._tag === "Progress" && e.n === 5)
      const nextDispatched = internal.findIndex((e) => e._tag === "EventDispatched" && e.tag === "Next")
      assert.isAtLeast(lastWrite, 0)
      assert.isAbove(nextDispatched, lastWrite)
    })
  )

  it.effect("Workflow.stream emits the published events and then ends", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "streamed", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            yield* ctx.write(Progress.make({ n: 1 }))
            yield* ctx.write(Progress.make({ n: 2 }))
            return StopEvent.make({ result: "done" })
          }),
        { emits: [StopEvent] }
      )
      assert.deepStrictEqual(yield* Stream.runCollect(Workflow.stream(wf)).pipe(Effect.map(Chunk.toReadonlyArray)), [
        Progress.make({ n: 1 }),
        Progress.make({ n: 2 }),
        StopEvent.make({ result: "done" })
      ])
    })
  )

  it.effect("Workflow.stream of a failing run emits WorkflowFailed and then fails with the step's error", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "streamed-failure", output: Schema.String }).step(
        StartEvent,
        (_, ctx) => Effect.zipRight(ctx.write(Progress.make({ n: 1 })), Effect.fail(new Boom({ reason: "no" }))),
        { emits: [StopEvent] }
      )
      const items = yield* Stream.runCollect(Stream.either(Workflow.stream(wf))).pipe(Effect.map(Chunk.toReadonlyArray))
      assert.strictEqual(items.length, 3)
      assert.deepStrictEqual(items[0], Either.right(Progress.make({ n: 1 })))
      const failed = items[1]
      assert.isTrue(Either.isRight(failed) && failed.right._tag === "WorkflowFailed")
      const terminal = Either.getOrThrow(failed) as Event.WorkflowFailed
      assert.strictEqual(terminal.step, "StartEvent")
      assert.strictEqual(terminal.attempts, 1)
      assert.instanceOf(terminal.error, Boom)
      const error = items[2]
      assert.isTrue(Either.isLeft(error))
      if (Either.isLeft(error)) {
        assert.instanceOf(error.left, Boom)
        assert.strictEqual((error.left as Boom).reason, "no")
      }
    })
  )

  it.scoped("an InputRequired returned by a step is published, and the run waits for the answer", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "ask", output: Schema.String })
        .step(StartEvent, () => Effect.succeed(InputRequired.make({ prompt: "name?" })), { emits: [InputRequired] })
        .step(HumanResponse, (r) => Effect.succeed(StopEvent.make({ result: `hello ${r.response}` })), {
          emits: [StopEvent]
        })
      const handle = yield* Workflow.start(wf)
      const first = yield* collectAll(Stream.take(handle.events(), 1))
      // The prompt carries its id (its deterministic event id): the one `pending` shows and answers name.
      assert.deepStrictEqual(first, [{ _tag: "InputRequired", prompt: "name?", requestId: "0/StartEvent/0" }])
      yield* yieldUntil(Effect.map(handle.status, (s) => s === "waiting"))
      assert.strictEqual(yield* handle.status, "waiting")
      yield* handle.send(HumanResponse.make({ response: "Ada" }))
      assert.strictEqual(yield* handle.result, "hello Ada")
      assert.deepStrictEqual(yield* collectAll(handle.events()), [
        { _tag: "InputRequired", prompt: "name?", requestId: "0/StartEvent/0" },
        { _tag: "StopEvent", result: "hello Ada" }
      ])
    })
  )

  it.scoped("an event sent by a step that no step accepts publishes UnhandledEvent (internal only)", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "orphan", output: Schema.String }).step(
        StartEvent,
        // @ts-expect-error Orphan is not in emits: the run-time path is what this test is about
        (_, ctx) => Effect.as(ctx.send(Orphan.make()), StopEvent.make({ result: "sent" })),
        { emits: [StopEvent] }
      )
      const handle = yield* Workflow.start(wf)
      assert.strictEqual(yield* handle.result, "sent")
      const internal = yield* collectAll(handle.events({ internal: true }))
      assert.deepStrictEqual(
        internal.filter((e) => e._tag === "UnhandledEvent"),
        [{ _tag: "UnhandledEvent", eventId: "0/StartEvent/0", tag: "Orphan" }]
      )
      assert.isFalse(internal.some((e) => e._tag === "Orphan"))
      assert.deepStrictEqual(yield* collectAll(handle.events()), [StopEvent.make({ result: "sent" })])
    })
  )

  it.scoped("an event sent from outside that no step accepts publishes UnhandledEvent with an external id", () =>
    Effect.gen(function* () {
      const latch = yield* Deferred.make<void>()
      const wf = defineWorkflow({ name: "unhandled-external", output: Schema.String }).step(
        StartEvent,
        () => Effect.as(Deferred.await(latch), StopEvent.make({ result: "done" })),
        { emits: [StopEvent] }
      )
      const handle = yield* Workflow.start(wf)
      yield* handle.send(HumanResponse.make({ response: "nobody listens" }))
      yield* Deferred.succeed(latch, undefined)
      assert.strictEqual(yield* handle.result, "done")
      const internal = yield* collectAll(handle.events({ internal: true }))
      assert.deepStrictEqual(
        internal.filter((e) => e._tag === "UnhandledEvent"),
        [{ _tag: "UnhandledEvent", eventId: "x/0", tag: "HumanResponse" }]
      )
    })
  )
})
