/**
 * Schema version 6: an entry's key is `(run_no << 32) | offset` and there is no index on the entry id, so the store
 * keeps a run's appends idempotent itself: its cached head holds the complete set of the run's entry ids (made when
 * the store started the run, or from one scan of the run's key range), the primary key is the compare-and-set between
 * writers, and a run's number is never given again after a remove.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { type Journal, JournalStore, JournalStoreSuite } from "@eventflow/core"
import { JournalConflictError, JournalStoreError } from "@eventflow/core/WorkflowError"
import { SqliteJournalStore } from "@eventflow/sqlite"
import { Context, Effect, Layer } from "effect"
import * as connection from "../src/internal/sqliteConnection.js"
import * as journal from "../src/internal/sqliteJournalStore.js"

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-key-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => path.join(dir, "runs.db")
)

/** A store of its own on `filename` (its own connection and cached heads), open until the test's scope closes. */
const openStore = (filename: string) =>
  Effect.map(Layer.build(SqliteJournalStore.layer({ filename })), (context) =>
    Context.get(context, JournalStore.JournalStore)
  )

/** The journal store of `SqliteRunStore.layer({ filename })` with the client it is built on. */
const storeAndClient = (filename: string) =>
  Effect.map(
    Layer.build(journal.layerFromClient().pipe(Layer.provideMerge(connection.layer(filename)))),
    (context) => ({
      store: Context.get(context, JournalStore.JournalStore),
      sql: Context.get(context, SqlClient.SqlClient)
    })
  )

const step = (name: string, n = 0): Journal.Entry => JournalStoreSuite.completed(name, "0", n)

const offsets = (stored: ReadonlyArray<Journal.Stored>) => stored.map((entry) => entry.offset)
const ids = (stored: ReadonlyArray<Journal.Stored>) => stored.map((entry) => entry.entry.id)

/** The run's journal is dense (offsets 0, 1, 2, …) and holds each id once. */
const assertDense = (stored: ReadonlyArray<Journal.Stored>) => {
  assert.deepStrictEqual(
    offsets(stored),
    stored.map((_, i) => i)
  )
  assert.strictEqual(new Set(ids(stored)).size, stored.length, `ids repeated: ${ids(stored).join(", ")}`)
}

