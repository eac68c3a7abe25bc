import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Context,
  Data,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Option,
  Queue,
  Ref,
  Schedule,
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
  Journal,
  JournalMismatchError,
  JournalStore,
  JournalStoreError,
  type RunHandle,
  RunStore,
  RunStoreError,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { loop, stores } from "./utils.js"

const A = Event.define("A", { n: Schema.Number })
const Ask = Event.define("Ask", { n: Schema.Number })

const allEvents = (handle: RunHandle) => Effect.map(Stream.runCollect(handle.events()), Chunk.toReadonlyArray)

const approval = (name: string, stepName = "review") =>
  defineWorkflow({ name, input: Schema.Number, output: Schema.String })
    .step(StartEvent, (s) => Effect.succeed(Ask.make({ n: s.input })), { emits: [Ask] })
    .step(
      Ask,
      (ask, ctx) =>
        Effect.gen(function* () {
          const answer = yield* ctx.waitFor(HumanResponse, {
            prompt: InputRequired.make({ prompt: `approve ${ask.n}?` })
          })
          return StopEvent.make({ result: `${ask.n}:${answer.response}` })
        }),
      { emits: [StopEvent], name: stepName }
    )

describe("the engine on the journal", () => {
  it.scoped(
    "every entry says when it was written; completions and failed attempts say when their attempt started",
    () =>
      Effect.gen(function* () {
        class Flaky extends Data.TaggedError("Flaky")<{}> {}
        const entered = yield* Queue.unbounded<number>()
        const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>()] as const
        const wf = defineWorkflow({ name: "journal-times", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A], name: "begin" })
          .step(
            A,
            (a, ctx) =>
              Effect.gen(function* () {
                yield* Queue.offer(entered, ctx.attempt)
                yield* Deferred.await(gates[ctx.attempt - 1]!)
                if (ctx.attempt === 1) return yield* new Flaky()
                return StopEvent.make({ result: a.n })
              }),
            { emits: [StopEvent], name: "work", retry: Schedule.recurs(1) }
          )
        const s = yield* stores
        yield* TestClock.setTime(1_000)
        const fiber = yield* Effect.fork(s.provide(Workflow.run(wf, 3, { durable: true, runId: "times" })))
        assert.strictEqual(yield* Queue.take(entered), 1)
        yield* TestClock.setTime(3_000)
        yield* Deferred.succeed(gates[0], undefined)
        // The retry starts at once (recurs), at 3000.
        assert.strictEqual(yield* Queue.take(entered), 2)
        yield* TestClock.setTime(7_000)
        yield* Deferred.succeed(gates[1], undefined)
        assert.strictEqual(yield* Fiber.join(fiber), 3)

        const entries = (yield* Effect.flatMap(s.journal, (j) => j.read("times"))).map((e) => e.entry)
        for (const entry of entries) assert.isNumber(entry.at, entry._tag)
        const pick = (tag: string, step?: string) =>
          entries.find((e: any) => e._tag === tag && (step === undefined || e.step === step)) as any
        assert.strictEqual(pick("RunStarted").at, 1_000)
        assert.deepInclude(pick("InvocationCompleted", "begin"), { startedAt: 1_000, at: 1_000 })
        assert.deepInclude(pick("AttemptFailed", "work"), { attempt: 1, startedAt: 1_000, at: 3_000 })
        // The completion's `startedAt` is its last attempt's start, not the first's.
        assert.deepInclude(pick("InvocationCompleted", "work"), { attempts: 2, startedAt: 3_000, at: 7_000 })
        assert.strictEqual(pick("RunEnded").at, 7_000)
        // They survive the journal's schema (the server's journal route encodes entries with it).
        const encoded = Schema.encodeSync(Journal.Entry)(pick("InvocationCompleted", "work"))
        assert.strictEqual((encoded as any).startedAt, 3_000)
      })
  )

  it.scoped("a durable run appends its journal: started, one completion per hop, the log, ended", () =>
    Effect.gen(function* () {
      const s = yield* stores
      const wf = loop("journal-loop", 5)
      const result = yield* s.provide(Workflow.run(wf, 0, { durable: true, runId: "r1" }))
      assert.strictEqual(result, 5)
      const journal = yield* s.journal
      const entries = yield* journal.read("r1")
      const tags = entries.map((e) => e.entry._tag)
      assert.strictEqual(tags[0], "RunStarted")
      assert.strictEqual(tags.at(-1) === "RunEnded" || tags.at(-2) === "RunEnded", true)
      assert.strictEqual(tags.filter((t) => t === "InvocationCompleted").length, 6)
      assert.deepStrictEqual(Journal.check(wf, entries), [])
      const summary = yield* journal.summary("r1")
      assert.strictEqual(Option.getOrThrow(summary).status, "completed")
      assert.strictEqual(Option.getOrThrow(summary).signature, Journal.signature(wf))
      // The RunStore lists it with its signature, and loads it as the snapshot its journal replays to.
      const runs = yield* s.provide(Effect.flatMap(RunStore.RunStore, (store) => store.list()))
      assert.deepStrictEqual(
        runs.map((r) => [r.runId, r.status, r.signature]),
        [["r1", "completed", Journal.signature(wf)]]
      )
      const loaded = Option.getOrThrow(yield* s.provide(Effect.flatMap(RunStore.RunStore, (store) => store.load("r1"))))
      assert.strictEqual(loaded.status, "completed")
      assert.strictEqual(loaded.result, 5)
      assert.deepStrictEqual(loaded.state, { count: 5 })
      assert.strictEqual(loaded.published.filter((e: any) => e._tag === "Progress").length, 5)
    })
  )

  it.scoped("a waiting run resumes from its journal in a new scope, with the same log, and completes", () =>
    Effect.gen(function* () {
      const s = yield* stores
      const wf = approval("journal-approval")
      const scope1 = yield* Scope.make()
      const first = yield* s.provide(Scope.extend(Workflow.start(wf, 7, { durable: true, runId: "r2" }), scope1))
      assert.strictEqual(yield* first.settled, "waiting")
      const journal = yield* s.journal
      const logged = (yield* journal.read("r2")).flatMap((e) =>
        e.entry._tag === "Published"
          ? e.entry.events
          : e.entry._tag === "InvocationCompleted" && e.entry.log !== undefined
            ? e.entry.log.events
            : []
      )
      const before = yield* Effect.map(
        Stream.runCollect(Stream.take(first.events({ internal: true }), logged.length)),
        Chunk.toReadonlyArray
      )
      assert.strictEqual(before.at(-1)?._tag, "RunIdle")
      yield* Scope.close(scope1, Exit.void)
      const second = yield* s.provide(Workflow.resume(wf, "r2"))
      assert.strictEqual(yield* second.status, "waiting")
      yield* second.send(HumanResponse.make({ response: "yes" }))
      assert.strictEqual(yield* second.result, "7:yes")
      const after = yield* Effect.map(Stream.runCollect(second.events({ internal: true })), Chunk.toReadonlyArray)
      assert.deepStrictEqual(after.slice(0, before.length), before)
    })
  )

  it.scoped(
    "a journal replayed on a definition whose step was renamed fails the resume with one typed error listing it",
    () =>
      Effect.gen(function* () {
        const s = yield* stores
        const scope1 = yield* Scope.make()
        const first = yield* s.provide(
          Scope.extend(Workflow.start(approval("journal-rename"), 3, { durable: true, runId: "r3" }), scope1)
        )
        assert.strictEqual(yield* first.settled, "waiting")
        yield* Scope.close(scope1, Exit.void)
        const renamed = approval("journal-rename", "check")
        const error = yield* Effect.flip(s.provide(Workflow.resume(renamed, "r3")))
        assert.instanceOf(error, JournalMismatchError)
        const mismatch = error as JournalMismatchError
        assert.strictEqual(mismatch.runId, "r3")
        // The completion of StartEvent is fine; the waiter registered by "review" is not.
        const review = mismatch.mismatches.filter((m) => m.includes('no step "review"'))
        assert.isAbove(review.length, 0)
        assert.include(mismatch.message, 'no step "review"')
        assert.include(mismatch.message, "check")
        // Nothing was appended by the refused resume, and the original definition still resumes it.
        const journal = yield* s.journal
        const before = (yield* journal.read("r3")).length
        const again = yield* s.provide(Workflow.resume(approval("journal-rename"), "r3"))
        assert.strictEqual(yield* again.status, "waiting")
        yield* again.send(HumanResponse.make({ response: "ok" }))
        assert.strictEqual(yield* again.result, "3:ok")
        assert.isAbove((yield* journal.read("r3")).length, before)
        const events = yield* allEvents(again)
        assert.strictEqual(events.at(-1)?._tag, "StopEvent")
      })
  )

  it.scoped(
    "an append that fails holds back what it would start: the start fails typed, nothing ran, nothing stored",
    () =>
      Effect.gen(function* () {
        const journal = yield* JournalStore.makeMemory
        const failing = { on: true }
        const flaky: JournalStore.Service = {
          ...journal,
          append: (runId, entries, options) =>
            failing.on
              ? Effect.fail(new JournalStoreError({ operation: "append", runId, cause: new Error("disk full") }))
              : journal.append(runId, entries, options)
        }
        const context = Context.make(RunStore.RunStore, RunStore.withJournal(yield* RunStore.makeMemory, flaky)).pipe(
          Context.add(JournalStore.JournalStore, flaky)
        )
        const ran = yield* Ref.make(0)
        const wf = defineWorkflow({ name: "journal-flaky", input: Schema.Number, output: Schema.Number }).step(
          StartEvent,
          (s) =>
            Effect.as(
              Ref.update(ran, (n) => n + 1),
              StopEvent.make({ result: s.input })
            ),
          { emits: [StopEvent] }
        )
        const error = yield* Effect.flip(
          Effect.provide(Workflow.start(wf, 1, { durable: true, runId: "flaky" }), context)
        )
        assert.instanceOf(error, RunStoreError)
        assert.include(error.message, "disk full")
        assert.strictEqual(yield* Ref.get(ran), 0, "no step ran")
        assert.deepStrictEqual(yield* journal.read("flaky"), [])
        // Once the store takes appends, a run goes through and its journal holds everything.
        failing.on = false
        assert.strictEqual(yield* Effect.provide(Workflow.run(wf, 2, { durable: true, runId: "ok" }), context), 2)
        assert.strictEqual(yield* Ref.get(ran), 1)
        assert.strictEqual((yield* journal.read("ok")).at(-1)?.entry._tag, "RunEnded")
      })
  )
})

