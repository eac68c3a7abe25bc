/**
 * The store's own connection (`SqliteRunStore.layer({ filename })`): the journal store runs its append's prepared
 * statement synchronously on it, and that shortcut must never slip into a transaction another fiber holds open on the
 * same connection, nor leave one it runs inside.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { JournalStore, JournalStoreSuite } from "@eventflow/core"
import { Deferred, Effect, Fiber, Layer } from "effect"
import * as connection from "../src/internal/sqliteConnection.js"
import * as journal from "../src/internal/sqliteJournalStore.js"

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-connection-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => path.join(dir, "runs.db")
)

/** The journal store of `SqliteRunStore.layer({ filename })` with the client it is built on. */
const storeAndClient = (filename: string) =>
  Layer.build(journal.layerFromClient().pipe(Layer.provideMerge(connection.layer(filename))))

const rolledBack = "rolled back on purpose"

describe("SqliteRunStore's own connection", () => {
  for (const filename of ["file", ":memory:"]) {
    it.scoped(
      `an append while another fiber holds a transaction open waits for it and survives its rollback (${filename})`,
      () =>
        Effect.gen(function* () {
          const context = yield* storeAndClient(filename === "file" ? yield* tempFile : filename)
          const store = JournalStore.JournalStore.pipe(Effect.provide(context))
          const sql = SqlClient.SqlClient.pipe(Effect.provide(context))
          const s = yield* store
          const client = yield* sql
          // The run's head is cached: its next append would take the synchronous shortcut.
          yield* s.append("run-1", [JournalStoreSuite.started("run-1")])

          const opened = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const transaction = yield* Effect.fork(
            client.withTransaction(
              Effect.gen(function* () {
                yield* client`CREATE TABLE scratch (x INTEGER)`
                yield* Deferred.succeed(opened, undefined)
                yield* Deferred.await(release)
                return yield* Effect.fail(rolledBack)
              })
            )
          )
          yield* Deferred.await(opened)
          const append = yield* Effect.fork(s.append("run-1", [JournalStoreSuite.completed("a", "0", 0)]))
          yield* Effect.yieldNow()
          yield* Deferred.succeed(release, undefined)
          const outcome = yield* Effect.flip(Fiber.join(transaction))
          assert.strictEqual(outcome, rolledBack)
          const stored = yield* Fiber.join(append)
          assert.deepStrictEqual(
            stored.map((entry) => entry.offset),
            [1]
          )
          // The acknowledged entry was not part of the rolled-back transaction.
          const read = yield* s.read("run-1")
          assert.deepStrictEqual(
            read.map((entry) => entry.entry.id),
            ["start", "done:a@0"]
          )
        })
    )
  }

  it.scoped("an append inside a transaction on the store's client joins it: rolled back with it", () =>
    Effect.gen(function* () {
      const context = yield* storeAndClient(yield* tempFile)
      const s = yield* Effect.provide(JournalStore.JournalStore, context)
      const client = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* s.append("run-1", [JournalStoreSuite.started("run-1")])
      const outcome = yield* Effect.flip(
        client.withTransaction(
          Effect.zipRight(s.append("run-1", [JournalStoreSuite.completed("a", "0", 0)]), Effect.fail(rolledBack))
        )
      )
      assert.strictEqual(outcome, rolledBack)
      const read = yield* s.read("run-1")
      assert.deepStrictEqual(
        read.map((entry) => entry.entry.id),
        ["start"]
      )
      // The head cached before the transaction still holds: the next append lands at offset 1.
      const stored = yield* s.append("run-1", [JournalStoreSuite.completed("b", "0", 0)])
      assert.deepStrictEqual(
        stored.map((entry) => entry.offset),
        [1]
      )
    })
  )
})
