import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Ref, Schema } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  InvalidSnapshotError,
  RunNotActiveError,
  type Snapshot,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { allEvents, makeCounter, makeGate, resultOf, statusIs, waitUntil } from "./utils.js"

const A = Event.define("A", { n: Schema.Number })
const B = Event.define("B", { n: Schema.Number })
const Item = Event.define("Item", { n: Schema.Number })
const Result = Event.define("Result", { n: Schema.Number })
const Progress = Event.define("Progress", { label: Schema.String })
const Stamp = Event.define("Stamp", { n: Schema.NumberFromString, at: Schema.DateFromString })

const json = (snapshot: Snapshot.Snapshot): unknown => JSON.parse(JSON.stringify(snapshot))

const assertPlainJson = (snapshot: Snapshot.Snapshot) => assert.deepStrictEqual(json(snapshot), snapshot)

describe("Snapshot", () => {
  describe("handle.snapshot", () => {
    it.scoped("is plain JSON at any moment: running, waiting, after completion, after cancel", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wf = defineWorkflow({
          name: "snap-json",
          output: Schema.String,
          state: Schema.Struct({ seen: Schema.Number }),
          initialState: { seen: 0 }
        })
          .step(StartEvent, () => Effect.succeed(A.make({ n: 1 })), { emits: [A] })
          .step(
            A,
            (a, ctx) =>
              Effect.gen(function* () {
                yield* ctx.write(Progress.make({ label: `a${a.n}` }))
                yield* gate.pass
                yield* ctx.state.pipe(Ref.update((s) => ({ seen: s.seen + 1 })))
                const h = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "go?" }) })
                return StopEvent.make({ result: h.response })
              }),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        const running = yield* handle.snapshot
        assert.strictEqual(running.status, "running")
        assertPlainJson(running)

        yield* gate.open
        const second = yield* Workflow.start(wf)
        yield* statusIs(second, "waiting")
        const waiting = yield* second.snapshot
        assert.strictEqual(waiting.status, "waiting")
        assert.strictEqual(waiting.waiters.length, 1)
        assertPlainJson(waiting)
        yield* second.send(HumanResponse.make({ response: "yes" }))
        assert.strictEqual(yield* second.result, "yes")
        const completed = yield* second.snapshot
        assert.strictEqual(completed.status, "completed")
        assert.strictEqual(completed.result, "yes")
        assertPlainJson(completed)

        yield* handle.cancel
        const cancelled = yield* handle.snapshot
        assert.strictEqual(cancelled.status, "cancelled")
        assert.strictEqual((cancelled.published.at(-1) as any)._tag, "WorkflowCancelled")
        assertPlainJson(cancelled)
      })
    )

    it.scoped("events and state are encoded by their schemas (NumberFromString, DateFromString)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const at = new Date("2024-01-02T03:04:05.000Z")
        const wf = defineWorkflow({
          name: "snap-encode",
          output: Schema.String,
          state: Schema.Struct({ total: Schema.NumberFromString, since: Schema.DateFromString }),
          initialState: { total: 5, since: at }
        })
          .step(StartEvent, () => Effect.succeed([Stamp.make({ n: 1, at }), Stamp.make({ n: 2, at })]), {
            emits: [Stamp]
          })
          .step(
            Stamp,
            (stamp, ctx) =>
              Effect.gen(function* () {
                yield* ctx.write(stamp)
                if (stamp.n === 1) yield* gate.pass
                if (stamp.n === 2) {
                  const state = yield* ctx.state
                  return StopEvent.make({
                    result: `${typeof stamp.n} ${stamp.n} ${stamp.at instanceof Date} ${stamp.at.toISOString()} / ${state.total + 1} ${state.since instanceof Date}`
                  })
                }
                return undefined
              }),
            { emits: [StopEvent], workers: 1 }
          )
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        const snapshot = yield* handle.snapshot
        assert.deepStrictEqual(snapshot.queued, [
          { step: "Stamp", eventId: "0/StartEvent/1", event: { _tag: "Stamp", n: "2", at: "2024-01-02T03:04:05.000Z" } }
        ])
        assert.deepStrictEqual(
          snapshot.inFlight.map((f) => f.event),
          [{ _tag: "Stamp", n: "1", at: "2024-01-02T03:04:05.000Z" }]
        )
        assert.deepStrictEqual(
          snapshot.published.filter((e: any) => !Event.isInternal(e)),
          [{ _tag: "Stamp", n: "1", at: "2024-01-02T03:04:05.000Z" }]
        )
        assert.deepStrictEqual(snapshot.state, { total: "5", since: "2024-01-02T03:04:05.000Z" })
        yield* handle.cancel

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        // Decoded back: the step gets a number and a Date, and so does the state.
        assert.strictEqual(yield* resultOf(resumed), "number 2 true 2024-01-02T03:04:05.000Z / 6 true")
        const state = yield* resumed.state
        assert.strictEqual(state.total, 5)
        assert.instanceOf(state.since, Date)
        const published = yield* allEvents(resumed)
        assert.deepStrictEqual(published.slice(0, 2), [Stamp.make({ n: 1, at }), Stamp.make({ n: 2, at })])
        assert.instanceOf((published[0] as any).at, Date)
      })
    )

    it.scoped("event ids are deterministic: two runs stopped at the same point give identical snapshots", () =>
      Effect.gen(function* () {
        const take = Effect.gen(function* () {
          const gate = yield* makeGate
          const wf = defineWorkflow({ name: "snap-ids", output: Schema.Number })
            .step(StartEvent, () => Effect.succeed([A.make({ n: 1 }), A.make({ n: 2 })]), { emits: [A] })
            .step(A, (a) => Effect.succeed(B.make({ n: a.n * 10 })), { emits: [B] })
            .step(B, (b) => (b.n === 20 ? Effect.as(gate.pass, StopEvent.make({ result: b.n })) : Effect.void), {
              emits: [StopEvent],
              workers: 1
            })
          const handle = yield* Workflow.start(wf, undefined, { runId: "same-run" })
          yield* gate.reached
          const snapshot = yield* handle.snapshot
          yield* handle.cancel
          return snapshot
        })
        const first = yield* Effect.scoped(take)
        const second = yield* Effect.scoped(take)
        assert.deepStrictEqual(second, first)
        assert.deepStrictEqual(
          first.inFlight.map((f) => [f.step, f.eventId]),
          [["B", "0/StartEvent/1/A/0"]]
        )
      })
    )
  })

  describe("Workflow.resume", () => {
    it.scoped("in-flight invocations re-run (at-least-once), completed ones do not, no new StartEvent", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const count = yield* makeCounter
        const wf = defineWorkflow({ name: "snap-chain", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.as(count.hit("start"), A.make({ n: s.input + 1 })), { emits: [A] })
          .step(A, (a) => Effect.as(count.hit("A"), B.make({ n: a.n * 2 })), { emits: [B] })
          .step(
            B,
            (b) =>
              Effect.gen(function* () {
                yield* count.hit("B")
                yield* gate.pass
                return StopEvent.make({ result: b.n + 100 })
              }),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf, 1)
        yield* gate.reached
        const snapshot = json(yield* handle.snapshot)
        yield* handle.cancel
        assert.deepStrictEqual(yield* count.get, { start: 1, A: 1, B: 1 })

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, snapshot)
        assert.strictEqual(resumed.runId, handle.runId)
        assert.strictEqual(yield* resultOf(resumed), 104)
        assert.deepStrictEqual(yield* count.get, { start: 1, A: 1, B: 2 })
        const internal = yield* allEvents(resumed, true)
        assert.strictEqual(
          internal.filter((e) => e._tag === "EventDispatched" && (e as any).tag === "StartEvent").length,
          1
        )
        assert.strictEqual(
          internal.filter((e) => e._tag === "StepStarted" && (e as any).step === "StartEvent").length,
          1
        )
      })
    )

    it.scoped("queued events and collect buffers survive; the log is replayed and nothing is published twice", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const count = yield* makeCounter
        const make = (gated: boolean) =>
          defineWorkflow({ name: "snap-fanout", output: Schema.Array(Schema.Number) })
            .step(StartEvent, () => Effect.succeed([1, 2, 3].map((n) => Item.make({ n }))), { emits: [Item] })
            .step(
              Item,
              (item, ctx) =>
                Effect.gen(function* () {
                  yield* count.hit(`item${item.n}`)
                  yield* ctx.write(Progress.make({ label: `item ${item.n} started` }))
                  if (gated && item.n === 2) yield* gate.pass
                  yield* ctx.write(Progress.make({ label: `item ${item.n} done` }))
                  return Result.make({ n: item.n * item.n })
                }),
              { name: "worker", emits: [Result], workers: 1 }
            )
            .step(
              Result,
              (r, ctx) =>
                Effect.map(ctx.collect(r, Result, 3), (all) =>
                  Option.isSome(all) ? StopEvent.make({ result: all.value.map((x) => x.n) }) : undefined
                ),
              { name: "join", emits: [StopEvent] }
            )
        const baseline = yield* Workflow.start(make(false))
        assert.deepStrictEqual(yield* resultOf(baseline), [1, 4, 9])
        const expected = yield* allEvents(baseline)

        const wf = make(true)
        const before = yield* count.get
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        const snapshot = yield* handle.snapshot
        yield* handle.cancel
        assert.deepStrictEqual(
          snapshot.inFlight.map((f) => [f.step, f.eventId]),
          [["worker", "0/StartEvent/1"]]
        )
        assert.deepStrictEqual(
          snapshot.queued.map((q) => [q.step, q.eventId]),
          [["worker", "0/StartEvent/2"]]
        )
        assert.deepStrictEqual(snapshot.collected, [
          { step: "join", events: [{ id: "0/StartEvent/0/worker/0", event: { _tag: "Result", n: 1 } }] }
        ])

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.deepStrictEqual(yield* resultOf(resumed), [1, 4, 9])
        const after = yield* count.get
        assert.deepStrictEqual(
          { item1: after.item1 - before.item1, item2: after.item2 - before.item2, item3: after.item3 - before.item3 },
          { item1: 1, item2: 2, item3: 1 }
        )
        // The resumed run's events() replays the log from before the snapshot, then what came after, once each.
        assert.deepStrictEqual(yield* allEvents(resumed), expected)
      })
    )

    it.scoped("an open waiter survives: the prompt is not published again and an answer after resume resolves it", () =>
      Effect.gen(function* () {
        const count = yield* makeCounter
        const wf = defineWorkflow({ name: "snap-waiter", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* count.hit("ask")
              const h = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "approve?" }) })
              return StopEvent.make({ result: `answer: ${h.response}` })
            }),
          { name: "ask", emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        const snapshot = yield* handle.snapshot
        yield* handle.cancel
        assert.deepStrictEqual(
          snapshot.waiters.map((w) => [w.step, w.eventId, w.tag]),
          [["ask", "0", "HumanResponse"]]
        )
        assert.strictEqual(snapshot.pending.length, 1)

        const resumed = yield* Workflow.resume(wf, json(snapshot))
        yield* statusIs(resumed, "waiting")
        assert.strictEqual((yield* resumed.snapshot).waiters.length, 1)
        yield* resumed.send(HumanResponse.make({ response: "yes" }))
        assert.strictEqual(yield* resultOf(resumed), "answer: yes")
        assert.deepStrictEqual(yield* count.get, { ask: 2 })
        const published = yield* allEvents(resumed)
        assert.deepStrictEqual(
          published.map((e) => e._tag),
          ["InputRequired", "StopEvent"]
        )
      })
    )

    it.scoped("a waitFor answered before the snapshot returns the same answer when its invocation re-runs", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const count = yield* makeCounter
        const wf = defineWorkflow({ name: "snap-answered", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* count.hit("ask")
              const h = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "name?" }) })
              yield* gate.pass
              return StopEvent.make({ result: `hello ${h.response}` })
            }),
          { name: "ask", emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        yield* handle.send(HumanResponse.make({ response: "Grace" }))
        yield* gate.reached
        const snapshot = yield* handle.snapshot
        yield* handle.cancel
        assert.deepStrictEqual(snapshot.inFlight[0].answers, [
          { index: 0, event: { _tag: "HumanResponse", response: "Grace" } }
        ])

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.strictEqual(yield* resultOf(resumed), "hello Grace")
        assert.deepStrictEqual(yield* count.get, { ask: 2 })
        assert.deepStrictEqual(
          (yield* allEvents(resumed)).map((e) => e._tag),
          ["InputRequired", "StopEvent"]
        )
      })
    )

    it.scoped("a ctx.collect that had completed in the in-flight invocation returns the same result on re-run", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wf = defineWorkflow({ name: "snap-collect", output: Schema.Array(Schema.Number) })
          .step(StartEvent, () => Effect.succeed([Result.make({ n: 1 }), Result.make({ n: 2 })]), {
            emits: [Result]
          })
          .step(
            Result,
            (r, ctx) =>
              Effect.gen(function* () {
                const all = yield* ctx.collect(r, Result, 2)
                if (Option.isNone(all)) return undefined
                yield* gate.pass
                return StopEvent.make({ result: all.value.map((x) => x.n) })
              }),
            { name: "join", emits: [StopEvent], workers: 1 }
          )
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        const snapshot = yield* handle.snapshot
        yield* handle.cancel
        assert.deepStrictEqual(snapshot.collected, [])
        assert.deepStrictEqual(
          snapshot.inFlight.map((f) => f.collects),
          [
            [
              {
                index: 0,
                events: [
                  { _tag: "Result", n: 1 },
                  { _tag: "Result", n: 2 }
                ]
              }
            ]
          ]
        )

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.deepStrictEqual(yield* resultOf(resumed), [1, 2])
      })
    )

    it.scoped("events a re-run invocation had sent with ctx.send before the snapshot are not dispatched again", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const count = yield* makeCounter
        const wf = defineWorkflow({ name: "snap-sent", output: Schema.Array(Schema.Number) })
          .step(
            StartEvent,
            (_, ctx) =>
              Effect.gen(function* () {
                yield* count.hit("start")
                yield* ctx.send(Item.make({ n: 1 }))
                yield* ctx.send(Item.make({ n: 2 }))
                yield* gate.pass
                yield* ctx.send(Item.make({ n: 3 }))
              }),
            { emits: [Item] }
          )
          .step(Item, (item) => Effect.as(count.hit(`item${item.n}`), Result.make({ n: item.n })), {
            name: "worker",
            emits: [Result]
          })
          .step(
            Result,
            (r, ctx) =>
              Effect.map(ctx.collect(r, Result, 3), (all) =>
                Option.isSome(all) ? StopEvent.make({ result: all.value.map((x) => x.n).sort() }) : undefined
              ),
            { name: "join", emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        yield* waitUntil(
          Effect.map(handle.snapshot, (s) => s.inFlight.length === 1 && s.collected.length === 1),
          "items 1 and 2 handled"
        )
        const snapshot = yield* handle.snapshot
        yield* handle.cancel
        assert.deepStrictEqual(yield* count.get, { start: 1, item1: 1, item2: 1 })

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.deepStrictEqual(yield* resultOf(resumed), [1, 2, 3])
        assert.deepStrictEqual(yield* count.get, { start: 2, item1: 1, item2: 1, item3: 1 })
      })
    )

    it.scoped("an unclaimed event survives a resume: a waiter registered after the resume takes it", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wf = defineWorkflow({ name: "snap-unclaimed", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* gate.pass
              const h = yield* ctx.waitFor(HumanResponse)
              return StopEvent.make({ result: `got ${h.response}` })
            }),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        yield* handle.send(HumanResponse.make({ response: "early bird" }))
        const snapshot = yield* handle.snapshot
        yield* handle.cancel
        assert.deepStrictEqual(snapshot.unclaimed, [
          { id: "x/0", event: { _tag: "HumanResponse", response: "early bird" } }
        ])

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.strictEqual(yield* resultOf(resumed), "got early bird")
      })
    )

    it.scoped("a snapshot taken after cancel resumes the run, which then ends once, with its StopEvent", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wf = defineWorkflow({ name: "snap-cancelled", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(A.make({ n: 7 })), { emits: [A] })
          .step(
            A,
            (a, ctx) =>
              Effect.gen(function* () {
                yield* ctx.write(Progress.make({ label: "working" }))
                yield* gate.pass
                return StopEvent.make({ result: `done ${a.n}` })
              }),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* gate.reached
        yield* handle.cancel
        const snapshot = yield* handle.snapshot
        assert.strictEqual(snapshot.status, "cancelled")

        yield* gate.open
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.strictEqual(yield* resultOf(resumed), "done 7")
        assert.strictEqual(yield* resumed.status, "completed")
        assert.deepStrictEqual(yield* allEvents(resumed), [
          Progress.make({ label: "working" }),
          StopEvent.make({ result: "done 7" })
        ])
      })
    )

    it.scoped("resuming a completed snapshot gives its result; the resumed run accepts no events", () =>
      Effect.gen(function* () {
        const count = yield* makeCounter
        const wf = defineWorkflow({ name: "snap-completed", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.as(count.hit("start"), A.make({ n: s.input })), { emits: [A] })
          .step(A, (a) => Effect.as(count.hit("A"), StopEvent.make({ result: a.n * 3 })), { emits: [StopEvent] })
        const handle = yield* Workflow.start(wf, 14)
        assert.strictEqual(yield* handle.result, 42)
        const snapshot = yield* handle.snapshot
        const resumed = yield* Workflow.resume(wf, json(snapshot))
        assert.strictEqual(yield* resumed.result, 42)
        assert.strictEqual(yield* resumed.status, "completed")
        assert.deepStrictEqual(yield* count.get, { start: 1, A: 1 })
        assert.deepStrictEqual(yield* allEvents(resumed), yield* allEvents(handle))
        const error = yield* Effect.flip(resumed.send(A.make({ n: 1 })))
        assert.instanceOf(error, RunNotActiveError)
      })
    )
  })

  describe("InvalidSnapshotError", () => {
    const gateless = defineWorkflow({ name: "snap-invalid", output: Schema.String })
      .step(
        StartEvent,
        () => Effect.succeed([Stamp.make({ n: 1, at: new Date(0) }), Stamp.make({ n: 2, at: new Date(0) })]),
        {
          emits: [Stamp]
        }
      )
      .step(Stamp, () => Effect.never, { emits: [StopEvent], workers: 1 })

    /** A snapshot with one Stamp in flight and one queued. */
    const base = Effect.gen(function* () {
      const handle = yield* Workflow.start(gateless)
      yield* waitUntil(
        Effect.map(handle.snapshot, (s) => s.queued.length === 1 && s.inFlight.length === 1),
        "one in flight, one queued"
      )
      const snapshot = json(yield* handle.snapshot) as any
      yield* handle.cancel
      return snapshot
    })

    const rejected = (snapshot: unknown, wf: Workflow.AnyWith<never> = gateless) =>
      Effect.flatMap(Effect.flip(Workflow.resume(wf, snapshot)), (error) =>
        Effect.sync(() => {
          assert.instanceOf(error, InvalidSnapshotError)
          return error.message
        })
      )

    it.scoped("a snapshot of another workflow", () =>
      Effect.gen(function* () {
        const snapshot = yield* base
        const message = yield* rejected({ ...snapshot, workflow: "someone-else" })
        assert.include(message, '"someone-else"')
        assert.include(message, '"snap-invalid"')
      })
    )

    it.scoped("a snapshot of another format version", () =>
      Effect.gen(function* () {
        const snapshot = yield* base
        const message = yield* rejected({ ...snapshot, version: 99 })
        assert.include(message, "version 99")
      })
    )

    it.scoped("a corrupted snapshot (wrong shape, not an object)", () =>
      Effect.gen(function* () {
        const snapshot = yield* base
        assert.include(yield* rejected({ ...snapshot, queued: "nope" }), "queued")
        const { waiters: _, ...withoutWaiters } = snapshot
        assert.include(yield* rejected(withoutWaiters), "waiters")
        assert.include(yield* rejected(null), "not a snapshot")
        assert.include(yield* rejected([1, 2, 3]), "not a snapshot")
      })
    )

    it.scoped("an event that fails its schema names its path", () =>
      Effect.gen(function* () {
        const snapshot = yield* base
        assert.strictEqual(snapshot.queued[0].event.n, "2")
        const broken = {
          ...snapshot,
          queued: [{ ...snapshot.queued[0], event: { ...snapshot.queued[0].event, n: "two" } }]
        }
        const message = yield* rejected(broken)
        assert.include(message, "queued[0].event")
        const brokenInFlight = {
          ...snapshot,
          inFlight: [{ ...snapshot.inFlight[0], event: { ...snapshot.inFlight[0].event, n: "one" } }]
        }
        assert.include(yield* rejected(brokenInFlight), "inFlight[0].event")
      })
    )

    it.scoped("a step name the workflow does not have", () =>
      Effect.gen(function* () {
        const snapshot = yield* base
        const message = yield* rejected({ ...snapshot, queued: [{ ...snapshot.queued[0], step: "Vanished" }] })
        assert.include(message, '"Vanished"')
        assert.include(message, "queued[0].step")
      })
    )
  })
})
