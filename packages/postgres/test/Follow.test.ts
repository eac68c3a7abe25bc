import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  Journal,
  JournalStore,
  JournalStoreSuite,
  RunEvents,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { PgJournalStore, PgRunStore } from "@eventflow/postgres"
import { Chunk, Effect, Fiber, Layer, Queue, Schema, Stream, TestClock } from "effect"
import { clientLayer, freshDatabase } from "./utils.js"

/** The store and its client (for `follow` and raw SQL) on one pool. */
const storeLayer = (url: string) => PgJournalStore.layerFromClient().pipe(Layer.provideMerge(clientLayer(url)))

const ended: Journal.Entry = { _tag: "RunEnded", id: Journal.ids.runEnded, status: "completed" }

/** Notifications are per database: a run id of its own keeps other test files' runs from waking these followers. */
const uniqueRun = () => `follow-${Math.random().toString(36).slice(2)}`

/** Lets the event loop run until a fiber sleeps on the TestClock (the follower waiting for its next poll). */
const untilSleeping = Effect.gen(function* () {
  while ((yield* TestClock.sleeps()).length === 0) {
    yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
  }
})

describe("PgJournalStore.follow", () => {
  it.scoped("delivers entries as their appends commit, woken by NOTIFY (the clock never moves)", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const runId = uniqueRun()
      yield* Effect.gen(function* () {
        const store = yield* JournalStore.JournalStore
        yield* store.append(runId, [JournalStoreSuite.started(runId), JournalStoreSuite.completed("a", "0")])
        const received = yield* Queue.unbounded<Journal.Stored>()
        const follower = yield* PgJournalStore.follow(runId, { pollInterval: "1 hour" }).pipe(
          Stream.runForEach((stored) => Queue.offer(received, stored)),
          Effect.fork
        )
        // The follower has read what was there and waits for the next notification (or its poll in an hour).
        yield* Queue.takeBetween(received, 2, 2)
        yield* untilSleeping
        yield* store.append(runId, [JournalStoreSuite.completed("b", "0")])
        yield* store.append(runId, [JournalStoreSuite.completed("c", "0"), ended])
        yield* Fiber.join(follower)
        const followed = Chunk.toReadonlyArray(yield* Queue.takeAll(received))
        assert.deepStrictEqual(
          followed.map((s) => [s.offset, s.entry.id]),
          [
            [2, "done:b@0"],
            [3, "done:c@0"],
            [4, "end"]
          ]
        )
      }).pipe(Effect.provide(storeLayer(url)))
    })
  )

  it.scoped("entries whose notification was lost arrive with the next poll", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const runId = uniqueRun()
      yield* Effect.gen(function* () {
        const store = yield* JournalStore.JournalStore
        const sql = yield* SqlClient.SqlClient
        // Appended before the follower listens: its notification is not the follower's.
        yield* store.append(runId, [JournalStoreSuite.started(runId)])
        const received = yield* Queue.unbounded<Journal.Stored>()
        const follower = yield* PgJournalStore.follow(runId, { pollInterval: "10 seconds" }).pipe(
          Stream.runForEach((stored) => Queue.offer(received, stored)),
          Effect.fork
        )
        yield* Queue.take(received)
        yield* untilSleeping
        // Rows written without a notification (as if it was lost): only the poll can find them.
        for (const [offset, entry] of [JournalStoreSuite.completed("a", "0"), ended].entries()) {
          yield* sql`INSERT INTO eventflow_journal_entries (run_id, entry_offset, entry_id, tag, payload, appended_at)
            VALUES (${runId}, ${offset + 1}, ${entry.id}, ${entry._tag}, ${JSON.stringify(entry)}, 0)`
        }
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(follower)
        const followed = Chunk.toReadonlyArray(yield* Queue.takeAll(received))
        assert.deepStrictEqual(
          followed.map((s) => [s.offset, s.entry.id]),
          [
            [1, "done:a@0"],
            [2, "end"]
          ]
        )
      }).pipe(Effect.provide(storeLayer(url)))
    })
  )

  it.scoped("a run's stream ends after RunEnded; a follower from past the end of an ended run gets nothing more", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const runId = uniqueRun()
      yield* Effect.gen(function* () {
        const store = yield* JournalStore.JournalStore
        yield* store.append(runId, [JournalStoreSuite.started(runId), ended])
        const all = yield* PgJournalStore.follow(runId).pipe(Stream.runCollect)
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(all).map((s) => s.offset),
          [0, 1]
        )
        const fromEnd = yield* PgJournalStore.follow(runId, { fromOffset: 1 }).pipe(Stream.runCollect)
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(fromEnd).map((s) => s.entry.id),
          ["end"]
        )
      }).pipe(Effect.provide(storeLayer(url)))
    })
  )
})

const Ask = Event.define("Ask", { n: Schema.Number })

const approval = defineWorkflow({ name: "pg-follow-approval", input: Schema.Number, output: Schema.String })
  .step(StartEvent, (s) => Effect.succeed(Ask.make({ n: s.input })), { emits: [Ask] })
  .step(
    Ask,
    (ask, ctx) =>
      Effect.map(
        ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: `approve ${ask.n}?` }) }),
        (answer) => StopEvent.make({ result: `${ask.n}:${answer.response}` })
      ),
    { emits: [StopEvent], name: "review" }
  )

describe("RunEvents.follow on PgJournalStore", () => {
  it.scoped("a durable run's events arrive through the store's follow, woken by NOTIFY (the clock never moves)", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      yield* Effect.gen(function* () {
        const store = yield* JournalStore.JournalStore
        assert.isDefined(store.follow, "a store opened on a PgClient has follow")
        const handle = yield* Workflow.start(approval, 7, { durable: true })
        assert.strictEqual(yield* handle.settled, "waiting")
        const follower = yield* RunEvents.follow(store, handle.runId, { internal: true }).pipe(
          Stream.runCollect,
          Effect.fork
        )
        // The follower has read the journal and waits for a notification (its poll, in a second, never comes).
        yield* untilSleeping
        yield* handle.send(HumanResponse.make({ response: "yes" }))
        assert.strictEqual(yield* handle.result, "7:yes")
        const followed = Chunk.toReadonlyArray(yield* Fiber.join(follower))
        const live = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
        assert.deepStrictEqual(
          followed.map((event) => JSON.parse(JSON.stringify(event))),
          live.map((event) => JSON.parse(JSON.stringify(event)))
        )
        assert.strictEqual(followed.at(-1)?._tag, "StopEvent")
      }).pipe(Effect.provide(PgRunStore.layerWithJournalFromClient().pipe(Layer.provideMerge(clientLayer(url)))))
    })
  )
})
