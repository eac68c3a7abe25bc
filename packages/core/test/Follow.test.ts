/**
 * `handle.follow(f)`: a run followed with a callback per published event (no `Stream` consumer), in order, with
 * offsets, from an offset, ending with the run, interruptible, with backpressure on a slow callback.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Data, Deferred, Effect, Either, Fiber, Option, Ref, Schema, Stream } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  type RunHandle,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"

const Progress = Event.define("Progress", { n: Schema.Number })

class Boom extends Data.TaggedError("Boom")<{ readonly at: number }> {}

/** Lets every other fiber run until `done` holds (bounded, so a broken engine fails an assertion, never hangs). */
const yieldUntil = (done: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !(yield* done); i++) yield* Effect.yieldNow()
  })

/** Writes Progress 1..3, asks a person, then stops with the response. */
const asking = defineWorkflow({ name: "follow-asking", output: Schema.String })
  .step(
    StartEvent,
    (_, ctx) =>
      Effect.gen(function* () {
        for (let n = 1; n <= 3; n++) yield* ctx.write(Progress.make({ n }))
        return InputRequired.make({ prompt: "go on?" })
      }),
    { emits: [InputRequired] }
  )
  .step(HumanResponse, (answer) => Effect.succeed(StopEvent.make({ result: answer.response })), {
    emits: [StopEvent]
  })

/** Follows `handle` into an array of [tag, offset], forked. */
const followInto = (handle: RunHandle<any>, options?: { readonly internal?: boolean; readonly from?: number }) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<Array<readonly [string, number]>>([])
    const fiber = yield* Effect.fork(
      handle.follow((event, offset) => Ref.update(seen, (xs) => [...xs, [event._tag, offset] as const]), options)
    )
    return { seen, fiber }
  })

