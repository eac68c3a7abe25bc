/**
 * What may enter a run from outside (API §7): only an event an open `ctx.waitFor` awaits, `HumanResponse` and the
 * workflow's `external` types; answers are tied to their prompt by one id; per-run limits on what outside sends
 * pile up. The workflows reproduce the cases of issue 10.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Layer, Ref, Schema, TestClock } from "effect"
import {
  defineWorkflow,
  Event,
  EventNotAcceptedError,
  HumanResponse,
  InputRequired,
  PromptNotOpenError,
  RunLimitError,
  type RunHandle,
  RunStore,
  type Snapshot,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { resultOf, statusIs, waitUntil } from "./utils.js"

const Draft = Event.define("Draft", { text: Schema.String, revision: Schema.Number })
const Approved = Event.define("Approved", { text: Schema.String, revision: Schema.Number })

/**
 * The reviewed draft of issue 10: each draft waits for a person; "yes" approves it (an internal `Approved` event),
 * anything else is feedback that makes a new revision with a new prompt.
 */
const review = defineWorkflow({ name: "review", input: Schema.String, output: Schema.String })
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: start.input, revision: 0 })), { emits: [Draft] })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.gen(function* () {
        const answer = yield* ctx.waitFor(HumanResponse, {
          prompt: InputRequired.make({ prompt: `Approve revision ${draft.revision}: ${draft.text}?` })
        })
        return answer.response === "yes"
          ? Approved.make({ text: draft.text, revision: draft.revision })
          : Draft.make({ text: `${draft.text} (${answer.response})`, revision: draft.revision + 1 })
      }),
    { emits: [Approved, Draft] }
  )
  .step(Approved, (approved) => Effect.succeed(StopEvent.make({ result: `approved r${approved.revision}` })), {
    emits: [StopEvent]
  })

/** Everything about the run that a refused send must leave alone (the clock field aside). */
const observable = (handle: RunHandle) =>
  Effect.map(handle.snapshot, (snapshot): Omit<Snapshot.Snapshot, "updatedAt"> => {
    const { updatedAt: _, ...rest } = snapshot
    return rest
  })

/** The open prompts' ids, after checking that `pending` and the prompts carry one and the same id. */
const openIds = (handle: RunHandle) =>
  Effect.map(handle.pending, (pending) =>
    pending.map((p) => {
      assert.strictEqual(p.eventId, p.requestId)
      assert.strictEqual((p.prompt as InputRequired).requestId, p.requestId)
      return p.requestId
    })
  )

const waitingOn = (handle: RunHandle, n: number) =>
  Effect.zipRight(
    waitUntil(
      Effect.map(handle.pending, (pending) => pending.length === n),
      `${n} open prompts`
    ),
    statusIs(handle, "waiting")
  )

const failure = <E>(effect: Effect.Effect<unknown, E>) => Effect.map(Effect.either(effect), Either.getLeft)

