import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Ref, Schema, Stream } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  RunEngine,
  RunNotFoundError,
  RunStore,
  StartEvent,
  StopEvent,
  WorkflowCancelledError,
  Workflow
} from "@eventflow/core"

const Progress = Event.define("Progress", { n: Schema.Number })

/** Writes two `Progress` events, then asks a person and stops with the answer. */
const approval = defineWorkflow({ name: "engine-approval", input: Schema.String, output: Schema.String }).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      yield* ctx.write(Progress.make({ n: 1 }))
      yield* ctx.write(Progress.make({ n: 2 }))
      const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: `${start.input}?` }) })
      return StopEvent.make({ result: `${start.input}:${answer.response}` })
    }),
  { emits: [StopEvent] }
)

const echo = defineWorkflow({ name: "engine-echo", input: Schema.String, output: Schema.String }).step(
  StartEvent,
  (start) => Effect.succeed(StopEvent.make({ result: start.input })),
  { emits: [StopEvent] }
)

/** An engine that counts the calls that reach it, and otherwise is a fresh in-process engine. */
const countingEngine = (calls: Ref.Ref<ReadonlyArray<string>>): RunEngine.Service => {
  const local = RunEngine.makeLocal()
  const note = (name: string) => Ref.update(calls, (all) => [...all, name])
  return {
    ...local,
    run: (wf, input, options) => Effect.zipRight(note(`run ${wf.name}`), local.run(wf, input, options)),
    start: (wf, input, options) => Effect.zipRight(note(`start ${wf.name}`), local.start(wf, input, options)),
    resume: (wf, from, options) => Effect.zipRight(note(`resume ${wf.name}`), local.resume(wf, from, options)),
    stream: (wf, input, options) =>
      Stream.unwrap(Effect.as(note(`stream ${wf.name}`), local.stream(wf, input, options))),
    resumeAll: (wf, options) => Effect.zipRight(note(`resumeAll ${wf.name}`), local.resumeAll(wf, options))
  }
}

/** Waits (without sleeping) until the run waits for input. */
const waiting = (engine: RunEngine.Service, runId: string) => engine.settled(runId)

