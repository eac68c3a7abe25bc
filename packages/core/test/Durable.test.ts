import { assert, describe, it } from "@effect/vitest"
import { Chunk, Data, Deferred, Effect, Layer, Option, Schema, Stream, TestClock } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  type RunHandle,
  RunNotFoundError,
  RunStore,
  RunStoreError,
  type Snapshot,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowCancelledError
} from "@eventflow/core"
import { makeCounter, makeGate, resultOf, statusIs, waitUntil } from "./utils.js"

const A = Event.define("A", { n: Schema.Number })
const B = Event.define("B", { n: Schema.Number })
const Progress = Event.define("Progress", { label: Schema.String })

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

const allEvents = (handle: RunHandle) => Effect.map(Stream.runCollect(handle.events()), Chunk.toReadonlyArray)

/**
 * A memory store that records every save. `crash()` simulates a killed process: later saves are lost (a dead
 * process writes nothing), so the store keeps the last checkpoint taken before the crash.
 */
const makeStore = (options?: { readonly failOnSave?: number }) =>
  Effect.gen(function* () {
    const saves: Array<Snapshot.Snapshot> = []
    let crashed = false
    /** While `on`, every save fails (a full disk). */
    const failing = { on: false }
    const layer = Layer.effect(
      RunStore.RunStore,
      Effect.map(RunStore.makeMemory, (store) => ({
        ...store,
        save: (snapshot: Snapshot.Snapshot) =>
          Effect.suspend(() => {
            if (crashed) return Effect.void
            if (failing.on) {
              return Effect.fail(new RunStoreError({ operation: "save", runId: snapshot.runId, cause: "disk full" }))
            }
            if (options?.failOnSave === saves.length + 1) {
              return Effect.fail(new RunStoreError({ operation: "save", runId: snapshot.runId, cause: "disk full" }))
            }
            saves.push(snapshot)
            return store.save(snapshot)
          })
      }))
    )
    // Build the layer once, so that every run of the test shares one store.
    const context = yield* Layer.build(layer)
    return {
      saves,
      failing,
      crash: () => {
        crashed = true
      },
      /** A new process: saves reach the store again. */
      restart: () => {
        crashed = false
      },
      provide: <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.provide(effect, context),
      store: Effect.provide(RunStore.RunStore, context)
    }
  })

const chain = (name: string, hit: (label: string) => Effect.Effect<void>, gate?: Effect.Effect<void>) =>
  defineWorkflow({ name, input: Schema.Number, output: Schema.Number })
    .step(StartEvent, (s) => Effect.as(hit("start"), A.make({ n: s.input + 1 })), { emits: [A] })
    .step(
      A,
      (a, ctx) =>
        Effect.gen(function* () {
          yield* hit("A")
          yield* ctx.write(Progress.make({ label: `A ${a.n}` }))
          if (gate !== undefined) yield* gate
          return B.make({ n: a.n * 2 })
        }),
      { emits: [B] }
    )
    .step(B, (b) => Effect.as(hit("B"), StopEvent.make({ result: b.n + 100 })), { emits: [StopEvent] })

const approval = (name: string, hit: (label: string) => Effect.Effect<void>) =>
  defineWorkflow({ name, input: Schema.String, output: Schema.String }).step(
    StartEvent,
    (start, ctx) =>
      Effect.gen(function* () {
        yield* hit("ask")
        const h = yield* ctx.waitFor(HumanResponse, {
          prompt: InputRequired.make({ prompt: `approve ${start.input}?` })
        })
        return StopEvent.make({ result: `${start.input}: ${h.response}` })
      }),
    { name: "ask", emits: [StopEvent] }
  )

const noop = () => Effect.void