describe("SqliteJournalStore entry keys (schema version 6)", () => {
  it.scoped("replaying entries already there is a no-op on the store that appended them: no row is added", () =>
    Effect.gen(function* () {
      const store = yield* openStore(yield* tempFile)
      yield* store.append("run-1", [JournalStoreSuite.started("run-1")])
      for (const name of ["a", "b", "c"]) yield* store.append("run-1", [step(name)])
      assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("b")])), [2])
      assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("a"), step("c")])), [1, 3])
      assert.deepStrictEqual(offsets(yield* store.append("run-1", [JournalStoreSuite.started("run-1")])), [0])
      // Part replayed, part new: the new one follows.
      assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("c"), step("d")])), [3, 4])
      const read = yield* store.read("run-1")
      assertDense(read)
      assert.deepStrictEqual(ids(read), ["start", "done:a@0", "done:b@0", "done:c@0", "done:d@0"])
    })
  )

  it.scoped(
    "after reopening the file, a replay of any entry of the run is a no-op: the ids are read from the whole run once",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        yield* Effect.scoped(
          Effect.gen(function* () {
            const store = yield* openStore(filename)
            yield* store.append("run-1", [JournalStoreSuite.started("run-1"), step("a"), step("b")])
          })
        )
        const store = yield* openStore(filename)
        // No cached head: judged from the stored rows (and the run's ids cached).
        assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("b")])), [2])
        assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("c")])), [3])
        // `a` was not in any batch of this store: only a complete set of the run's ids knows it.
        assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("a")])), [1])
        assert.deepStrictEqual(offsets(yield* store.append("run-1", [JournalStoreSuite.started("run-1")])), [0])
        const read = yield* store.read("run-1")
        assertDense(read)
        assert.deepStrictEqual(ids(read), ["start", "done:a@0", "done:b@0", "done:c@0"])
      })
  )

  it.scoped(
    "after another store appended to the run, a replay of its entry is a no-op and the next append follows it",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const a = yield* openStore(filename)
        const b = yield* openStore(filename)
        yield* a.append("run-1", [JournalStoreSuite.started("run-1"), step("a")])
        assert.deepStrictEqual(offsets(yield* b.append("run-1", [step("b")])), [2])
        // A's cached head is stale: its insert at offset 2 fails on the key, and the batch is judged from the rows.
        assert.deepStrictEqual(offsets(yield* a.append("run-1", [step("b")])), [2])
        assert.deepStrictEqual(offsets(yield* a.append("run-1", [step("c")])), [3])
        assert.deepStrictEqual(offsets(yield* b.append("run-1", [step("c")])), [3])
        assert.deepStrictEqual(offsets(yield* b.append("run-1", [step("d")])), [4])
        assert.deepStrictEqual(offsets(yield* a.append("run-1", [step("e")])), [5])
        const read = yield* a.read("run-1")
        assertDense(read)
        assert.deepStrictEqual(ids(read), ["start", "done:a@0", "done:b@0", "done:c@0", "done:d@0", "done:e@0"])
      })
  )

  it.scoped(
    "an entry with a known id and other content fails with JournalConflictError: cached, after reopening, in another store",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const a = yield* openStore(filename)
        yield* a.append("run-1", [JournalStoreSuite.started("run-1")])
        yield* a.append("run-1", [step("a", 0)])
        yield* a.append("run-1", [step("b", 0)])
        const cached = yield* Effect.flip(a.append("run-1", [step("a", 1)]))
        assert.instanceOf(cached, JournalConflictError)
        assert.strictEqual(cached.offset, 1)
        const inBatch = yield* Effect.flip(a.append("run-1", [step("c", 0), step("b", 1)]))
        assert.instanceOf(inBatch, JournalConflictError)
        assert.strictEqual(inBatch.entryId, "done:b@0")
        const other = yield* openStore(filename)
        const fresh = yield* Effect.flip(other.append("run-1", [step("b", 1)]))
        assert.instanceOf(fresh, JournalConflictError)
        assert.strictEqual(fresh.offset, 2)
        // And nothing of the failed batches was stored.
        assert.deepStrictEqual(ids(yield* other.read("run-1")), ["start", "done:a@0", "done:b@0"])
        assert.deepStrictEqual(offsets(yield* a.append("run-1", [step("c", 0)])), [3])
      })
  )

  it.scoped(
    "two stores on one file appending the same entries to a run at once never duplicate an id nor leave a gap",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const a = yield* openStore(filename)
        const b = yield* openStore(filename)
        yield* a.append("run-1", [JournalStoreSuite.started("run-1")])
        const results = yield* Effect.forEach(
          Array.from({ length: 60 }, (_, i) => i),
          (i) =>
            Effect.all(
              [
                a.append("run-1", [step(`s${i}`)]),
                b.append("run-1", [step(`s${i}`)]),
                // Every fifth: a batch of two, one of them the other store's last.
                ...(i % 5 === 0 && i > 0 ? [b.append("run-1", [step(`s${i - 1}`), step(`t${i}`)])] : [])
              ],
              { concurrency: "unbounded" }
            ),
          { concurrency: 4 }
        )
        const read = yield* b.read("run-1")
        assertDense(read)
        assert.strictEqual(read.length, 1 + 60 + 11)
        // Both stores got the same offset for the same entry.
        for (const [fromA, fromB] of results) assert.deepStrictEqual(offsets(fromA), offsets(fromB))
      })
  )

  it.scoped(
    "remove, then a new run of the same id: a stale head in another store never writes into the new run's keys",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const stale = yield* openStore(filename)
        const current = yield* openStore(filename)
        yield* stale.append("run-1", [JournalStoreSuite.started("run-1"), step("a")])
        yield* current.remove("run-1")
        yield* current.append("run-1", [JournalStoreSuite.started("run-1", { workflow: "again" })])
        yield* current.append("run-1", [step("x")])
        // The stale head (offset 2 of the removed run) writes into the removed run's key range, not the new run's.
        yield* stale.append("run-1", [step("b")])
        assert.deepStrictEqual(offsets(yield* current.append("run-1", [step("y")])), [2])
        const read = yield* current.read("run-1")
        assertDense(read)
        assert.deepStrictEqual(ids(read), ["start", "done:x@0", "done:y@0"])
        assert.strictEqual((read[0].entry as { readonly workflow: string }).workflow, "again")
      })
  )

  it.scoped(
    "an append inside a transaction that rolls back is forgotten: the next append takes its offset, and it can be appended again",
    () =>
      Effect.gen(function* () {
        const { sql, store } = yield* storeAndClient(yield* tempFile)
        yield* store.append("run-1", [JournalStoreSuite.started("run-1"), step("a")])
        const rolledBack = yield* Effect.flip(
          sql.withTransaction(
            Effect.zipRight(store.append("run-1", [step("b")]), Effect.fail("rolled back on purpose" as const))
          )
        )
        assert.strictEqual(rolledBack, "rolled back on purpose")
        // A head cached from inside the transaction would put `c` at offset 3, after a hole.
        assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("c")])), [2])
        assert.deepStrictEqual(offsets(yield* store.append("run-1", [step("b")])), [3])
        const read = yield* store.read("run-1")
        assertDense(read)
        assert.deepStrictEqual(ids(read), ["start", "done:a@0", "done:c@0", "done:b@0"])
      })
  )

  it.scoped(
    "fenced appends in their own transaction: a replay is a no-op, a conflict fails, another store's append is seen",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const a = yield* openStore(filename)
        const b = yield* openStore(filename)
        const epoch = yield* a.claim!("run-1")
        const fenced = (entries: ReadonlyArray<Journal.Entry>) => a.appendFenced!("run-1", epoch, entries)
        yield* fenced([JournalStoreSuite.started("run-1")])
        yield* fenced([step("a")])
        yield* fenced([step("b")])
        assert.deepStrictEqual(offsets(yield* fenced([step("a")])), [1])
        assert.instanceOf(yield* Effect.flip(fenced([step("b", 1)])), JournalConflictError)
        // Another store's (unfenced) append: the fenced append's cached head is stale, its insert fails on the key
        // inside the transaction and the batch is judged from the rows.
        assert.deepStrictEqual(offsets(yield* b.append("run-1", [step("c")])), [3])
        assert.deepStrictEqual(offsets(yield* fenced([step("c")])), [3])
        assert.deepStrictEqual(offsets(yield* fenced([step("d")])), [4])
        const read = yield* a.read("run-1")
        assertDense(read)
        assert.deepStrictEqual(ids(read), ["start", "done:a@0", "done:b@0", "done:c@0", "done:d@0"])
      })
  )
  it.scoped(
    "the store remembers the heads of at most `headCache` runs: an append to the run appended to least recently reads its head again",
    () =>
      Effect.gen(function* () {
        /** Whether appending as below to runs a, b, c, then b, c, then a reads a's head from the file. */
        const readsHeadOfA = (headCache: number) =>
          Effect.scoped(
            Effect.gen(function* () {
              const filename = yield* tempFile
              const connectionContext = yield* Layer.build(connection.layer(filename))
              const { db } = Context.get(connectionContext, connection.OwnConnection)
              const store = yield* Effect.map(
                Layer.build(
                  journal.layerFromClient({ headCache }).pipe(Layer.provide(Layer.succeedContext(connectionContext)))
                ),
                (context) => Context.get(context, JournalStore.JournalStore)
              )
              // The head query is prepared on the connection the first time it runs.
              const texts: Array<string> = []
              const prepare = db.prepare.bind(db)
              ;(db as { prepare: (text: string) => connection.RawStatement }).prepare = (text) => {
                texts.push(text)
                return prepare(text)
              }
              const headQueries = () => texts.filter((text) => text.includes("SELECT r.run_no, r.status")).length
              for (const run of ["a", "b", "c"]) yield* store.append(run, [JournalStoreSuite.started(run)])
              for (const run of ["b", "c"]) yield* store.append(run, [step("x")])
              assert.strictEqual(headQueries(), 0, "b and c were remembered")
              assert.deepStrictEqual(offsets(yield* store.append("a", [step("x")])), [1])
              const readHead = headQueries() > 0
              // Remembered or not, a's journal is right (and a replay, judged from the rows, is a no-op).
              assert.deepStrictEqual(offsets(yield* store.append("a", [step("x")])), [1])
              assertDense(yield* store.read("a"))
              return readHead
            })
          )
        assert.isTrue(yield* readsHeadOfA(2), "with room for 2 runs, a (appended to least recently) was forgotten")
        assert.isFalse(yield* readsHeadOfA(3), "with room for 3 runs, a was remembered")
      })
  )

  it.scoped(
    "every statement the store runs on the entries reads a range of the integer primary key, never the whole table",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const connectionContext = yield* Layer.build(connection.layer(filename))
        const { db } = Context.get(connectionContext, connection.OwnConnection)
        // Every statement text prepared on the connection from here on (the store prepares each on first use).
        const texts = new Set<string>()
        const prepare = db.prepare.bind(db)
        const watched = db as { prepare: (text: string) => connection.RawStatement }
        const store = yield* Effect.map(
          Layer.build(journal.layerFromClient().pipe(Layer.provide(Layer.succeedContext(connectionContext)))),
          (context) => Context.get(context, JournalStore.JournalStore)
        )
        watched.prepare = (text) => {
          texts.add(text)
          return prepare(text)
        }
        const other = yield* openStore(filename)
        yield* store.append("run-1", [JournalStoreSuite.started("run-1"), step("a")])
        yield* store.append("run-1", [step("b")])
        yield* other.append("run-1", [step("c")])
        yield* store.append("run-1", [step("c"), step("d")])
        yield* store.append("run-1", [step("a")])
        yield* Effect.flip(store.append("run-1", [step("a", 1)]))
        yield* store.append("run-1", [step("e")], { status: "waiting" })
        const epoch = yield* store.claim!("run-1")
        yield* store.appendFenced!("run-1", epoch, [step("f")])
        yield* store.read("run-1", 2)
        yield* store.load("run-1")
        yield* store.summary("run-1")
        yield* store.list({ status: ["waiting"] })
        yield* store.list({ conversation: "c-1" })
        yield* store.compact("run-1", { snapshot: true }, 3)
        yield* store.remove("run-1")
        const entries = [...texts].filter((text) => text.includes("eventflow_journal_entries"))
        assert.isAtLeast(entries.length, 6)
        for (const text of entries) {
          const plan = (
            prepare(`EXPLAIN QUERY PLAN ${text}`).all(
              ...Array.from({ length: (text.match(/\?/g) ?? []).length }, () => null)
            ) as Array<{ readonly detail: string }>
          ).map((row) => row.detail)
          const scans = plan.filter((detail) => /^SCAN (eventflow_journal_entries|e|s|l)\b/.test(detail))
          assert.deepStrictEqual(scans, [], `${text}\n${plan.join("\n")}`)
          if (!text.startsWith("INSERT")) {
            assert.isTrue(
              plan.some((detail) => detail.includes("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
              `${text}\n${plan.join("\n")}`
            )
          }
        }
      })
  )

  it.scoped("an entry past the last offset a key holds (2^32 - 1) fails with JournalStoreError and is not stored", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* Effect.scoped(
        Effect.gen(function* () {
          const { sql, store } = yield* storeAndClient(filename)
          yield* store.append("run-1", [JournalStoreSuite.started("run-1")])
          // The run's last entry at the last offset (as if it had 2^32 entries).
          yield* sql`INSERT INTO eventflow_journal_entries (entry_key, entry_id, tag, payload, appended_at)
            SELECT (run_no << 32) | 4294967295, 'done:z@0', 'InvocationCompleted', ${JSON.stringify(step("z"))}, 0
            FROM eventflow_journal_runs WHERE run_id = 'run-1'`
        })
      )
      const store = yield* openStore(filename)
      const error = yield* Effect.flip(store.append("run-1", [step("a")]))
      assert.instanceOf(error, JournalStoreError)
      assert.include(error.message, "offset 4294967296")
      assert.include(error.message, "4294967295")
      const read = yield* store.read("run-1")
      assert.deepStrictEqual(
        read.map((stored) => [stored.offset, stored.entry.id]),
        [
          [0, "start"],
          [4294967295, "done:z@0"]
        ]
      )
    })
  )
})
