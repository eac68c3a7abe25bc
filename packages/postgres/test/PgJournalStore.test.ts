import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { JournalStore, JournalStoreSuite } from "@eventflow/core"
import { PgJournalStore } from "@eventflow/postgres"
import { Effect, Layer, Option, Queue, Stream } from "effect"
import { clientLayer, freshDatabase } from "./utils.js"

describe("PgJournalStore.layer (JournalStoreSuite)", () => {
  for (const test of JournalStoreSuite.cases) {
    it.scoped(test.name, () =>
      Effect.flatMap(freshDatabase, ({ url }) => Effect.provide(test.run, PgJournalStore.layer({ url })))
    )
  }
})

describe("PgJournalStore.layer (JournalStoreSuite.fencingCases)", () => {
  for (const test of JournalStoreSuite.fencingCases) {
    it.scoped(test.name, () =>
      Effect.flatMap(freshDatabase, ({ url }) => Effect.provide(test.run, PgJournalStore.layer({ url })))
    )
  }
})

describe("PgJournalStore", () => {
  it.scoped("an append joins the caller's transaction: rolled back with it, committed with it", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const layer = PgJournalStore.layerFromClient().pipe(Layer.provideMerge(clientLayer(url)))
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const journal = yield* JournalStore.JournalStore
        const failed = yield* Effect.either(
          sql.withTransaction(
            Effect.zipRight(
              journal.append("run-1", [JournalStoreSuite.started("run-1")]),
              Effect.fail("rolled back" as const)
            )
          )
        )
        assert.strictEqual(failed._tag, "Left")
        assert.deepStrictEqual(yield* journal.read("run-1"), [])
        assert.isTrue(Option.isNone(yield* journal.summary("run-1")))
        yield* sql.withTransaction(journal.append("run-1", [JournalStoreSuite.started("run-1")]))
        assert.deepStrictEqual(
          (yield* journal.read("run-1")).map((s) => s.offset),
          [0]
        )
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("a stored entry that is not a journal entry fails to read with JournalStoreError naming the run", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const layer = PgJournalStore.layerFromClient().pipe(Layer.provideMerge(clientLayer(url)))
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const journal = yield* JournalStore.JournalStore
        yield* journal.append("run-1", [JournalStoreSuite.started("run-1")])
        yield* sql`UPDATE eventflow_journal_entries SET payload = '{"_tag": "Nope"}'`
        const error = yield* Effect.flip(journal.read("run-1"))
        assert.strictEqual(error._tag, "JournalStoreError")
        assert.strictEqual(error.operation, "read")
        assert.strictEqual(error.runId, "run-1")
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("each committed append notifies eventflow_journal with the run id; a failed one does not", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const runId = `notify-${Math.random().toString(36).slice(2)}`
      const layer = PgJournalStore.layerFromClient().pipe(Layer.provideMerge(clientLayer(url)))
      yield* Effect.gen(function* () {
        const client = yield* PgClient.PgClient
        const journal = yield* JournalStore.JournalStore
        const received = yield* Queue.unbounded<string>()
        yield* client.listen(PgJournalStore.channel).pipe(
          Stream.filter((payload) => payload.startsWith(runId)),
          Stream.runForEach((payload) => Queue.offer(received, payload)),
          Effect.forkScoped
        )
        // Wait until the listener is there: notify until it hears its own.
        while ((yield* Queue.size(received)) === 0) {
          yield* client`SELECT pg_notify(${PgJournalStore.channel}, ${`${runId}/hello`})`
          yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        }
        yield* journal.append(runId, [JournalStoreSuite.started(runId)])
        yield* Effect.flip(
          journal.append(runId, [
            JournalStoreSuite.started(runId),
            { ...JournalStoreSuite.started(runId), id: "again" }
          ])
        )
        yield* journal.append(runId, [JournalStoreSuite.completed("a", "0")])
        yield* client`SELECT pg_notify(${PgJournalStore.channel}, ${`${runId}/done`})`
        const payloads: Array<string> = []
        for (let p = yield* Queue.take(received); p !== `${runId}/done`; p = yield* Queue.take(received)) {
          if (p !== `${runId}/hello`) payloads.push(p)
        }
        assert.deepStrictEqual(payloads, [runId, runId])
      }).pipe(Effect.provide(layer))
    })
  )
})