describe("Durable", () => {
  it.scoped("checkpoints after every step completion, before the next step starts, and at the end", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const wf = chain("durable-chain", noop)
      const handle = yield* store.provide(Workflow.start(wf, 1, { durable: true }))
      assert.strictEqual(yield* handle.result, 104)
      const stages = store.saves.map(
        (s) => `${s.status}:${s.inFlight.map((f) => `${f.step}@${f.eventId}#${f.attempts}`).join(",")}`
      )
      const distinct = stages.filter((stage, i) => i === 0 || stage !== stages[i - 1])
      // Each in-flight invocation is saved with 0 attempts: the checkpoint comes before it starts.
      assert.deepStrictEqual(distinct, [
        "running:StartEvent@0#0",
        "running:A@0/StartEvent/0#0",
        "running:B@0/StartEvent/0/A/0#0",
        "completed:"
      ])
      const last = store.saves.at(-1)!
      assert.strictEqual(last.result, 104)
      assert.strictEqual(last.runId, handle.runId)
      assert.strictEqual(last.workflow, "durable-chain")
    })
  )

  it.scoped("checkpoints a waitFor registration (with its prompt) and every send", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const wf = approval("durable-wait", noop)
      const handle = yield* store.provide(Workflow.start(wf, "post", { durable: true }))
      yield* statusIs(handle, "waiting")
      yield* waitUntil(
        Effect.sync(() => store.saves.some((s) => s.waiters.length === 1)),
        "a checkpoint holds the open waiter"
      )
      const registered = store.saves.find((s) => s.waiters.length === 1)
      assert.isTrue(registered!.published.some((e: any) => e._tag === "InputRequired" && e.prompt === "approve post?"))
      assert.strictEqual(registered!.pending.length, 1)

      const before = store.saves.length
      yield* handle.send(HumanResponse.make({ response: "ok" }))
      // When send returns, the event is on disk.
      const afterSend = store.saves.slice(before)
      assert.isTrue(
        afterSend.some(
          (s) =>
            s.external === 1 &&
            s.waiters.length === 0 &&
            s.inFlight.some((f) => f.answers.some((a: any) => a.event.response === "ok"))
        ),
        "a checkpoint holds the answer"
      )
      assert.strictEqual(yield* handle.result, "post: ok")
      assert.strictEqual(store.saves.at(-1)!.status, "completed")
    })
  )

  it.scoped("a send to a step (not a waiter) is checkpointed before send returns", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const gate = yield* makeGate
      const wf = defineWorkflow({ name: "durable-send", output: Schema.String })
        .step(StartEvent, () => Effect.succeed(InputRequired.make({ prompt: "?" })), { emits: [InputRequired] })
        .step(HumanResponse, (h) => Effect.as(gate.pass, StopEvent.make({ result: h.response })), {
          emits: [StopEvent]
        })
      const handle = yield* store.provide(Workflow.start(wf, undefined, { durable: true }))
      yield* statusIs(handle, "waiting")
      yield* handle.send(HumanResponse.make({ response: "yes" }))
      const last = store.saves.at(-1)!
      assert.strictEqual(last.external, 1)
      assert.deepStrictEqual(
        last.inFlight.map((f) => [f.step, f.eventId, f.event]),
        [["HumanResponse", "x/0", { _tag: "HumanResponse", response: "yes" }]]
      )
      assert.deepStrictEqual(last.pending, [])
      yield* gate.open
      yield* handle.cancel
    })
  )

  it.scoped("RunStore.list finds the unfinished runs by status", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const waiting = yield* store.provide(Workflow.start(approval("durable-list", noop), "x", { durable: true }))
      const done = yield* store.provide(Workflow.start(chain("durable-list-2", noop), 1, { durable: true }))
      yield* statusIs(waiting, "waiting")
      yield* done.result
      const runStore = yield* store.store
      const unfinished = yield* runStore.list({ status: ["running", "waiting"] })
      assert.deepStrictEqual(
        unfinished.map((r) => [r.runId, r.workflow, r.status]),
        [[waiting.runId, "durable-list", "waiting"]]
      )
      const completed = yield* runStore.list({ status: ["completed"] })
      assert.deepStrictEqual(
        completed.map((r) => r.runId),
        [done.runId]
      )
    })
  )

  it.scoped(
    "after a crash mid-step, resume(wf, runId) continues: completed steps do not re-run, the in-flight one does",
    () =>
      Effect.gen(function* () {
        const store = yield* makeStore()
        const gate = yield* makeGate
        const count = yield* makeCounter
        const wf = chain("durable-crash", count.hit, gate.pass)
        const runId = yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* store.provide(Workflow.start(wf, 1, { durable: true }))
            yield* gate.reached
            store.crash()
            return handle.runId
          })
        )
        assert.deepStrictEqual(yield* count.get, { start: 1, A: 1 })
        const saved = Option.getOrThrow(yield* Effect.flatMap(store.store, (s) => s.load(runId)))
        assert.strictEqual(saved.status, "running")

        yield* gate.open
        const fresh = yield* makeStore()
        const runStore = yield* fresh.store
        yield* runStore.save(saved)
        const resumed = yield* fresh.provide(Workflow.resume(wf, runId))
        assert.strictEqual(yield* resultOf(resumed), 104)
        assert.deepStrictEqual(yield* count.get, { start: 1, A: 2, B: 1 })
        assert.deepStrictEqual(yield* allEvents(resumed), [
          Progress.make({ label: "A 2" }),
          StopEvent.make({ result: 104 })
        ])
        // The resumed run is durable: its end is checkpointed too.
        const final = Option.getOrThrow(yield* runStore.load(runId))
        assert.strictEqual(final.status, "completed")
        assert.strictEqual(final.result, 104)
      })
  )

  it.scoped(
    "after a crash while waiting for a person, the resumed run takes the answer; the prompt is not repeated",
    () =>
      Effect.gen(function* () {
        const store = yield* makeStore()
        const count = yield* makeCounter
        const wf = approval("durable-crash-wait", count.hit)
        const runId = yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* store.provide(Workflow.start(wf, "essay", { durable: true }))
            yield* statusIs(handle, "waiting")
            store.crash()
            return handle.runId
          })
        )
        const resumed = yield* store.provide(Workflow.resume(wf, runId))
        yield* statusIs(resumed, "waiting")
        yield* resumed.send(HumanResponse.make({ response: "approved" }))
        assert.strictEqual(yield* resultOf(resumed), "essay: approved")
        assert.deepStrictEqual(yield* count.get, { ask: 2 })
        assert.deepStrictEqual(yield* allEvents(resumed), [
          InputRequired.make({ prompt: "approve essay?", requestId: "ask@0#0" }),
          StopEvent.make({ result: "essay: approved" })
        ])
      })
  )

  it.scoped("Workflow.resumeAll resumes every unfinished run of that workflow, and only those", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const wf = approval("durable-all", noop)
      const other = approval("durable-other", noop)
      const ids = yield* Effect.scoped(
        Effect.gen(function* () {
          const handles = yield* Effect.forEach(["a", "b", "c"], (input) =>
            store.provide(Workflow.start(wf, input, { durable: true }))
          )
          const otherHandle = yield* store.provide(Workflow.start(other, "z", { durable: true }))
          const finished = yield* store.provide(Workflow.start(wf, "done", { durable: true }))
          yield* Effect.forEach([...handles, otherHandle, finished], (h) => statusIs(h, "waiting"))
          yield* finished.send(HumanResponse.make({ response: "early" }))
          yield* finished.result
          store.crash()
          return { waiting: handles.map((h) => h.runId), other: otherHandle.runId }
        })
      )
      store.restart()
      const resumed = yield* store.provide(Workflow.resumeAll(wf))
      assert.deepStrictEqual(resumed.map((h) => h.runId).sort(), [...ids.waiting].sort())
      const results = yield* Effect.forEach(resumed, (h) =>
        Effect.gen(function* () {
          yield* statusIs(h, "waiting")
          yield* h.send(HumanResponse.make({ response: "yes" }))
          return yield* resultOf(h)
        })
      )
      assert.deepStrictEqual([...results].sort(), ["a: yes", "b: yes", "c: yes"])
      const runStore = yield* store.store
      const left = yield* runStore.list({ status: ["running", "waiting"] })
      assert.deepStrictEqual(
        left.map((r) => r.runId),
        [ids.other]
      )
    })
  )

  it.scoped("the final checkpoint of a completed run records its status and result", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const runStore = yield* store.store
      const handle = yield* store.provide(Workflow.start(chain("durable-end-ok", noop), 2, { durable: true }))
      assert.strictEqual(yield* handle.result, 106)
      const saved = Option.getOrThrow(yield* runStore.load(handle.runId))
      assert.strictEqual(saved.status, "completed")
      assert.strictEqual(saved.result, 106)
      assert.deepStrictEqual(saved.inFlight, [])
    })
  )

  it.scoped("the final checkpoint of a failed run records its status and error as { _tag, message }", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const runStore = yield* store.store
      const failing = defineWorkflow({ name: "durable-end-fail", output: Schema.String }).step(
        StartEvent,
        () => Effect.fail(new Boom({ message: "kaput" })),
        { emits: [StopEvent] }
      )
      const handle = yield* store.provide(Workflow.start(failing, undefined, { durable: true }))
      assert.instanceOf(yield* Effect.flip(handle.result), Boom)
      const saved = Option.getOrThrow(yield* runStore.load(handle.runId))
      assert.strictEqual(saved.status, "failed")
      assert.deepStrictEqual(saved.error, { _tag: "Boom", message: "kaput" })
    })
  )

  it.scoped("handle.cancel of a durable run cancels it: WorkflowCancelledError, and the store records cancelled", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const runStore = yield* store.store
      const gate = yield* makeGate
      const handle = yield* store.provide(
        Workflow.start(chain("durable-end-cancel", noop, gate.pass), 2, { durable: true })
      )
      yield* gate.reached
      yield* handle.cancel
      assert.instanceOf(yield* Effect.flip(handle.result), WorkflowCancelledError)
      assert.strictEqual(yield* handle.status, "cancelled")
      assert.deepStrictEqual(
        (yield* allEvents(handle)).map((e) => e._tag),
        ["Progress", "WorkflowCancelled"]
      )
      const saved = Option.getOrThrow(yield* runStore.load(handle.runId))
      assert.strictEqual(saved.status, "cancelled")
      assert.deepStrictEqual(yield* runStore.list({ status: ["running", "waiting"] }), [])
    })
  )

  it.scoped("closing the scope of a durable run (process shutdown) leaves it unfinished: resumeAll continues it", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const count = yield* makeCounter
      const wf = approval("durable-shutdown", count.hit)
      const runId = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* store.provide(Workflow.start(wf, "memo", { durable: true }))
          yield* statusIs(handle, "waiting")
          return handle.runId
        })
      )
      const runStore = yield* store.store
      assert.deepStrictEqual(
        (yield* runStore.list({ status: ["running", "waiting"] })).map((r) => r.runId),
        [runId]
      )
      const [resumed] = yield* store.provide(Workflow.resumeAll(wf))
      assert.strictEqual(resumed.runId, runId)
      yield* statusIs(resumed, "waiting")
      yield* resumed.send(HumanResponse.make({ response: "fine" }))
      assert.strictEqual(yield* resultOf(resumed), "memo: fine")
      assert.deepStrictEqual(
        (yield* allEvents(resumed)).map((e) => e._tag),
        ["InputRequired", "StopEvent"]
      )
    })
  )

  it.scoped("resume of an unknown run id fails with RunNotFoundError", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const error = yield* Effect.flip(store.provide(Workflow.resume(chain("durable-missing", noop), "no-such-run")))
      assert.instanceOf(error, RunNotFoundError)
      assert.strictEqual((error as RunNotFoundError).runId, "no-such-run")
    })
  )

  it.scoped("a store that cannot save holds the run: no step starts after the failed checkpoint, until it saves", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const count = yield* makeCounter
      const release = yield* Deferred.make<void>()
      const handle = yield* store.provide(
        Workflow.start(chain("durable-save-fails", count.hit, Deferred.await(release)), 1, { durable: true })
      )
      yield* waitUntil(
        Effect.map(count.get, (c) => c.A === 1),
        "step A reached"
      )
      store.failing.on = true
      yield* Deferred.succeed(release, undefined)
      // Step A completed, its checkpoint fails and is retried: B does not start, the run does not end.
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* count.get, { start: 1, A: 1 })
      assert.strictEqual(yield* handle.status, "running")
      assert.strictEqual(Option.getOrThrow(yield* (yield* store.store).load(handle.runId)).inFlight[0].step, "A")
      // The store takes writes again: the run goes on by itself.
      store.failing.on = false
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* resultOf(handle), 104)
      assert.deepStrictEqual(yield* count.get, { start: 1, A: 1, B: 1 })
    })
  )

  it.scoped("a durable start that cannot be saved fails with RunStoreError, and nothing of the run runs", () =>
    Effect.gen(function* () {
      const store = yield* makeStore()
      const count = yield* makeCounter
      store.failing.on = true
      const error = yield* Effect.flip(
        store.provide(Workflow.start(chain("durable-start-fails", count.hit), 1, { durable: true }))
      )
      assert.instanceOf(error, RunStoreError)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      assert.deepStrictEqual(yield* count.get, {})
    })
  )

  it.scoped(
    "a send whose checkpoint cannot be saved fails with RunStoreError; the run saves it later and goes on",
    () =>
      Effect.gen(function* () {
        const store = yield* makeStore()
        const count = yield* makeCounter
        const handle = yield* store.provide(
          Workflow.start(approval("durable-send-fails", count.hit), "x", { durable: true })
        )
        yield* statusIs(handle, "waiting")
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
        const saved = store.saves.length
        store.failing.on = true
        const error = yield* Effect.flip(handle.send(HumanResponse.make({ response: "yes" })))
        assert.instanceOf(error, RunStoreError)
        // Not saved: the store has nothing newer than before the send.
        assert.strictEqual(store.saves.length, saved)
        assert.notStrictEqual(Option.getOrThrow(yield* (yield* store.store).load(handle.runId)).status, "completed")
        store.failing.on = false
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(yield* resultOf(handle), "x: yes")
        assert.strictEqual(Option.getOrThrow(yield* (yield* store.store).load(handle.runId)).status, "completed")
      })
  )

  it.scoped(
    "a retried answer while the first is not saved fails with RunStoreError, not PromptNotOpenError; once it is saved, PromptNotOpenError",
    () =>
      Effect.gen(function* () {
        const store = yield* makeStore()
        const count = yield* makeCounter
        const handle = yield* store.provide(
          Workflow.start(approval("durable-retry-unsaved", count.hit), "x", { durable: true })
        )
        yield* statusIs(handle, "waiting")
        const [prompt] = yield* handle.pending
        store.failing.on = true
        const answer = HumanResponse.make({ response: "yes", requestId: prompt.requestId })
        assert.instanceOf(yield* Effect.flip(handle.send(answer)), RunStoreError)
        // The answer is kept but not persisted: a retry is not told the prompt was already answered.
        assert.instanceOf(yield* Effect.flip(handle.send(answer)), RunStoreError)
        store.failing.on = false
        // The retry saves the kept answer first; then the prompt is answered, and the retry is refused.
        const retried = yield* Effect.flip(handle.send(answer))
        assert.strictEqual(retried._tag, "PromptNotOpenError")
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(yield* resultOf(handle), "x: yes")
      })
  )
})