describe("Admission", () => {
  describe("only what a run can await enters from outside", () => {
    it.scoped("StopEvent, StartEvent, InputRequired and internal events are refused, and nothing reaches the run", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(review, "essay")
        yield* waitingOn(handle, 1)
        const before = yield* observable(handle)
        const forged = [
          StopEvent.make({ result: "forged" }),
          StartEvent.make({ input: "second branch" }),
          InputRequired.make({ prompt: "Enter your password:" }),
          Approved.make({ text: "essay", revision: 0 }),
          Draft.make({ text: "injected", revision: 7 })
        ]
        for (const event of forged) {
          const error = yield* Effect.flip(handle.send(event))
          assert.instanceOf(error, EventNotAcceptedError)
          assert.strictEqual(error._tag, "EventNotAcceptedError")
          assert.strictEqual((error as EventNotAcceptedError).tag, event._tag)
          // It says what the run accepts right now.
          assert.deepStrictEqual((error as EventNotAcceptedError).accepted, ["HumanResponse"])
          assert.include(error.message, `does not accept a "${event._tag}" event from outside`)
          assert.include(error.message, "Accepted now: HumanResponse")
        }
        // Nothing changed: no UnhandledEvent, no log entry, no external id used, no prompt added, still waiting.
        assert.deepStrictEqual(yield* observable(handle), before)
        assert.strictEqual(yield* handle.status, "waiting")
        const [requestId] = yield* openIds(handle)
        yield* handle.send(HumanResponse.make({ response: "yes", requestId }))
        assert.strictEqual(yield* resultOf(handle), "approved r0")
      })
    )

    it.scoped("a send to a named step follows the same rule", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(review, "essay")
        yield* waitingOn(handle, 1)
        const before = yield* observable(handle)
        const error = yield* Effect.flip(
          handle.send(Approved.make({ text: "essay", revision: 0 }), { step: "Approved" })
        )
        assert.instanceOf(error, EventNotAcceptedError)
        assert.include(error.message, `(sent to step "Approved")`)
        // An awaited type may not be sent to a step either: that would bypass the waiter.
        const awaited = defineWorkflow({ name: "awaited-targeted", output: Schema.String })
          .step(
            StartEvent,
            (_, ctx) =>
              Effect.map(ctx.waitFor(Approved), (approved) => StopEvent.make({ result: `waited ${approved.text}` })),
            { emits: [StopEvent] }
          )
          .step(Approved, (approved) => Effect.succeed(StopEvent.make({ result: `stepped ${approved.text}` })), {
            emits: [StopEvent]
          })
        // (validate: false: `Approved` comes only from outside here, through the waiter.)
        const other = yield* Workflow.start(awaited, undefined, { validate: false })
        yield* statusIs(other, "waiting")
        const bypass = yield* Effect.flip(other.send(Approved.make({ text: "x", revision: 0 }), { step: "Approved" }))
        assert.instanceOf(bypass, EventNotAcceptedError)
        assert.include(bypass.message, "bypasses the ctx.waitFor")
        assert.deepStrictEqual(yield* observable(handle), before)
        // Sent without a step, the awaited event answers the waiter (and no step that accepts it).
        yield* other.send(Approved.make({ text: "x", revision: 0 }))
        assert.strictEqual(yield* resultOf(other), "waited x")
      })
    )

    it.scoped("an event an open ctx.waitFor awaits enters; once no waiter awaits it, it is refused", () =>
      Effect.gen(function* () {
        const Ping = Event.define("Ping", { n: Schema.Number })
        const wf = defineWorkflow({ name: "awaits-ping", output: Schema.Number })
          .step(
            StartEvent,
            (_, ctx) =>
              Effect.gen(function* () {
                const first = yield* ctx.waitFor(Ping, { match: (p) => p.n > 0 })
                const answer = yield* ctx.waitFor(HumanResponse)
                return StopEvent.make({ result: first.n + answer.response.length })
              }),
            { emits: [StopEvent] }
          )
          .step(Ping, (ping) => Effect.succeed(StopEvent.make({ result: -ping.n })), { emits: [StopEvent] })
        const handle = yield* Workflow.start(wf, undefined, { validate: false })
        yield* statusIs(handle, "waiting")
        // A Ping the waiter's match refuses would otherwise reach the step that accepts Ping: refused.
        const unmatched = yield* Effect.flip(handle.send({ _tag: "Ping", n: 0 }))
        assert.instanceOf(unmatched, EventNotAcceptedError)
        assert.include(unmatched.message, `no open ctx.waitFor for "Ping" matches this event`)
        yield* handle.send({ _tag: "Ping", n: 40 })
        yield* waitUntil(
          Effect.map(handle.snapshot, (s) => s.waiters.length === 1 && s.waiters[0].tag === "HumanResponse"),
          "the second wait"
        )
        const late = yield* Effect.flip(handle.send({ _tag: "Ping", n: 1 }))
        assert.instanceOf(late, EventNotAcceptedError)
        assert.deepStrictEqual((late as EventNotAcceptedError).accepted, ["HumanResponse"])
        yield* handle.send(HumanResponse.make({ response: "ok" }))
        assert.strictEqual(yield* resultOf(handle), 42)
      })
    )

    it.scoped("the workflow's declared external types enter, also sent to a named step", () =>
      Effect.gen(function* () {
        const Feedback = Event.define("Feedback", { note: Schema.String })
        const wf = defineWorkflow({ name: "external-feedback", output: Schema.String, external: [Feedback] })
          .step(StartEvent, () => Effect.succeed(InputRequired.make({ prompt: "feedback?" })), {
            emits: [InputRequired]
          })
          .step(Feedback, (f) => Effect.succeed(StopEvent.make({ result: f.note })), { emits: [StopEvent] })
        const handle = yield* Workflow.start(wf)
        yield* statusIs(handle, "waiting")
        yield* handle.send(Feedback.make({ note: "fine" }), { step: "Feedback" })
        assert.strictEqual(yield* resultOf(handle), "fine")
      })
    )

    it.scoped("a refused send to a durable run saves no checkpoint", () =>
      Effect.gen(function* () {
        let saves = 0
        const store = Layer.effect(
          RunStore.RunStore,
          Effect.map(RunStore.makeMemory, (memory) => ({
            ...memory,
            save: (snapshot: Snapshot.Snapshot) =>
              Effect.suspend(() => {
                saves++
                return memory.save(snapshot)
              })
          }))
        )
        const context = yield* Layer.build(store)
        const handle = yield* Effect.provide(Workflow.start(review, "essay", { durable: true }), context)
        yield* waitingOn(handle, 1)
        const before = saves
        assert.instanceOf(yield* Effect.flip(handle.send(StopEvent.make({ result: "x" }))), EventNotAcceptedError)
        assert.instanceOf(
          yield* Effect.flip(handle.send(HumanResponse.make({ response: "yes", requestId: "made-up" }))),
          PromptNotOpenError
        )
        assert.strictEqual(saves, before)
      })
    )
  })

  describe("answers are tied to their prompt", () => {
    it.scoped("pending ids and the prompts' requestId are one deterministic id, for every kind of prompt", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "three-prompts", output: Schema.String }).step(
          StartEvent,
          (_, ctx) =>
            Effect.gen(function* () {
              yield* ctx.write(InputRequired.make({ prompt: "written" }))
              yield* ctx.write(InputRequired.make({ prompt: "given", requestId: "mine" }))
              const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "awaited" }) })
              return StopEvent.make({ result: answer.response })
            }),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf)
        yield* waitingOn(handle, 3)
        assert.deepStrictEqual(yield* openIds(handle), ["0/StartEvent/w0", "mine", "StartEvent@0#0"])
        // The published prompts carry the same ids.
        const prompts = (yield* handle.snapshot).published as ReadonlyArray<InputRequired>
        assert.deepStrictEqual(
          prompts.filter((e) => e._tag === "InputRequired").map((e) => e.requestId),
          ["0/StartEvent/w0", "mine", "StartEvent@0#0"]
        )
      })
    )

    it.scoped("a snapshot from before prompt ids resumes with the prompt's event id as its requestId", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(review, "essay")
        yield* waitingOn(handle, 1)
        const current = yield* handle.snapshot
        yield* handle.cancel
        // As written before: no requestId on the pending entry nor on its prompt.
        const old = {
          ...current,
          pending: current.pending.map(({ eventId, prompt }) => {
            const { requestId: _, ...bare } = prompt as InputRequired
            return { eventId, prompt: bare }
          })
        }
        const resumed = yield* Workflow.resume(review, old)
        yield* waitingOn(resumed, 1)
        const [id] = yield* openIds(resumed)
        assert.strictEqual(id, "Draft@0/StartEvent/0#0")
        yield* resumed.send(HumanResponse.make({ response: "yes", requestId: id }))
        assert.strictEqual(yield* resultOf(resumed), "approved r0")
      })
    )

    it.scoped(
      "after a resume, an answer to a waitFor prompt reaches that waiter even before it is registered again",
      () =>
        Effect.gen(function* () {
          const blocked = yield* Ref.make(false)
          const release = yield* Deferred.make<void>()
          const wf = defineWorkflow({ name: "resumed-waiter", output: Schema.String })
            .step(
              StartEvent,
              (_, ctx) =>
                Effect.gen(function* () {
                  // Code before the wait runs again on resume: here it is slow, so the answer comes first.
                  if (yield* Ref.get(blocked)) yield* Deferred.await(release)
                  const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "ok?" }) })
                  return StopEvent.make({ result: `waiter got ${answer.response}` })
                }),
              { emits: [StopEvent] }
            )
            // A step that takes stray HumanResponses: the answer to the prompt must not end up here.
            .step(HumanResponse, (h) => Effect.succeed(StopEvent.make({ result: `step got ${h.response}` })), {
              emits: [StopEvent]
            })
          const handle = yield* Workflow.start(wf)
          yield* waitingOn(handle, 1)
          const snapshot = yield* handle.snapshot
          yield* handle.cancel
          yield* Ref.set(blocked, true)
          const resumed = yield* Workflow.resume(wf, snapshot)
          const [id] = yield* openIds(resumed)
          yield* resumed.send(HumanResponse.make({ response: "yes", requestId: id }))
          assert.deepStrictEqual(yield* openIds(resumed), [])
          // One prompt, one answer: a second one is refused.
          assert.instanceOf(
            yield* Effect.flip(resumed.send(HumanResponse.make({ response: "again", requestId: id }))),
            PromptNotOpenError
          )
          yield* Deferred.succeed(release, undefined)
          assert.strictEqual(yield* resultOf(resumed), "waiter got yes")
        })
    )

    it.scoped("an answer with a made-up requestId is refused and approves nothing", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(review, "essay")
        yield* waitingOn(handle, 1)
        const before = yield* observable(handle)
        const error = yield* Effect.flip(handle.send(HumanResponse.make({ response: "yes", requestId: "guessed" })))
        assert.instanceOf(error, PromptNotOpenError)
        assert.strictEqual((error as PromptNotOpenError).requestId, "guessed")
        assert.deepStrictEqual((error as PromptNotOpenError).open, ["Draft@0/StartEvent/0#0"])
        assert.include(error.message, `no open prompt "guessed"`)
        assert.deepStrictEqual(yield* observable(handle), before)
        assert.strictEqual(yield* handle.status, "waiting")
      })
    )

    it.scoped(
      "a retried yes with the old requestId after a revision is refused; the revised draft is not approved",
      () =>
        Effect.gen(function* () {
          const handle = yield* Workflow.start(review, "essay")
          yield* waitingOn(handle, 1)
          const [first] = yield* openIds(handle)
          yield* handle.send(HumanResponse.make({ response: "shorter", requestId: first }))
          yield* waitUntil(
            Effect.map(openIds(handle), (ids) => ids.length === 1 && ids[0] !== first),
            "the revision's prompt"
          )
          const [second] = yield* openIds(handle)
          const before = yield* observable(handle)
          const retried = yield* Effect.flip(handle.send(HumanResponse.make({ response: "yes", requestId: first })))
          assert.instanceOf(retried, PromptNotOpenError)
          assert.deepStrictEqual((retried as PromptNotOpenError).open, [second])
          assert.deepStrictEqual(yield* observable(handle), before)
          assert.strictEqual(yield* handle.status, "waiting")
          yield* handle.send(HumanResponse.make({ response: "yes", requestId: second }))
          assert.strictEqual(yield* resultOf(handle), "approved r1")
        })
    )

    it.scoped("a stray answer sent while no prompt is open does not answer the next prompt", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(review, "essay")
        yield* waitingOn(handle, 1)
        const [first] = yield* openIds(handle)
        // The feedback closes the first prompt; the retried "yes" (no requestId) comes before revision 1 is shown.
        yield* handle.send(HumanResponse.make({ response: "shorter", requestId: first }))
        yield* handle.send(HumanResponse.make({ response: "yes" }))
        yield* waitUntil(
          Effect.map(openIds(handle), (ids) => ids.length === 1 && ids[0] !== first),
          "the revision's prompt"
        )
        yield* statusIs(handle, "waiting")
        // Kept as unclaimed (a prompt-less waiter may still take it), but revision 1 is not approved by it.
        assert.deepStrictEqual(
          (yield* handle.snapshot).unclaimed.map((u) => u.id),
          ["x/1"]
        )
        const [second] = yield* openIds(handle)
        yield* handle.send(HumanResponse.make({ response: "yes", requestId: second }))
        assert.strictEqual(yield* resultOf(handle), "approved r1")
      })
    )

    it.scoped("the prompt of a waitFor that timed out is closed: an answer to it is refused", () =>
      Effect.gen(function* () {
        const wf = defineWorkflow({ name: "expiring", output: Schema.String, external: [] })
          .step(
            StartEvent,
            (_, ctx) =>
              ctx
                .waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "quick?" }), timeout: "1 minute" })
                .pipe(
                  Effect.as(StopEvent.make({ result: "answered" })),
                  Effect.catchTag("WaitTimeoutError", () =>
                    Effect.as(ctx.write(InputRequired.make({ prompt: "later?" })), undefined)
                  )
                ),
            { emits: [StopEvent] }
          )
          .step(HumanResponse, (h) => Effect.succeed(StopEvent.make({ result: `late ${h.response}` })), {
            emits: [StopEvent]
          })
        const handle = yield* Workflow.start(wf)
        yield* waitingOn(handle, 1)
        const [quick] = yield* openIds(handle)
        yield* TestClock.adjust("1 minute")
        yield* waitUntil(
          Effect.map(openIds(handle), (ids) => ids.length === 1 && ids[0] !== quick),
          "the later prompt"
        )
        const error = yield* Effect.flip(handle.send(HumanResponse.make({ response: "yes", requestId: quick })))
        assert.instanceOf(error, PromptNotOpenError)
        const [later] = yield* openIds(handle)
        yield* handle.send(HumanResponse.make({ response: "yes", requestId: later }))
        assert.strictEqual(yield* resultOf(handle), "late yes")
      })
    )

    it.scoped("a requestId naming one of two waiters' prompts resolves exactly that waiter", () =>
      Effect.gen(function* () {
        const Ask = Event.define("Ask", { who: Schema.String })
        const Said = Event.define("Said", { who: Schema.String, what: Schema.String })
        const wf = defineWorkflow({ name: "two-waiters", output: Schema.String })
          .step(StartEvent, () => Effect.succeed([Ask.make({ who: "a" }), Ask.make({ who: "b" })]), { emits: [Ask] })
          .step(
            Ask,
            (ask, ctx) =>
              Effect.map(
                ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: `${ask.who}?` }) }),
                (answer) => Said.make({ who: ask.who, what: answer.response })
              ),
            { emits: [Said], workers: 2 }
          )
          .step(Said, (said, ctx) => Effect.as(ctx.write(said), undefined))
        const handle = yield* Workflow.start(wf)
        yield* waitingOn(handle, 2)
        const [a, b] = yield* openIds(handle)
        yield* handle.send(HumanResponse.make({ response: "to b", requestId: b }))
        yield* waitingOn(handle, 1)
        assert.deepStrictEqual(yield* openIds(handle), [a])
        const said = (yield* handle.snapshot).published.filter((e: any) => e._tag === "Said")
        assert.deepStrictEqual(said, [{ _tag: "Said", who: "b", what: "to b" }])
      })
    )

    for (const durable of [false, true]) {
      it.scoped(
        `20 concurrent answers to one prompt: exactly 1 is accepted, one revision is consumed${
          durable ? " (durable)" : ""
        }`,
        () =>
          Effect.gen(function* () {
            // A durable flag known only at run time requires a store (the non-durable run ignores it).
            const handle = yield* Effect.provide(Workflow.start(review, "essay", { durable }), RunStore.layerMemory)
            yield* waitingOn(handle, 1)
            const [first] = yield* openIds(handle)
            const go = yield* Deferred.make<void>()
            const answers = yield* Effect.fork(
              Effect.forEach(
                Array.from({ length: 20 }, (_, i) => i),
                (i) =>
                  Effect.zipRight(
                    Deferred.await(go),
                    Effect.either(handle.send(HumanResponse.make({ response: `feedback ${i}`, requestId: first })))
                  ),
                { concurrency: "unbounded" }
              )
            )
            yield* Deferred.succeed(go, undefined)
            const results = yield* Fiber.join(answers)
            const accepted = results.filter(Either.isRight)
            const refused = results.filter(Either.isLeft).map((r) => r.left)
            assert.strictEqual(accepted.length, 1)
            assert.strictEqual(refused.length, 19)
            for (const error of refused) assert.instanceOf(error, PromptNotOpenError)
            // One revision: the run waits on revision 1's prompt, not on revision 20's.
            yield* waitUntil(
              Effect.map(openIds(handle), (ids) => ids.length === 1 && ids[0] !== first),
              "the revision's prompt"
            )
            const prompts = (yield* allEventsSoFar(handle)).filter((e) => e._tag === "InputRequired")
            assert.strictEqual(prompts.length, 2)
            assert.include((prompts[1] as InputRequired).prompt, "Approve revision 1")
          })
      )
    }

    it.scoped("a durable run acknowledges an accepted answer only once it is checkpointed", () =>
      Effect.gen(function* () {
        const release = yield* Deferred.make<void>()
        let hold = false
        const saved: Array<Snapshot.Snapshot> = []
        const store = Layer.effect(
          RunStore.RunStore,
          Effect.map(RunStore.makeMemory, (memory) => ({
            ...memory,
            save: (snapshot: Snapshot.Snapshot) =>
              Effect.zipRight(
                hold ? Deferred.await(release) : Effect.void,
                Effect.zipRight(
                  Effect.sync(() => saved.push(snapshot)),
                  memory.save(snapshot)
                )
              )
          }))
        )
        const handle = yield* Effect.provide(Workflow.start(review, "essay", { durable: true }), store)
        yield* waitingOn(handle, 1)
        const [first] = yield* openIds(handle)
        hold = true
        const send = yield* Effect.fork(handle.send(HumanResponse.make({ response: "yes", requestId: first })))
        yield* Effect.yieldNow({ priority: 1 })
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.isNull(send.unsafePoll(), "acknowledged before its checkpoint was saved")
        hold = false
        yield* Deferred.succeed(release, undefined)
        yield* Effect.fromFiber(send)
        const answered = saved.find((s) => s.pending.length === 0 && s.external === 1)
        assert.isDefined(answered, "the checkpoint with the answer")
        assert.strictEqual(yield* resultOf(handle), "approved r0")
      })
    )
  })

  describe("per-run limits", () => {
    const Message = Event.define("Message", { text: Schema.String })
    /**
     * A chat that opens two prompts per message from outside: a message without requestId answers the oldest open
     * prompt, so each one adds a prompt and they pile up when nobody answers them.
     */
    const chat = defineWorkflow({ name: "chat", output: Schema.String, external: [Message] })
      .step(StartEvent, () => Effect.void)
      .step(Message, (message, ctx) =>
        Effect.as(
          Effect.zipRight(
            ctx.write(InputRequired.make({ prompt: `reply to ${message.text}?` })),
            ctx.write(InputRequired.make({ prompt: `rate ${message.text}?` }))
          ),
          undefined
        )
      )
      .step(HumanResponse, (answer) =>
        Effect.succeed(answer.response === "bye" ? StopEvent.make({ result: "bye" }) : undefined)
      )

    it.scoped("maxPending: the send past the cap is refused with RunLimitError; answers by requestId still go in", () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(chat, undefined, { limits: { maxPending: 4 } })
        yield* statusIs(handle, "waiting")
        // Open prompts: 0 -> 2 -> 3 -> 4 (each message answers the oldest prompt and opens two).
        for (const [i, open] of [2, 3, 4].entries()) {
          yield* handle.send(Message.make({ text: `m${i}` }))
          yield* waitingOn(handle, open)
        }
        const before = yield* observable(handle)
        const error = yield* Effect.flip(handle.send(Message.make({ text: "one too many" })))
        assert.instanceOf(error, RunLimitError)
        assert.strictEqual((error as RunLimitError).limit, "maxPending")
        assert.strictEqual((error as RunLimitError).max, 4)
        assert.strictEqual((error as RunLimitError).actual, 4)
        assert.include(error.message, "maxPending = 4")
        assert.deepStrictEqual(yield* observable(handle), before)
        // The run is not harmed: an answer naming an open prompt is accepted at the cap, and frees room.
        const [oldest] = yield* openIds(handle)
        yield* handle.send(HumanResponse.make({ response: "hi", requestId: oldest }))
        yield* waitingOn(handle, 3)
        yield* handle.send(Message.make({ text: "fits again" }))
        yield* waitingOn(handle, 4)
        const [next] = yield* openIds(handle)
        yield* handle.send(HumanResponse.make({ response: "bye", requestId: next }))
        assert.strictEqual(yield* resultOf(handle), "bye")
      })
    )

    it.scoped("maxPending counts events sent in that nothing takes", () =>
      Effect.gen(function* () {
        const Note = Event.define("Note", { text: Schema.String })
        const wf = defineWorkflow({ name: "notes", output: Schema.String, external: [Note] }).step(
          StartEvent,
          (_, ctx) =>
            Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "?" }) }), (h) =>
              StopEvent.make({ result: h.response })
            ),
          { emits: [StopEvent] }
        )
        const handle = yield* Workflow.start(wf, undefined, { limits: { maxPending: 4 } })
        yield* waitingOn(handle, 1)
        // No step and no waiter takes a Note: each is kept (unclaimed) for a later waiter.
        for (let i = 0; i < 3; i++) yield* handle.send(Note.make({ text: `${i}` }))
        assert.strictEqual((yield* handle.snapshot).unclaimed.length, 3)
        const error = yield* Effect.flip(handle.send(Note.make({ text: "4" })))
        assert.instanceOf(error, RunLimitError)
        assert.strictEqual((error as RunLimitError).actual, 4)
        assert.strictEqual((yield* handle.snapshot).unclaimed.length, 3)
        // The answer the waiter takes is still accepted.
        yield* handle.send(HumanResponse.make({ response: "done" }))
        assert.strictEqual(yield* resultOf(handle), "done")
      })
    )

    it.scoped("maxLogBytes and maxLogEvents: a log grown by outside sends hits the cap; the run goes on", () =>
      Effect.gen(function* () {
        const Text = Event.define("Text", { body: Schema.String })
        const wf = defineWorkflow({ name: "echo", output: Schema.String, external: [Message] })
          .step(StartEvent, () => Effect.void)
          .step(Message, (message, ctx) => Effect.as(ctx.write(Text.make({ body: message.text })), undefined))
          .step(HumanResponse, (h) => Effect.succeed(StopEvent.make({ result: h.response })), { emits: [StopEvent] })
        const big = "x".repeat(10_000)
        const bytes = yield* Workflow.start(wf, undefined, { limits: { maxLogBytes: 50_000 } })
        let sent = 0
        let error: unknown
        while (error === undefined && sent < 100) {
          const result = yield* failure(bytes.send(Message.make({ text: big })))
          if (result._tag === "Some") error = result.value
          else yield* published(bytes, ++sent)
        }
        assert.instanceOf(error, RunLimitError)
        assert.strictEqual((error as RunLimitError).limit, "maxLogBytes")
        assert.isAtLeast((error as RunLimitError).actual, 50_000)
        assert.isAtMost(sent, 6)
        // At a log cap the run takes nothing more from outside, but it is intact: resumed with a higher limit, it
        // takes the answer and finishes.
        assert.instanceOf(yield* Effect.flip(bytes.send(HumanResponse.make({ response: "x" }))), RunLimitError)
        assert.strictEqual(yield* bytes.status, "waiting")
        const snapshot = yield* bytes.snapshot
        yield* bytes.cancel
        const resumed = yield* Workflow.resume(wf, snapshot, { limits: { maxLogBytes: 1_000_000 } })
        yield* resumed.send(HumanResponse.make({ response: "still fine" }))
        assert.strictEqual(yield* resultOf(resumed), "still fine")

        const count = yield* Workflow.start(wf, undefined, { limits: { maxLogEvents: 20 }, trace: false })
        for (let i = 0; i < 20; i++) {
          yield* count.send(Message.make({ text: `${i}` }))
          yield* published(count, i + 1)
        }
        const capped = yield* Effect.flip(count.send(Message.make({ text: "21" })))
        assert.instanceOf(capped, RunLimitError)
        assert.strictEqual((capped as RunLimitError).limit, "maxLogEvents")
        yield* count.cancel
      })
    )
  })
})

/** What the run has published so far (its log does not end while it waits). */
const allEventsSoFar = (handle: RunHandle) => Effect.map(handle.snapshot, (s) => s.published as ReadonlyArray<any>)

/** Waits until the run has published `n` events (steps run on their own fibers, after the send returns). */
const published = (handle: RunHandle, n: number) =>
  waitUntil(
    Effect.map(handle.snapshot, (s) => s.published.length >= n),
    `${n} published events`
  )
