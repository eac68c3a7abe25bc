/**
 * The store's own connection (`SqliteRunStore.layer({ filename })`): the journal store runs its append's prepared
 * statement synchronously on it, and that shortcut must never slip into a transaction another fiber holds open on the
 * same connection, nor leave one it runs inside.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { JournalStore, JournalStoreSuite } from "@eventflow/core"
import { SqliteJournalStore } from "@eventflow/sqlite"
import { Deferred, Duration, Effect, Fiber, Layer } from "effect"
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

  it.live(
    "a store that appended a while checkpoints its WAL in the background: the entries reach the database file with no append running, and the WAL stays bounded",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0)
        yield* Effect.provide(
          Effect.gen(function* () {
            const store = yield* JournalStore.JournalStore
            yield* store.append("run-1", [JournalStoreSuite.started("run-1")])
            const before = size(filename)
            // 120 appends: past the start of the checkpointer (64), far from the 1,000 pages at which SQLite's own
            // automatic checkpoint would copy the WAL into the file.
            for (let i = 0; i < 120; i++) yield* store.append("run-1", [JournalStoreSuite.completed("s", `x/${i}`, i)])
            assert.isBelow(size(`${filename}-wal`), 1_000 * 4_096)
            // Real time: the checkpointer is a thread of its own. Waits up to 10 s, in steps of 20 ms.
            let waited = 0
            while (size(filename) <= before && waited < 10_000) {
              yield* Effect.sleep(Duration.millis(20))
              waited += 20
            }
            assert.isAbove(size(filename), before, "the database file grew by the checkpointed entries")
            // 3,000 more appends write about 60 MB of WAL frames: the WAL is reused, not grown. The main connection
            // checkpoints at the bound; a checkpoint of the checkpointer's under way can delay it a little.
            for (let i = 120; i < 3_000; i++) {
              yield* store.append("run-1", [JournalStoreSuite.completed("s", `x/${i}`, i)])
            }
            assert.isAtMost(size(`${filename}-wal`), 2 * connection.checkpointBound * 4_096)
            const read = yield* store.read("run-1")
            assert.strictEqual(read.length, 3_001)
          }),
          SqliteJournalStore.layer({ filename })
        )
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "every append acknowledged before a SIGKILL is in the file, the background checkpointer running",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        yield* Effect.provide(
          Effect.flatMap(JournalStore.JournalStore, (store) =>
            store.append("run-1", [JournalStoreSuite.started("run-1")])
          ),
          SqliteJournalStore.layer({ filename })
        )
        // The child appends for ever; it is killed once it acknowledged 2,000 appends (the checkpointer starts at 64).
        const acknowledged = yield* Effect.async<number, Error>((resume) => {
          const child = spawn(
            process.execPath,
            [
              "--conditions=source",
              "--import",
              "tsx",
              "packages/sqlite/test/fixtures/journal-acknowledger.ts",
              filename
            ],
            { stdio: ["ignore", "pipe", "pipe"] }
          )
          let out = ""
          let err = ""
          let last = 0
          child.stdout.on("data", (chunk) => {
            out += chunk
            const lines = out.split("\n")
            out = lines.pop()!
            for (const line of lines) last = Number(line)
            if (last >= 2_000) child.kill("SIGKILL")
          })
          child.stderr.on("data", (chunk) => (err += chunk))
          child.on("close", (_code, signal) =>
            resume(
              signal === "SIGKILL"
                ? Effect.succeed(last)
                : Effect.fail(new Error(`the appender stopped by itself (${signal ?? _code}): ${err}`))
            )
          )
          return Effect.sync(() => child.kill("SIGKILL"))
        })
        const read = yield* Effect.provide(
          Effect.flatMap(JournalStore.JournalStore, (store) => store.read("run-1")),
          SqliteJournalStore.layer({ filename })
        )
        assert.isAtLeast(read.length, acknowledged + 1)
        assert.deepStrictEqual(
          read.slice(1, acknowledged + 1).map((stored) => stored.entry.id),
          Array.from({ length: acknowledged }, (_, i) => `done:s@x/${i}`)
        )
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "closing the store does not wait for a checkpointer that stopped (it could not open the file)",
    () =>
      Effect.gen(function* () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-connection-"))
        const filename = path.join(dir, "runs.db")
        const read = yield* Effect.provide(
          Effect.gen(function* () {
            const store = yield* JournalStore.JournalStore
            yield* store.append("run-1", [JournalStoreSuite.started("run-1")])
            // The directory goes away under the open connection (which keeps working on its open files): the
            // checkpointer, started at the 64th append, cannot open the file and exits.
            fs.rmSync(dir, { recursive: true, force: true })
            for (let i = 0; i < 100; i++) yield* store.append("run-1", [JournalStoreSuite.completed("s", `x/${i}`, i)])
            // Real time: lets the worker start, fail and exit before the store closes.
            yield* Effect.sleep(Duration.seconds(1))
            return yield* store.read("run-1")
          }),
          SqliteJournalStore.layer({ filename })
        )
        assert.strictEqual(read.length, 101)
      }),
    20_000
  )
})