describe("handle.follow", () => {
  it.scoped("calls f with each published event in order, with its offset in the log, like events()", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(asking)
      const all = yield* followInto(handle, { internal: true })
      const visible = yield* followInto(handle)
      yield* yieldUntil(Effect.map(handle.status, (s) => s === "waiting"))
      yield* handle.send(HumanResponse.make({ response: "yes" }))
      assert.strictEqual(yield* handle.result, "yes")
      yield* Fiber.join(all.fiber)
      yield* Fiber.join(visible.fiber)
      const everything = yield* Ref.get(all.seen)
      // Offsets are the positions in the whole published log (trace events included): 0, 1, 2, ...
      assert.deepStrictEqual(
        everything.map(([, offset]) => offset),
        everything.map((_, i) => i)
      )
      const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
      assert.deepStrictEqual(
        everything.map(([tag]) => tag),
        streamed.map((e) => e._tag)
      )
      // Without `internal`, the same events as events(), each with its offset in the whole log.
      const shown = yield* Ref.get(visible.seen)
      assert.deepStrictEqual(
        shown.map(([tag]) => tag),
        ["Progress", "Progress", "Progress", "InputRequired", "StopEvent"]
      )
      for (const [tag, offset] of shown) assert.strictEqual(everything[offset][0], tag)
    })
  )

  it.scoped("from an offset: only the events at that position of the log and after", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(asking)
      yield* yieldUntil(Effect.map(handle.status, (s) => s === "waiting"))
      const all = yield* followInto(handle, { internal: true })
      yield* yieldUntil(Effect.map(Ref.get(all.seen), (xs) => xs.at(-1)?.[0] === "InputRequired"))
      const log = yield* Ref.get(all.seen)
      const at = log.findIndex(([tag]) => tag === "Progress") + 1
      const later = yield* followInto(handle, { from: at })
      yield* handle.send(HumanResponse.make({ response: "ok" }))
      yield* Fiber.join(later.fiber)
      assert.deepStrictEqual(yield* Ref.get(later.seen), [
        ["Progress", log.filter(([tag]) => tag === "Progress")[1][1]],
        ["Progress", log.filter(([tag]) => tag === "Progress")[2][1]],
        ["InputRequired", log.find(([tag]) => tag === "InputRequired")![1]],
        ["StopEvent", (yield* Ref.get(all.seen)).at(-1)![1]]
      ])
    })
  )

  it.scoped("follows live and succeeds right after the terminal event; after the end it replays and succeeds", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(asking)
      const live = yield* followInto(handle)
      yield* yieldUntil(Effect.map(Ref.get(live.seen), (xs) => xs.length === 4))
      assert.isTrue(Option.isNone(yield* Fiber.poll(live.fiber)), "still following while the run waits")
      yield* handle.send(HumanResponse.make({ response: "done" }))
      yield* Fiber.join(live.fiber)
      assert.deepStrictEqual((yield* Ref.get(live.seen)).at(-1)?.[0], "StopEvent")
      const after = yield* followInto(handle)
      yield* Fiber.join(after.fiber)
      assert.deepStrictEqual(yield* Ref.get(after.seen), yield* Ref.get(live.seen))
    })
  )

  it.scoped("interrupting a follow unsubscribes it: the run goes on and f is not called again", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(asking)
      const followed = yield* followInto(handle)
      yield* yieldUntil(Effect.map(Ref.get(followed.seen), (xs) => xs.length === 4))
      const log = (handle as unknown as { readonly run: { readonly log: { readonly listeners: Array<unknown> } } }).run
        .log
      assert.strictEqual(log.listeners.length, 1, "the waiting follower holds one listener on the log")
      yield* Fiber.interrupt(followed.fiber)
      assert.strictEqual(log.listeners.length, 0, "and none once interrupted")
      yield* handle.send(HumanResponse.make({ response: "ok" }))
      assert.strictEqual(yield* handle.result, "ok")
      assert.strictEqual((yield* Ref.get(followed.seen)).length, 4)
    })
  )

  it.scoped("a slow callback gets the next event only once its effect completes, and misses none", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const inFlight = yield* Ref.make(0)
      const maxInFlight = yield* Ref.make(0)
      const seen = yield* Ref.make<Array<string>>([])
      const handle = yield* Workflow.start(asking)
      const fiber = yield* Effect.fork(
        handle.follow((event) =>
          Effect.gen(function* () {
            const n = yield* Ref.updateAndGet(inFlight, (k) => k + 1)
            yield* Ref.update(maxInFlight, (m) => Math.max(m, n))
            yield* Ref.update(seen, (xs) => [...xs, event._tag])
            // The first event holds the follower until the run has ended.
            if (event._tag === "Progress") yield* Deferred.await(gate)
            yield* Ref.update(inFlight, (k) => k - 1)
          })
        )
      )
      yield* yieldUntil(Effect.map(Ref.get(seen), (xs) => xs.length === 1))
      yield* yieldUntil(Effect.map(handle.status, (s) => s === "waiting"))
      yield* handle.send(HumanResponse.make({ response: "late" }))
      assert.strictEqual(yield* handle.result, "late")
      assert.deepStrictEqual(yield* Ref.get(seen), ["Progress"], "held on the first event while the run ended")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(seen), ["Progress", "Progress", "Progress", "InputRequired", "StopEvent"])
      assert.strictEqual(yield* Ref.get(maxInFlight), 1)
    })
  )

  it.scoped("a failure of f ends the follow with that failure; the run is not affected", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(asking)
      const result = yield* Effect.either(
        handle.follow((event, offset) =>
          event._tag === "InputRequired" ? Effect.fail(new Boom({ at: offset })) : Effect.void
        )
      )
      assert.isTrue(Either.isLeft(result))
      const offsets = yield* followInto(handle)
      yield* yieldUntil(Effect.map(Ref.get(offsets.seen), (xs) => xs.length === 4))
      assert.deepStrictEqual(
        Either.getLeft(result),
        Option.some(new Boom({ at: (yield* Ref.get(offsets.seen))[3][1] }))
      )
      assert.strictEqual(yield* handle.status, "waiting")
      yield* handle.send(HumanResponse.make({ response: "fine" }))
      assert.strictEqual(yield* handle.result, "fine")
    })
  )
})
