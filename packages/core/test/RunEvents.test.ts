import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Option, Ref, Schema, Scope, Stream, TestClock } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  type Journal,
  JournalStore,
  JournalStoreSuite,
  type RunHandle,
  RunEvents,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { compactEvery } from "../src/internal/journalEngine.js"

const A = Event.define("A", { n: Schema.Number })
const Progress = Event.define("Progress", { n: Schema.Number })
const Ask = Event.define("Ask", { n: Schema.Number })

/** A RunStore and a JournalStore in memory, built once so that a "new process" (a new scope) shares them. */
const stores = Effect.map(Layer.build(RunStore.layerMemory), (context) => ({
  provide: <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.provide(effect, context),
  journal: Effect.provide(JournalStore.JournalStore, context)
}))

const loop = (name: string, hops: number) =>
  defineWorkflow({
    name,
    input: Schema.Number,
    output: Schema.Number,
    state: Schema.Struct({ count: Schema.Number }),
    initialState: { count: 0 }
  })
    .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A] })
    .step(
      A,
      (a, ctx) =>
        Effect.gen(function* () {
          yield* ctx.write(Progress.make({ n: a.n }))
          yield* Ref.update(ctx.state, (s) => ({ count: s.count + 1 }))
          return a.n + 1 >= hops
            ? StopEvent.make({ result: (yield* Ref.get(ctx.state)).count })
            : A.make({ n: a.n + 1 })
        }),
      { emits: [A, StopEvent], name: "hop" }
    )

const approval = (name: string) =>
  defineWorkflow({ name, input: Schema.Number, output: Schema.String })
    .step(StartEvent, (s) => Effect.succeed(Ask.make({ n: s.input })), { emits: [Ask] })
    .step(
      Ask,
      (ask, ctx) =>
        Effect.gen(function* () {
          yield* ctx.write(Progress.make({ n: ask.n }))
          const answer = yield* ctx.waitFor(HumanResponse, {
            prompt: InputRequired.make({ prompt: `approve ${ask.n}?` })
          })
          return StopEvent.make({ result: `${ask.n}:${answer.response}` })
        }),
      { emits: [StopEvent], name: "review" }
    )

/** Events as the JSON values the SSE writes (the journal keeps canonical JSON: keys sorted, values equal). */
const json = (events: Iterable<unknown>) => [...events].map((event) => JSON.parse(JSON.stringify(event)))

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const live = (handle: RunHandle, options?: { readonly internal?: boolean }) =>
  Effect.map(collect(handle.events(options)), json)

/** A journal store that counts the reads from offset 0 and the calls of `follow` (when given one). */
const recording = (store: JournalStore.Service, follow?: JournalStore.Service["follow"]) =>
  Effect.map(Ref.make({ fullReads: 0, follows: 0 }), (counts) => ({
    counts,
    store: {
      ...store,
      read: (runId: string, fromOffset?: number) =>
        Effect.zipRight(
          (fromOffset ?? 0) === 0 ? Ref.update(counts, (c) => ({ ...c, fullReads: c.fullReads + 1 })) : Effect.void,
          store.read(runId, fromOffset)
        ),
      ...(follow === undefined
        ? {}
        : {
            follow: (runId: string, options?: JournalStore.FollowOptions) =>
              Stream.concat(
                Stream.execute(Ref.update(counts, (c) => ({ ...c, follows: c.follows + 1 }))),
                follow(runId, options)
              )
          })
    } satisfies JournalStore.Service
  }))