describe("RunEngine", () => {
  it.effect("Workflow.run, start, stream and resume go through the engine provided in the context", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<ReadonlyArray<string>>([])
      const layer = Layer.succeed(RunEngine.RunEngine, countingEngine(calls))
      const result = yield* Effect.provide(Workflow.run(echo, "hi"), layer)
      assert.strictEqual(result, "hi")
      const streamed = yield* Effect.provide(Stream.runCollect(Workflow.stream(echo, "s")), layer)
      assert.deepStrictEqual(Chunk.toReadonlyArray(streamed), [StopEvent.make({ result: "s" })])
      const snapshot = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.start(approval, "a")
          yield* handle.settled
          return yield* handle.snapshot
        })
      ).pipe(Effect.provide(layer))
      const resumed = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.resume(approval, snapshot)
          yield* handle.send(HumanResponse.make({ response: "yes" }))
          return yield* handle.result
        })
      ).pipe(Effect.provide(layer))
      assert.strictEqual(resumed, "a:yes")
      assert.deepStrictEqual(yield* Ref.get(calls), [
        "run engine-echo",
        "stream engine-echo",
        "start engine-approval",
        "resume engine-approval"
      ])
    })
  )

  it.effect("Workflow.resumeAll resumes through the engine in the context", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<ReadonlyArray<string>>([])
      const engine = countingEngine(calls)
      const layer = Layer.merge(Layer.succeed(RunEngine.RunEngine, engine), RunStore.layerMemory)
      yield* Effect.gen(function* () {
        // A durable run left waiting (its scope closes: it is detached, its checkpoint stays in the store).
        const runId = yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* Workflow.start(approval, "d", { durable: true })
            yield* handle.settled
            return handle.runId
          })
        )
        const answered = yield* Effect.scoped(
          Effect.gen(function* () {
            const [handle] = yield* Workflow.resumeAll(approval)
            assert.strictEqual(handle.runId, runId)
            yield* engine.send(runId, HumanResponse.make({ response: "ok" }))
            return yield* handle.result
          })
        )
        assert.strictEqual(answered, "d:ok")
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(yield* Ref.get(calls), ["start engine-approval", "resumeAll engine-approval"])
    })
  )

  it.effect("without a layer, runs go to the process-wide in-process engine", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const handle = yield* Workflow.start(approval, "default")
        const engine = yield* RunEngine.RunEngine
        assert.strictEqual(yield* engine.settled(handle.runId), "waiting")
        const live = yield* engine.list({ workflow: "engine-approval" })
        assert.isTrue(live.some((run) => run.runId === handle.runId && run.status === "waiting"))
        yield* engine.send(handle.runId, HumanResponse.make({ response: "no" }))
        assert.strictEqual(yield* handle.result, "default:no")
      })
    )
  )

  describe("layerLocal", () => {
    it.effect("status, settled, send and list address a run by its id; it leaves the registry when it ends", () =>
      Effect.gen(function* () {
        const engine = yield* RunEngine.RunEngine
        const handle = yield* Workflow.start(approval, "x", { runId: "run-1" })
        assert.strictEqual(yield* waiting(engine, "run-1"), "waiting")
        assert.strictEqual(yield* engine.status("run-1"), "waiting")
        assert.deepStrictEqual(yield* engine.list(), [
          { runId: "run-1", workflow: "engine-approval", status: "waiting" }
        ])
        assert.deepStrictEqual(yield* engine.list({ status: ["running"] }), [])
        assert.deepStrictEqual(yield* engine.list({ workflow: "other" }), [])
        const live = yield* engine.get("run-1")
        assert.strictEqual(live.workflow, "engine-approval")
        assert.strictEqual(yield* live.handle.status, "waiting")
        // The send is decoded by the engine (an encoded event at its edge) and refused when it does not fit.
        const refused = yield* Effect.flip(engine.send("run-1", { _tag: "HumanResponse", response: 42 }))
        assert.strictEqual(refused._tag, "InvalidEventError")
        yield* engine.send("run-1", { _tag: "HumanResponse", response: "yes" })
        assert.strictEqual(yield* handle.result, "x:yes")
        assert.strictEqual((yield* engine.get("run-1").pipe(Effect.flip)).where, "engine")
        assert.deepStrictEqual(yield* engine.list(), [])
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
    )

    it.effect("settled waits until the run waits for input", () =>
      Effect.gen(function* () {
        const engine = yield* RunEngine.RunEngine
        const handle = yield* Workflow.start(approval, "s")
        // Called before the run has done anything: it waits for the run to get to its prompt.
        const status = yield* engine.settled(handle.runId)
        assert.strictEqual(status, "waiting")
        const pending = yield* handle.pending
        assert.deepStrictEqual(
          pending.map((p) => p.prompt),
          [InputRequired.make({ prompt: "s?", requestId: "StartEvent@0#0" })]
        )
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
    )

    it.effect("events replays from an offset of the published log, then follows live to the end", () =>
      Effect.gen(function* () {
        const engine = yield* RunEngine.RunEngine
        const handle = yield* Workflow.start(approval, "e")
        yield* engine.settled(handle.runId)
        const all = yield* Stream.runCollect(Stream.take(engine.events(handle.runId), 3))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(all).map((e) => e._tag),
          ["Progress", "Progress", "InputRequired"]
        )
        // Following from offset 1 of the published log (trace events count in the offsets, and are left out).
        const follow = yield* Effect.fork(Stream.runCollect(engine.events(handle.runId, { from: 1 })))
        // (The follower subscribes while the run is live: a run that has ended is no longer in the engine.)
        yield* Effect.yieldNow()
        yield* engine.send(handle.runId, HumanResponse.make({ response: "ok" }))
        const rest = Chunk.toReadonlyArray(yield* follow.await.pipe(Effect.flatten))
        const full = yield* Stream.runCollect(handle.events({ internal: true }))
        const expected = Chunk.toReadonlyArray(full)
          .slice(1)
          .filter((e) => !Event.isInternal(e))
        assert.deepStrictEqual(rest, expected)
        assert.strictEqual(rest.at(-1)?._tag, "StopEvent")
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
    )

    it.effect("cancel ends a live run by its id", () =>
      Effect.gen(function* () {
        const engine = yield* RunEngine.RunEngine
        const handle = yield* Workflow.start(approval, "c")
        yield* engine.settled(handle.runId)
        yield* engine.cancel(handle.runId)
        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, WorkflowCancelledError)
        assert.deepStrictEqual(yield* engine.list(), [])
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
    )

    it.effect("a run id the engine does not hold fails with RunNotFoundError (where: engine) on every operation", () =>
      Effect.gen(function* () {
        const engine = yield* RunEngine.RunEngine
        const failures = [
          yield* Effect.flip(engine.status("nope")),
          yield* Effect.flip(engine.settled("nope")),
          yield* Effect.flip(engine.cancel("nope")),
          yield* Effect.flip(engine.send("nope", HumanResponse.make({ response: "x" }))),
          yield* Effect.flip(engine.get("nope")),
          yield* Effect.flip(Stream.runDrain(engine.events("nope")))
        ]
        for (const failure of failures) {
          assert.instanceOf(failure, RunNotFoundError)
          assert.strictEqual((failure as RunNotFoundError).where, "engine")
          assert.include(failure.message, "No run nope is live in this run engine")
        }
      }).pipe(Effect.provide(RunEngine.layerLocal))
    )

    it.effect("each layerLocal has its own registry", () =>
      Effect.gen(function* () {
        const other = RunEngine.makeLocal()
        const handle = yield* Workflow.start(approval, "own")
        const engine = yield* RunEngine.RunEngine
        yield* engine.settled(handle.runId)
        assert.strictEqual((yield* engine.list()).length, 1)
        assert.deepStrictEqual(yield* other.list(), [])
        assert.instanceOf(yield* Effect.flip(other.status(handle.runId)), RunNotFoundError)
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
    )

    it.effect("register refuses a second, different workflow of the same name", () =>
      Effect.gen(function* () {
        const engine = yield* RunEngine.RunEngine
        yield* engine.register([approval, echo])
        yield* engine.register([approval])
        const twin = defineWorkflow({ name: "engine-echo" }).step(
          StartEvent,
          () => Effect.succeed(StopEvent.make({ result: 1 })),
          {
            emits: [StopEvent]
          }
        )
        const error = yield* Effect.flip(engine.register([twin]))
        assert.strictEqual(error._tag, "WorkflowValidationError")
        assert.include(error.message, `another workflow named "engine-echo" is already registered`)
      }).pipe(Effect.provide(RunEngine.layerLocal))
    )
  })
})