describe("the entries the engine appends", () => {
  it.scoped(
    "have their keys in sorted order at every level: their canonical JSON is JSON.stringify of them (nothing copied)",
    () =>
      Effect.gen(function* () {
        const journal = yield* JournalStore.makeMemory
        const appended: Array<Journal.Entry> = []
        const recording: JournalStore.Service = {
          ...journal,
          append: (runId, entries, options) => {
            appended.push(...entries)
            return journal.append(runId, entries, options)
          }
        }
        const context = Context.make(
          RunStore.RunStore,
          RunStore.withJournal(yield* RunStore.makeMemory, recording)
        ).pipe(Context.add(JournalStore.JournalStore, recording))
        class Flaky extends Data.TaggedError("Flaky")<{}> {}
        const Sent = Event.define("Sent", { n: Schema.Number })
        const mixed = defineWorkflow({ name: "sorted-keys", input: Schema.Number, output: Schema.Number })
          .step(
            StartEvent,
            (s, ctx) =>
              Effect.gen(function* () {
                yield* ctx.send(Sent.make({ n: s.input }))
                return A.make({ n: s.input })
              }),
            { emits: [A, Sent] }
          )
          .step(Sent, () => Effect.void, { name: "sink" })
          .step(
            A,
            (a, ctx) =>
              Effect.gen(function* () {
                if (ctx.attempt === 1) return yield* new Flaky()
                return StopEvent.make({ result: a.n })
              }),
            { emits: [StopEvent], name: "work", retry: Schedule.recurs(1) }
          )
        yield* Effect.provide(Workflow.run(loop("sorted-keys-loop", 3), 0, { durable: true }), context)
        yield* Effect.provide(Workflow.run(mixed, 2, { durable: true }), context)
        const handle = yield* Effect.provide(
          Workflow.start(approval("sorted-keys-approval"), 1, { durable: true }),
          context
        )
        yield* handle.settled
        yield* handle.send(HumanResponse.make({ response: "ok" }))
        assert.strictEqual(yield* handle.result, "1:ok")
        const tags = new Set(appended.map((e) => e._tag))
        for (const tag of [
          "RunStarted",
          "InvocationCompleted",
          "AttemptFailed",
          "EventSent",
          "WaiterRegistered",
          "RunEnded"
        ]) {
          assert.isTrue(tags.has(tag as Journal.Entry["_tag"]), tag)
        }
        for (const entry of appended) assert.strictEqual(JSON.stringify(entry), Journal.toJson(entry), entry._tag)
      })
  )
})
