/**
 * `Follower`: one fiber following many runs, a callback per published event, in order within each run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Schema } from "effect"
import {
  defineWorkflow,
  Event,
  Follower,
  HumanResponse,
  InputRequired,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"

const Progress = Event.define("Progress", { n: Schema.Number })

/** Lets every other fiber run until `done` holds (bounded, so a broken follower fails an assertion, never hangs). */
const yieldUntil = (done: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 2_000 && !done(); i++) yield* Effect.yieldNow()
  })

const asking = defineWorkflow({ name: "follower-asking", input: Schema.Number, output: Schema.String })
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.gen(function* () {
        for (let n = 1; n <= 3; n++) yield* ctx.write(Progress.make({ n: start.input * 10 + n }))
        return InputRequired.make({ prompt: `run ${start.input}?` })
      }),
    { emits: [InputRequired] }
  )
  .step(HumanResponse, (answer) => Effect.succeed(StopEvent.make({ result: answer.response })), {
    emits: [StopEvent]
  })

type Seen = Array<{ readonly runId: string; readonly offset: number; readonly event: any }>

describe("Follower", () => {
  it.scoped("passes every run's events in order with their offsets, follows live, and stops following ended runs", () =>
    Effect.gen(function* () {
      const seen: Seen = []
      const follower = yield* Follower.make((event, { offset, runId }) =>
        Effect.sync(() => seen.push({ runId, offset, event }))
      )
      const handles = []
      for (let i = 0; i < 20; i++) {
        const handle = yield* Workflow.start(asking, i)
        handles.push(handle)
        yield* follower.follow(handle)
      }
      assert.strictEqual(yield* follower.following, 20)
      yield* yieldUntil(() => seen.filter((s) => s.event._tag === "InputRequired").length === 20)
      for (const handle of handles) yield* handle.send(HumanResponse.make({ response: handle.runId }))
      for (const handle of handles) assert.strictEqual(yield* handle.result, handle.runId)
      yield* yieldUntil(() => seen.length === 20 * 5)
      assert.strictEqual(yield* follower.following, 0)
      for (const [i, handle] of handles.entries()) {
        const mine = seen.filter((s) => s.runId === handle.runId)
        assert.deepStrictEqual(
          mine.map((s) => [s.event._tag, s.event.n ?? s.event.prompt ?? s.event.result]),
          [
            ["Progress", i * 10 + 1],
            ["Progress", i * 10 + 2],
            ["Progress", i * 10 + 3],
            ["InputRequired", `run ${i}?`],
            ["StopEvent", handle.runId]
          ]
        )
        // The offsets are the positions in the run's whole published log, as handle.follow gives them.
        const offsets: Array<number> = []
        yield* handle.follow((_, offset) => Effect.sync(() => offsets.push(offset)))
        assert.deepStrictEqual(
          mine.map((s) => s.offset),
          offsets
        )
      }
    })
  )

  it.scoped("follows 1,000 runs started back to back: every run's prompt and StopEvent, then none left", () =>
    Effect.gen(function* () {
      let prompts = 0
      let stops = 0
      const follower = yield* Follower.make((event) =>
        Effect.sync(() => {
          if (event._tag === "InputRequired") prompts++
          if (event._tag === "StopEvent") stops++
        })
      )
      const handles = []
      for (let i = 0; i < 1_000; i++) {
        const handle = yield* Workflow.start(asking, i)
        handles.push(handle)
        yield* follower.follow(handle)
      }
      yield* yieldUntil(() => prompts === 1_000)
      for (const handle of handles) yield* handle.send(HumanResponse.make({ response: "ok" }))
      for (const handle of handles) yield* handle.result
      for (let i = 0; i < 20_000 && stops < 1_000; i++) yield* Effect.yieldNow()
      assert.strictEqual(prompts, 1_000)
      assert.strictEqual(stops, 1_000)
      assert.strictEqual(yield* follower.following, 0)
    })
  )

  it.scoped("from an offset, and with internal events", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(asking, 1)
      const all: Array<[string, number]> = []
      yield* Effect.fork(
        handle.follow((event, offset) => Effect.sync(() => all.push([event._tag, offset])), { internal: true })
      )
      yield* yieldUntil(() => all.some(([tag]) => tag === "InputRequired"))
      const seen: Seen = []
      const follower = yield* Follower.make((event, { offset, runId }) =>
        Effect.sync(() => seen.push({ runId, offset, event }))
      )
      const secondProgress = all.filter(([tag]) => tag === "Progress")[1][1]
      yield* follower.follow(handle, { from: secondProgress })
      const internal: Seen = []
      const internalFollower = yield* Follower.make((event, { offset, runId }) =>
        Effect.sync(() => internal.push({ runId, offset, event }))
      )
      yield* internalFollower.follow(handle, { internal: true })
      yield* handle.send(HumanResponse.make({ response: "ok" }))
      yield* handle.result
      yield* yieldUntil(() => seen.at(-1)?.event._tag === "StopEvent" && internal.at(-1)?.event._tag === "StopEvent")
      assert.deepStrictEqual(
        seen.map((s) => s.event._tag),
        ["Progress", "Progress", "InputRequired", "StopEvent"]
      )
      assert.strictEqual(seen[0].offset, secondProgress)
      const everything: Array<[string, number]> = []
      yield* handle.follow((event, offset) => Effect.sync(() => everything.push([event._tag, offset])), {
        internal: true
      })
      assert.deepStrictEqual(
        internal.map((s) => [s.event._tag, s.offset]),
        everything
      )
    })
  )

  it.scoped("a slow callback holds back the events (one call at a time), not the runs", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      let inFlight = 0
      let most = 0
      const seen: Array<string> = []
      const follower = yield* Follower.make((event, { runId }) =>
        Effect.gen(function* () {
          most = Math.max(most, ++inFlight)
          seen.push(`${runId}:${event._tag}`)
          yield* Deferred.await(gate)
          inFlight--
        })
      )
      const a = yield* Workflow.start(asking, 1)
      const b = yield* Workflow.start(asking, 2)
      yield* follower.follow(a)
      yield* follower.follow(b)
      yield* yieldUntil(() => seen.length === 1)
      // Both runs go on to their prompts while the follower is held on its first call.
      yield* yieldUntil(() => false)
      assert.strictEqual(seen.length, 1)
      yield* a.send(HumanResponse.make({ response: "a" }))
      yield* b.send(HumanResponse.make({ response: "b" }))
      assert.strictEqual(yield* a.result, "a")
      assert.strictEqual(yield* b.result, "b")
      yield* Deferred.succeed(gate, undefined)
      yield* yieldUntil(() => seen.length === 10)
      assert.strictEqual(most, 1)
      // Runs take turns: one event of each in turn.
      assert.deepStrictEqual(
        seen.slice(0, 4).map((s) => s.split(":")[0]),
        [a.runId, b.runId, a.runId, b.runId]
      )
      assert.strictEqual(yield* follower.following, 0)
    })
  )

  it.scoped("closing the follower's scope stops it; the runs go on", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const handle = yield* Workflow.start(asking, 1)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const follower = yield* Follower.make((event) => Effect.sync(() => seen.push(event._tag)))
          yield* follower.follow(handle)
          yield* yieldUntil(() => seen.length === 4)
        })
      )
      yield* handle.send(HumanResponse.make({ response: "ok" }))
      assert.strictEqual(yield* handle.result, "ok")
      yield* yieldUntil(() => false)
      assert.deepStrictEqual(seen, ["Progress", "Progress", "Progress", "InputRequired"])
    })
  )

  it.scoped("a negative or fractional offset is refused with a message that names it", () =>
    Effect.gen(function* () {
      const follower = yield* Follower.make(() => Effect.void)
      const handle = yield* Workflow.start(asking, 1)
      const exit = yield* Effect.exit(follower.follow(handle, { from: -1 }))
      assert.isTrue(exit._tag === "Failure" && String(exit.cause).includes('"from" must be an integer offset >= 0'))
      yield* handle.cancel
    })
  )
})
