import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Ref, Schema, Stream, TestClock } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  type RunHandle,
  RunNotActiveError,
  StartEvent,
  StopEvent,
  WaitTimeoutError,
  Workflow
} from "@eventflow/core"
import { allEvents, statusIs, waitUntil } from "./utils.js"

const Job = Event.define("Job", { n: Schema.Number })
const Done = Event.define("Done", { n: Schema.Number, note: Schema.String })
const Approval = Event.define("Approval", {
  who: Schema.String,
  ok: Schema.Boolean,
  requestId: Schema.optional(Schema.String)
})

/** The `requestId`s of the unanswered prompts, oldest first. */
const pendingIds = (handle: RunHandle) => Effect.map(handle.snapshot, (s) => s.pending.map((p) => p.requestId ?? null))

describe("HumanInTheLoop", () => {
  describe("ctx.waitFor", () => {
    it.scoped("an answer sent as soon as the prompt is seen resolves the waiter", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-prompt", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "Your name?" }) })
              return StopEvent.make({ result: `hello ${answer.response}` })
            }),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        const prompt = yield* handle.events().pipe(
          Stream.filter((e) => e._tag === "InputRequired"),
          Stream.runHead
        )
        // The prompt carries its deterministic id (the waiter's key), the one `pending` shows.
        assert.deepStrictEqual(
          Option.getOrNull(prompt),
          InputRequired.make({ prompt: "Your name?", requestId: "StartEvent@0#0" })
        )
        yield* handle.send(HumanResponse.make({ response: "Ada" }))
        assert.strictEqual(yield* handle.result, "hello Ada")
        const published = yield* allEvents(handle)
        assert.deepStrictEqual(
          published.map((e) => e._tag),
          ["InputRequired", "StopEvent"]
        )
      })
    )

    it.scoped("the prompt is published only after the waiter is registered (both in one step of the run)", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-order", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "?" }) }), (a) =>
              StopEvent.make({ result: a.response })
            ),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        // The moment the prompt is in the log, a snapshot already shows the open waiter.
        yield* handle.events().pipe(
          Stream.filter((e) => e._tag === "InputRequired"),
          Stream.runHead
        )
        const snapshot = yield* handle.snapshot
        assert.deepStrictEqual(
          snapshot.waiters.map((w) => ({ step: w.step, eventId: w.eventId, tag: w.tag })),
          [{ step: "StartEvent", eventId: "0", tag: "HumanResponse" }]
        )
        yield* handle.send(HumanResponse.make({ response: "ok" }))
        assert.strictEqual(yield* handle.result, "ok")
      })
    )

    it.scoped("an event that resolves a waiter is not also routed to the steps that accept it", () =>
      Effect.gen(function* () {
        const answered = yield* Deferred.make<string>()
        const release = yield* Deferred.make<void>()
        const routed = yield* Ref.make(0)
        const wf = defineWorkflow({ name: "hitl-not-routed", output: Schema.String })
          .step(
            StartEvent,
            (_, ctx) =>
              Effect.gen(function* () {
                const answer = yield* ctx.waitFor(HumanResponse)
                yield* Deferred.succeed(answered, answer.response)
                yield* Deferred.await(release)
                return StopEvent.make({ result: `waiter got ${answer.response}` })
              }),
            { emits: [StopEvent] }
          )
          .step(
            HumanResponse,
            (h) =>
              Effect.as(
                Ref.update(routed, (n) => n + 1),
                StopEvent.make({ result: `step got ${h.response}` })
              ),
            { name: "onHuman", emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* waitUntil(
          Effect.map(handle.snapshot, (s) => s.waiters.length === 1),
          "waiter registered"
        )
        yield* handle.send(HumanResponse.make({ response: "yes" }))
        assert.strictEqual(yield* Deferred.await(answered), "yes")
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual(yield* handle.result, "waiter got yes")
        assert.strictEqual(yield* Ref.get(routed), 0)
        const internal = yield* allEvents(handle, true)
        assert.isFalse(internal.some((e) => e._tag === "EventDispatched" && (e as any).eventId === "x/0"))
        assert.isFalse(internal.some((e) => e._tag === "StepStarted" && (e as any).step === "onHuman"))
      })
    )

    it.scoped("parallel waiters in one invocation stay distinct (each gets the event its `match` accepts)", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({
          name: "hitl-parallel",
          output: Schema.Array(Schema.String),
          external: [Approval]
        }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              const [alice, bob] = yield* Effect.all(
                [
                  ctx.waitFor(Approval, { match: (a) => a.who === "alice" }),
                  ctx.waitFor(Approval, { match: (a) => a.who === "bob" })
                ],
                { concurrency: "unbounded" }
              )
              return StopEvent.make({ result: [`${alice.who}:${alice.ok}`, `${bob.who}:${bob.ok}`] })
            }),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* waitUntil(
          Effect.map(handle.snapshot, (s) => s.waiters.length === 2),
          "two waiters registered"
        )
        const snapshot = yield* handle.snapshot
        const keys = snapshot.waiters.map((w) => w.key)
        assert.strictEqual(new Set(keys).size, 2, `distinct keys: ${keys.join(", ")}`)
        yield* handle.send(Approval.make({ who: "bob", ok: false }))
        // Bob's answer resolved Bob's waiter only: Alice's is still open.
        const after = yield* handle.snapshot
        assert.strictEqual(after.waiters.length, 1)
        assert.strictEqual(yield* handle.status, "waiting")
        yield* handle.send(Approval.make({ who: "alice", ok: true }))
        assert.deepStrictEqual(yield* handle.result, ["alice:true", "bob:false"])
      })
    )

    it.scoped("the worker slot is released while waiting: with workers 1, the next event's invocation runs", () =>
      Effect.gen(function* () {
        const secondRan = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "hitl-slot", output: Schema.Array(Schema.String) })
          .step(StartEvent, () => Effect.succeed([Job.make({ n: 1 }), Job.make({ n: 2 })]), { emits: [Job] })
          .step(
            Job,
            (job, ctx) =>
              job.n === 1
                ? Effect.map(ctx.waitFor(HumanResponse), (h) => Done.make({ n: 1, note: h.response }))
                : Effect.as(Deferred.succeed(secondRan, undefined), Done.make({ n: 2, note: "ran" })),
            { emits: [Done], workers: 1 }
          )
          .step(
            Done,
            (done, ctx) =>
              Effect.map(ctx.collect(done, Done, 2), (all) =>
                Option.isSome(all)
                  ? StopEvent.make({ result: all.value.map((d) => `${d.n}:${d.note}`).sort() })
                  : undefined
              ),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        // "waiting" means nothing runs and nothing is queued: Job 2 ran while Job 1 waited.
        yield* statusIs(handle, "waiting")
        assert.isTrue(yield* Deferred.isDone(secondRan))
        yield* handle.send(HumanResponse.make({ response: "answered" }))
        assert.deepStrictEqual(yield* handle.result, ["1:answered", "2:ran"])
      })
    )

    it.scoped("a resolved waiter re-acquires a worker slot: it resumes only when the slot is free (cap exact)", () =>
      Effect.gen(function* () {
        const log = yield* Ref.make<ReadonlyArray<string>>([])
        const inside = yield* Ref.make(0)
        const maxInside = yield* Ref.make(0)
        const secondStarted = yield* Deferred.make<void>()
        const releaseSecond = yield* Deferred.make<void>()
        const enter = (label: string) =>
          Effect.gen(function* () {
            const n = yield* Ref.updateAndGet(inside, (k) => k + 1)
            yield* Ref.update(maxInside, (m) => Math.max(m, n))
            yield* Ref.update(log, (xs) => [...xs, label])
          })
        const leave = (label: string) =>
          Effect.zipRight(
            Ref.update(inside, (k) => k - 1),
            Ref.update(log, (xs) => [...xs, label])
          )
        const wf = defineWorkflow({ name: "hitl-reacquire", output: Schema.Array(Schema.String) })
          .step(StartEvent, () => Effect.succeed([Job.make({ n: 1 }), Job.make({ n: 2 })]), { emits: [Job] })
          .step(
            Job,
            (job, ctx) =>
              Effect.gen(function* () {
                if (job.n === 1) {
                  yield* enter("1 start")
                  yield* leave("1 waits")
                  const h = yield* ctx.waitFor(HumanResponse)
                  yield* enter("1 resumed")
                  yield* leave("1 done")
                  return Done.make({ n: 1, note: h.response })
                }
                yield* enter("2 start")
                yield* Deferred.succeed(secondStarted, undefined)
                yield* Deferred.await(releaseSecond)
                yield* leave("2 done")
                return Done.make({ n: 2, note: "ran" })
              }),
            { emits: [Done], workers: 1 }
          )
          .step(
            Done,
            (done, ctx) =>
              Effect.map(ctx.collect(done, Done, 2), (all) =>
                Option.isSome(all) ? StopEvent.make({ result: all.value.map((d) => `${d.n}:${d.note}`) }) : undefined
              ),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* Deferred.await(secondStarted)
        // Job 2 holds the only slot: the answer resolves Job 1's waiter, which must wait for the slot.
        yield* handle.send(HumanResponse.make({ response: "go" }))
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
        assert.deepStrictEqual(yield* Ref.get(log), ["1 start", "1 waits", "2 start"])
        yield* Deferred.succeed(releaseSecond, undefined)
        assert.deepStrictEqual(yield* handle.result, ["2:ran", "1:go"])
        assert.deepStrictEqual(yield* Ref.get(log), ["1 start", "1 waits", "2 start", "2 done", "1 resumed", "1 done"])
        assert.strictEqual(yield* Ref.get(maxInside), 1)
      })
    )

    it.scoped("timeout: fails with WaitTimeoutError when nothing arrives in time (TestClock)", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-timeout", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.map(ctx.waitFor(HumanResponse, { timeout: "1 hour" }), (h) =>
              StopEvent.make({ result: h.response })
            ),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        yield* waitUntil(
          Effect.map(TestClock.sleeps(), (s) => Chunk.size(s) > 0),
          "the wait's timer is set"
        )
        yield* TestClock.adjust("59 minutes")
        assert.strictEqual(yield* handle.status, "waiting")
        yield* TestClock.adjust("1 minute")
        const error = yield* Effect.flip(handle.result)
        assert.instanceOf(error, WaitTimeoutError)
        assert.strictEqual((error as WaitTimeoutError).step, "StartEvent")
        assert.strictEqual((error as WaitTimeoutError).tag, "HumanResponse")
        assert.strictEqual(yield* handle.status, "failed")
      })
    )

    it.scoped("an answer before the timeout wins; the timeout then never fires", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-timeout-answered", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.map(ctx.waitFor(HumanResponse, { timeout: "1 hour" }), (h) =>
              StopEvent.make({ result: h.response })
            ),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        yield* TestClock.adjust("30 minutes")
        yield* handle.send(HumanResponse.make({ response: "in time" }))
        assert.strictEqual(yield* handle.result, "in time")
        yield* TestClock.adjust("2 hours")
        assert.strictEqual(yield* handle.status, "completed")
      })
    )

    it.scoped("status is running while a step runs, waiting while a person is awaited, completed at the end", () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const proceed = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "hitl-status", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* Deferred.succeed(started, undefined)
              yield* Deferred.await(proceed)
              const h = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "ok?" }) })
              return StopEvent.make({ result: h.response })
            }),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* Deferred.await(started)
        assert.strictEqual(yield* handle.status, "running")
        yield* Deferred.succeed(proceed, undefined)
        yield* statusIs(handle, "waiting")
        assert.strictEqual((yield* handle.snapshot).status, "waiting")
        yield* handle.send(HumanResponse.make({ response: "fine" }))
        assert.strictEqual(yield* handle.result, "fine")
        assert.strictEqual(yield* handle.status, "completed")
      })
    )

    it.scoped("an event nobody takes is published as UnhandledEvent and kept: a waiter registered later takes it", () =>
      Effect.gen(function* () {
        const latch = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "hitl-unclaimed", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* Deferred.await(latch)
              const h = yield* ctx.waitFor(HumanResponse)
              return StopEvent.make({ result: `late waiter got ${h.response}` })
            }),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* handle.send(HumanResponse.make({ response: "early" }))
        const snapshot = yield* handle.snapshot
        assert.deepStrictEqual(
          snapshot.unclaimed.map((u) => u.id),
          ["x/0"]
        )
        assert.isTrue(
          snapshot.published.some(
            (e: any) => e._tag === "UnhandledEvent" && e.eventId === "x/0" && e.tag === "HumanResponse"
          )
        )
        yield* Deferred.succeed(latch, undefined)
        assert.strictEqual(yield* handle.result, "late waiter got early")
        assert.deepStrictEqual((yield* handle.snapshot).unclaimed, [])
      })
    )
  })

  describe("event-based", () => {
    it.scoped("a step returns InputRequired; handle.send(HumanResponse) continues the step that accepts it", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-events", input: Schema.String, output: Schema.String })
          .step(StartEvent, (start) => Effect.succeed(InputRequired.make({ prompt: `Publish "${start.input}"?` })), {
            emits: [InputRequired]
          })
          .step(HumanResponse, (h) => Effect.succeed(StopEvent.make({ result: `decision: ${h.response}` })), {
            emits: [StopEvent]
          })
        const handle = yield* Workflow.start(wf, "draft")
        const prompt = yield* handle.events().pipe(
          Stream.filter((e) => e._tag === "InputRequired"),
          Stream.runHead
        )
        assert.deepStrictEqual(
          Option.getOrNull(prompt),
          InputRequired.make({ prompt: 'Publish "draft"?', requestId: "0/StartEvent/0" })
        )
        yield* statusIs(handle, "waiting")
        assert.deepStrictEqual(yield* pendingIds(handle), ["0/StartEvent/0"])
        yield* handle.send(HumanResponse.make({ response: "approve" }))
        assert.strictEqual(yield* handle.result, "decision: approve")
      })
    )

    it.scoped("HumanResponse answers the prompt with its requestId, or the oldest one without", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-request-ids", output: Schema.Array(Schema.String) })
          .step(
            StartEvent,
            () =>
              Effect.succeed(
                ["a", "b", "c"].map((requestId) => InputRequired.make({ prompt: `question ${requestId}`, requestId }))
              ),
            { emits: [InputRequired] }
          )
          .step(
            HumanResponse,
            (h, ctx) =>
              Effect.map(ctx.collect(h, HumanResponse, 3), (all) =>
                Option.isSome(all) ? StopEvent.make({ result: all.value.map((x) => x.response) }) : undefined
              ),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        assert.deepStrictEqual(yield* pendingIds(handle), ["a", "b", "c"])
        yield* handle.send(HumanResponse.make({ response: "to b", requestId: "b" }))
        yield* statusIs(handle, "waiting")
        assert.deepStrictEqual(yield* pendingIds(handle), ["a", "c"])
        yield* handle.send(HumanResponse.make({ response: "to the oldest" }))
        yield* statusIs(handle, "waiting")
        assert.deepStrictEqual(yield* pendingIds(handle), ["c"])
        yield* handle.send(HumanResponse.make({ response: "to c", requestId: "c" }))
        assert.deepStrictEqual(yield* handle.result, ["to b", "to the oldest", "to c"])
      })
    )

    it.scoped("a custom external response type works the same way (by requestId, or the oldest)", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-custom", output: Schema.Array(Schema.String), external: [Approval] })
          .step(
            StartEvent,
            () =>
              Effect.succeed([
                InputRequired.make({ prompt: "legal?", requestId: "legal" }),
                InputRequired.make({ prompt: "design?", requestId: "design" })
              ]),
            { emits: [InputRequired] }
          )
          .step(
            Approval,
            (a, ctx) =>
              Effect.map(ctx.collect(a, Approval, 2), (all) =>
                Option.isSome(all) ? StopEvent.make({ result: all.value.map((x) => `${x.who}:${x.ok}`) }) : undefined
              ),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        assert.deepStrictEqual(yield* pendingIds(handle), ["legal", "design"])
        yield* handle.send(Approval.make({ who: "dana", ok: true, requestId: "design" }))
        yield* statusIs(handle, "waiting")
        assert.deepStrictEqual(yield* pendingIds(handle), ["legal"])
        // Sent in encoded form (as from outside) and without requestId: answers the oldest.
        yield* handle.send({ _tag: "Approval", who: "lee", ok: false })
        assert.deepStrictEqual(yield* handle.result, ["dana:true", "lee:false"])
      })
    )

    it.scoped("send to a finished run fails with RunNotActiveError (completed, cancelled)", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "hitl-not-active", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(InputRequired.make({ prompt: "?" })), { emits: [InputRequired] })
          .step(HumanResponse, (h) => Effect.succeed(StopEvent.make({ result: h.response })), { emits: [StopEvent] })
        const done = yield* Workflow.start(wf)
        yield* statusIs(done, "waiting")
        yield* done.send(HumanResponse.make({ response: "first" }))
        assert.strictEqual(yield* done.result, "first")
        const late = yield* Effect.flip(done.send(HumanResponse.make({ response: "second" })))
        assert.instanceOf(late, RunNotActiveError)
        assert.strictEqual((late as RunNotActiveError).status, "completed")
        assert.strictEqual((late as RunNotActiveError).runId, done.runId)

        const cancelled = yield* Workflow.start(wf)
        yield* statusIs(cancelled, "waiting")
        yield* cancelled.cancel
        const error = yield* Effect.flip(cancelled.send(HumanResponse.make({ response: "too late" })))
        assert.instanceOf(error, RunNotActiveError)
        assert.strictEqual((error as RunNotActiveError).status, "cancelled")
      })
    )
  })

  it.scoped("an answer a waiter takes answers only that waiter's prompt, not an older pending one", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "two-prompts", output: Schema.String })
        .step(
          StartEvent,
          () => Effect.succeed([InputRequired.make({ prompt: "older", requestId: "a" }), Job.make({ n: 1 })]),
          { emits: [InputRequired, Job] }
        )
        .step(
          Job,
          (_, ctx) =>
            Effect.map(
              ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "waiter", requestId: "b" }) }),
              (answer) => Done.make({ n: 1, note: answer.response })
            ),
          { emits: [Done] }
        )
        .step(Done, (done) => Effect.succeed(StopEvent.make({ result: done.note })), { emits: [StopEvent] })
        .step(HumanResponse, (r) => Effect.succeed(StopEvent.make({ result: `step got ${r.response}` })), {
          emits: [StopEvent]
        })
      const handle = yield* Workflow.start(wf)
      yield* waitUntil(
        Effect.map(pendingIds(handle), (ids) => ids.length === 2),
        "two pending prompts"
      )
      assert.deepStrictEqual(yield* pendingIds(handle), ["a", "b"])
      // No requestId: the open waiter takes it, and only the waiter's prompt ("b") is answered.
      yield* handle.send(HumanResponse.make({ response: "to the waiter" }))
      yield* waitUntil(
        Effect.map(pendingIds(handle), (ids) => ids.length === 1),
        "one pending prompt"
      )
      assert.deepStrictEqual(yield* pendingIds(handle), ["a"])
    })
  )

  describe("handle.settled", () => {
    it.scoped("waits while steps run, then succeeds with waiting when the run waits for input, then completed", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "settled", output: Schema.String })
          .step(StartEvent, () => Effect.as(Effect.sleep("1 second"), Job.make({ n: 1 })), { emits: [Job] })
          .step(
            Job,
            (job, ctx) =>
              Effect.gen(function* () {
                const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "ok?" }) })
                yield* Effect.sleep("1 second")
                return StopEvent.make({ result: `${job.n}: ${answer.response}` })
              }),
            { emits: [StopEvent] }
          )
        const handle = yield* Workflow.start(wf)
        const first = yield* Effect.fork(handle.settled)
        yield* TestClock.adjust("999 millis")
        assert.isTrue(Option.isNone(yield* first.poll))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* first.await.pipe(Effect.flatten), "waiting")
        assert.strictEqual((yield* handle.pending).length, 1)
        // Already waiting: it answers at once.
        assert.strictEqual(yield* handle.settled, "waiting")

        yield* handle.send(HumanResponse.make({ response: "yes" }))
        const second = yield* Effect.fork(handle.settled)
        yield* TestClock.adjust("999 millis")
        assert.isTrue(Option.isNone(yield* second.poll))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* second.await.pipe(Effect.flatten), "completed")
        assert.strictEqual(yield* handle.result, "1: yes")
        assert.strictEqual(yield* handle.settled, "completed")
      })
    )

    it.scoped("a failed or cancelled run settles with its status; an interrupted settled leaves the run alone", () =>
      Effect.gen(function* () {
        const failing = defineWorkflow({ name: "settled-fail", output: Schema.String }).step(
          StartEvent,
          () => Effect.zipRight(Effect.sleep("1 second"), Effect.fail("nope")),
          { emits: [StopEvent] }
        )
        const failed = yield* Workflow.start(failing)
        const settling = yield* Effect.fork(failed.settled)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* settling.await.pipe(Effect.flatten), "failed")

        const slow = defineWorkflow({ name: "settled-cancel", output: Schema.String }).step(
          StartEvent,
          () => Effect.as(Effect.sleep("1 hour"), StopEvent.make({ result: "late" })),
          { emits: [StopEvent] }
        )
        const cancelled = yield* Workflow.start(slow)
        const interrupted = yield* Effect.fork(cancelled.settled)
        yield* Effect.yieldNow()
        assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(interrupted)))
        assert.strictEqual(yield* cancelled.status, "running")
        const settling2 = yield* Effect.fork(cancelled.settled)
        yield* cancelled.cancel
        assert.strictEqual(yield* settling2.await.pipe(Effect.flatten), "cancelled")
      })
    )
  })
})