describe("RunEvents.follow", () => {
  it.scoped("a finished run: the journal gives the live run's events, from 0 and from every offset, then ends", () =>
    Effect.gen(function* () {
      const s = yield* stores
      const wf = loop("events-loop", 6)
      const handle = yield* s.provide(Workflow.start(wf, 0, { durable: true, runId: "l1" }))
      assert.strictEqual(yield* handle.result, 6)
      const store = yield* s.journal
      const all = yield* live(handle, { internal: true })
      assert.deepStrictEqual(json(yield* collect(RunEvents.follow(store, "l1"))), yield* live(handle))
      assert.deepStrictEqual(json(yield* collect(RunEvents.follow(store, "l1", { internal: true }))), all)
      for (let from = 0; from <= all.length; from++) {
        const positioned = yield* collect(RunEvents.followPositioned(store, "l1", { from, internal: true }))
        assert.deepStrictEqual(json(positioned.map((p) => p.event)), all.slice(from), `from ${from}`)
        assert.deepStrictEqual(
          positioned.map((p) => p.offset),
          all.map((_, i) => i).slice(from)
        )
        // Without trace events: the public events at or after the offset, as `RunEngine.events(id, { from })`.
        const engine = yield* collect(
          Stream.unwrap(
            Effect.succeed(handle.events({ internal: true }).pipe(Stream.drop(from), Stream.filter(isPublic)))
          )
        )
        assert.deepStrictEqual(json(yield* collect(RunEvents.follow(store, "l1", { from }))), json(engine))
      }
    })
  )

  it.scoped(
    "a run waiting for a person is followed live: the answer's events arrive with its append, then it ends",
    () =>
      Effect.gen(function* () {
        const s = yield* stores
        const wf = approval("events-approval")
        const handle = yield* s.provide(Workflow.start(wf, 3, { durable: true, runId: "w1" }))
        assert.strictEqual(yield* handle.settled, "waiting")
        const store = yield* s.journal
        const fiber = yield* Effect.fork(collect(RunEvents.follow(store, "w1", { internal: true })))
        yield* TestClock.adjust("1 second")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the follower waits while the run waits")
        yield* handle.send(HumanResponse.make({ response: "yes" }))
        assert.strictEqual(yield* handle.result, "3:yes")
        // The poll reads the answer's entries (the clock moves past the poll interval), and the stream ends.
        yield* TestClock.adjust("200 millis")
        const followed = yield* Fiber.join(fiber)
        assert.deepStrictEqual(json(followed), yield* live(handle, { internal: true }))
        assert.strictEqual(followed.at(-1)?._tag, "StopEvent")
      })
  )

  it.scoped("a store with its own follow is followed through it (no polling clock needed)", () =>
    Effect.gen(function* () {
      const s = yield* stores
      const wf = approval("events-store-follow")
      const handle = yield* s.provide(Workflow.start(wf, 4, { durable: true, runId: "f1" }))
      assert.strictEqual(yield* handle.settled, "waiting")
      const base = yield* s.journal
      // A store whose `follow` is woken by appends (as PostgreSQL's NOTIFY), here by reading until there is more.
      const storeFollow = (runId: string, options?: JournalStore.FollowOptions) =>
        Stream.paginateChunkEffect(options?.fromOffset ?? 0, (next) =>
          Effect.gen(function* () {
            let batch = yield* base.read(runId, next)
            while (batch.length === 0) {
              yield* Effect.yieldNow()
              batch = yield* base.read(runId, next)
            }
            const ended = batch.some((e) => e.entry._tag === "RunEnded")
            return [
              Chunk.unsafeFromArray(batch),
              ended ? Option.none() : Option.some(batch[batch.length - 1]!.offset + 1)
            ] as const
          })
        )
      const { counts, store } = yield* recording(base, storeFollow)
      const fiber = yield* Effect.fork(collect(RunEvents.follow(store, "f1")))
      yield* Effect.yieldNow()
      // No clock moves: the store's follow delivers the answer's entries.
      yield* handle.send(HumanResponse.make({ response: "ok" }))
      assert.strictEqual(yield* handle.result, "4:ok")
      const followed = yield* Fiber.join(fiber)
      assert.deepStrictEqual(json(followed), yield* live(handle))
      assert.strictEqual((yield* Ref.get(counts)).follows, 1)
    })
  )

  it.scoped("a compaction covering the offset: only its tail is read; events and offsets are the same", () =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        const before = compactEvery.current
        compactEvery.current = 20
        return before
      }),
      () =>
        Effect.gen(function* () {
          const s = yield* stores
          const wf = loop("events-compacted", 40)
          const handle = yield* s.provide(Workflow.start(wf, 0, { durable: true, runId: "c1" }))
          assert.strictEqual(yield* handle.result, 40)
          const base = yield* s.journal
          for (let i = 0; i < 1000; i++) {
            if (Option.isSome(Option.getOrThrow(yield* base.load("c1")).compaction)) break
            yield* Effect.yieldNow()
          }
          const compaction = Option.getOrThrow(Option.getOrThrow(yield* base.load("c1")).compaction)
          const length = (compaction.snapshot as { readonly publishedLength: number }).publishedLength
          assert.isAbove(length, 0)
          const all = yield* live(handle, { internal: true })
          const { counts, store } = yield* recording(base)
          const from = length + 1
          const tail = yield* collect(RunEvents.followPositioned(store, "c1", { from, internal: true }))
          assert.deepStrictEqual(json(tail.map((p) => p.event)), all.slice(from))
          assert.strictEqual(tail[0]?.offset, from)
          assert.strictEqual((yield* Ref.get(counts)).fullReads, 0, "the entries before the compaction are not read")
          // An offset before the compaction reads the whole journal.
          const early = yield* collect(RunEvents.follow(store, "c1", { from: 1, internal: true }))
          assert.deepStrictEqual(json(early), all.slice(1))
          assert.strictEqual((yield* Ref.get(counts)).fullReads, 1)
        }),
      (before) =>
        Effect.sync(() => {
          compactEvery.current = before
        })
    )
  )

  it.effect("a compaction whose log length does not fit its tail is not used: the whole journal is read", () =>
    Effect.gen(function* () {
      const store = yield* JournalStore.makeMemory
      yield* store.append("x1", [JournalStoreSuite.started("x1"), published(0, [{ _tag: "P", n: 0 }])])
      yield* store.append("x1", [published(1, [{ _tag: "P", n: 1 }]), ended])
      // Says the log before offset 2 has 0 events; the chunk of the tail starts at 1.
      yield* store.compact(
        "x1",
        { format: "eventflow.compaction/1", runId: "x1", upToOffset: 2, publishedLength: 0 },
        2
      )
      const events = yield* collect(RunEvents.followPositioned(store, "x1", { from: 0 }))
      assert.deepStrictEqual(
        events.map((p) => [p.offset, (p.event as any).n]),
        [
          [0, 0],
          [1, 1]
        ]
      )
    })
  )

  it.effect("an entry that is not a valid part of the log fails with PublishedLogError naming the run and offset", () =>
    Effect.gen(function* () {
      const store = yield* JournalStore.makeMemory
      yield* store.append("bad1", [JournalStoreSuite.started("bad1"), published(0, [{ _tag: "P" }])])
      yield* store.append("bad1", [published(3, [{ _tag: "P" }])])
      const gap = yield* Effect.flip(Stream.runDrain(RunEvents.follow(store, "bad1")))
      assert.strictEqual(gap._tag, "PublishedLogError")
      assert.deepInclude(gap, { runId: "bad1", offset: 2 })
      assert.include(gap.message, "Run bad1: the journal entry at offset 2")
      assert.include(gap.message, "starts at position 3, but the log so far has 1 events")

      yield* store.append("bad2", [JournalStoreSuite.started("bad2"), published(0, [{ _tag: "P" }, 42])])
      const notEvent = yield* Effect.flip(Stream.runDrain(RunEvents.follow(store, "bad2")))
      assert.deepInclude(notEvent, { _tag: "PublishedLogError", runId: "bad2", offset: 1 })
      assert.include(notEvent.message, "the event at position 1 is not an object with a string _tag")
    })
  )

  it.effect("a run the store has no journal of fails with RunNotFoundError", () =>
    Effect.gen(function* () {
      const store = yield* JournalStore.makeMemory
      const error = yield* Effect.flip(Stream.runDrain(RunEvents.follow(store, "nope")))
      assert.deepInclude(error, { _tag: "RunNotFoundError", runId: "nope", where: "store" })
    })
  )

  it.scoped("a detached run followed from its journal keeps its offsets when another scope resumes it", () =>
    Effect.gen(function* () {
      const s = yield* stores
      const wf = approval("events-resumed")
      const scope1 = yield* Scope.make()
      const first = yield* s.provide(Scope.extend(Workflow.start(wf, 5, { durable: true, runId: "r1" }), scope1))
      assert.strictEqual(yield* first.settled, "waiting")
      const store = yield* s.journal
      const fiber = yield* Effect.fork(collect(RunEvents.follow(store, "r1", { internal: true })))
      yield* Scope.close(scope1, Exit.void)
      const second = yield* s.provide(Workflow.resume(wf, "r1"))
      yield* second.send(HumanResponse.make({ response: "later" }))
      assert.strictEqual(yield* second.result, "5:later")
      yield* TestClock.adjust("200 millis")
      assert.deepStrictEqual(json(yield* Fiber.join(fiber)), yield* live(second, { internal: true }))
    })
  )
})

const isPublic = (event: { readonly _tag: string }) =>
  !["StepStarted", "StepCompleted", "StepFailedAttempt", "EventDispatched", "RunIdle", "UnhandledEvent"].includes(
    event._tag
  )

const published = (from: number, events: ReadonlyArray<unknown>): Journal.Entry =>
  ({ _tag: "Published", id: `log:${from}`, at: 1, from, events }) as unknown as Journal.Entry

const ended = {
  _tag: "RunEnded",
  id: "ended",
  at: 1,
  status: "completed",
  result: "done"
} as unknown as Journal.Entry
