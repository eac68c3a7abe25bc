/**
 * The layout of the SQLite journal: entries in a rowid table (no overflow page per row) keyed by one integer
 * `(run_no << 32) | offset` (schema version 6: an append's commit writes one b-tree), the run's status by a narrow
 * trigger, files of versions 3, 4 and 5 migrated with their journals, and the append that skips the head query for a
 * new journal still idempotent and conflict-checked across stores.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { HumanResponse, type Journal, JournalStore, JournalStoreSuite, RunStore, Workflow } from "@eventflow/core"
import { JournalConflictError } from "@eventflow/core/WorkflowError"
import { SqliteJournalStore, SqliteRunStore } from "@eventflow/sqlite"
import { Effect, Option, TestClock } from "effect"
import { v1RunId, v1Workflow } from "./fixtures/v1Workflow.js"

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-layout-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => path.join(dir, "runs.db")
)

const withRaw = <A, E>(filename: string, body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(SqlClient.SqlClient, body), SqliteClient.layer({ filename, disableWAL: true }))

const withJournal = <A, E>(filename: string, body: (store: JournalStore.Service) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(JournalStore.JournalStore, body), SqliteJournalStore.layer({ filename }))

/** A completion whose canonical JSON is about `bytes` long (a hop with a long event id and a chunk of log). */
const bigCompletion = (i: number, bytes: number): Journal.Entry =>
  ({
    ...JournalStoreSuite.completed(`step${i}`, `0/${"x".repeat(80)}/${i}`, i),
    log: { from: i, events: [{ _tag: "Note", text: "y".repeat(bytes - 500) }] }
  }) as Journal.Entry

/** The rows of a run's journal, read by its key range. */
const rowsOf = (sql: SqlClient.SqlClient, runId: string) =>
  sql<{ n: number }>`SELECT count(*) AS n FROM eventflow_journal_runs r JOIN eventflow_journal_entries e
    ON e.entry_key BETWEEN r.run_no << 32 AND (r.run_no << 32) | 4294967295 WHERE r.run_id = ${runId}`

describe("SqliteJournalStore layout (schema version 6)", () => {
  it.scoped("a 1.5 KB entry takes no overflow page: the file grows by about its rows, not a 4 KB page per row", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const hops = 300
      const payload = yield* withJournal(filename, (store) =>
        Effect.gen(function* () {
          yield* store.append("run-1", [JournalStoreSuite.started("run-1")])
          for (let i = 0; i < hops; i++) yield* store.append("run-1", [bigCompletion(i, 1_500)])
          const entries = yield* store.read("run-1")
          return entries.reduce((sum, stored) => sum + JSON.stringify(stored.entry).length, 0)
        })
      )
      const [[pages], [size]] = yield* withRaw(filename, (sql) =>
        Effect.all([sql<{ page_count: number }>`PRAGMA page_count`, sql<{ page_size: number }>`PRAGMA page_size`])
      )
      const bytes = pages.page_count * size.page_size
      // With the version-3 WITHOUT ROWID table this was about 3.2× (each row spilled into a page of its own).
      assert.isBelow(bytes / payload, 1.6, `file ${bytes} B for ${payload} B of entries`)
    })
  )

  it.scoped("the summary counts every entry and takes the RunEnded status (the triggers of start and end)", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const summary = yield* withJournal(filename, (store) =>
        Effect.gen(function* () {
          yield* store.append("run-1", [JournalStoreSuite.started("run-1"), JournalStoreSuite.completed("a", "0")])
          yield* store.append("run-1", [JournalStoreSuite.completed("b", "0/a/0")], { status: "waiting" })
          yield* store.append("run-1", [
            JournalStoreSuite.completed("c", "0/b/0"),
            { _tag: "RunEnded", id: "end", status: "failed", error: { message: "no" } } as unknown as Journal.Entry
          ])
          return Option.getOrThrow(yield* store.summary("run-1"))
        })
      )
      assert.strictEqual(summary.entries, 5)
      assert.strictEqual(summary.status, "failed")
    })
  )

  it.scoped("a second store appending a journal's RunStarted again: a no-op, then the next entries follow it", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* withJournal(filename, (store) =>
        store.append("run-1", [JournalStoreSuite.started("run-1"), JournalStoreSuite.completed("a", "0")])
      )
      // A new store has no cached head: it tries the batch as a new journal, and the primary key sends it to the query.
      const [again, next, conflict, entries] = yield* withJournal(filename, (store) =>
        Effect.all([
          store.append("run-1", [JournalStoreSuite.started("run-1")]),
          store.append("run-1", [JournalStoreSuite.started("run-1"), JournalStoreSuite.completed("b", "0/a/0")]),
          Effect.flip(store.append("run-1", [JournalStoreSuite.started("run-1", { workflow: "other" })])),
          store.read("run-1")
        ])
      )
      assert.deepStrictEqual(
        again.map((s) => s.offset),
        [0]
      )
      assert.deepStrictEqual(
        next.map((s) => s.offset),
        [0, 2]
      )
      assert.instanceOf(conflict, JournalConflictError)
      assert.deepStrictEqual(
        entries.map((s) => s.entry.id),
        ["start", "done:a@0", "done:b@0/a/0"]
      )
    })
  )

  it.scoped(
    "a version-3 file (fixtures/v3-journal.db) migrates to a rowid entries table and its waiting run completes",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        fs.copyFileSync(path.join(__dirname, "fixtures", "v3-journal.db"), filename)
        const [before] = yield* withRaw(
          filename,
          (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM eventflow_journal_entries`
        )
        assert.strictEqual(before.n, 5)
        const result = yield* Effect.gen(function* () {
          const handle = yield* Workflow.resume(v1Workflow, v1RunId)
          yield* handle.send(HumanResponse.make({ response: "approved", requestId: "review-1" }))
          return yield* handle.result
        }).pipe(Effect.scoped, Effect.provide(SqliteRunStore.layer({ filename })))
        assert.deepStrictEqual(result, { text: "About journals", answer: "approved", drafts: 1 })
        const [versions, table, triggers, count, head] = yield* withRaw(filename, (sql) =>
          Effect.all([
            sql<{ version: number }>`SELECT version FROM eventflow_schema_version ORDER BY version`,
            sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE name = 'eventflow_journal_entries'`,
            sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`,
            rowsOf(sql, v1RunId),
            sql<{ status: string }>`SELECT status FROM eventflow_journal_runs`
          ])
        )
        assert.deepStrictEqual(
          versions.map((row) => row.version),
          [1, 2, 3, 4, 5, 6]
        )
        assert.notInclude(table[0].sql, "WITHOUT ROWID")
        assert.deepStrictEqual(
          triggers.map((row) => row.name),
          ["eventflow_journal_entries_ended"]
        )
        // The 5 entries of version 3 kept, and the ones appended after the migration counted with them.
        assert.isAbove(count[0].n, 5)
        assert.deepStrictEqual(head, [{ status: "completed" }])
        const summary = yield* withJournal(filename, (store) => store.summary(v1RunId))
        assert.strictEqual(Option.getOrThrow(summary).entries, count[0].n)
        const loaded = yield* Effect.provide(
          Effect.flatMap(RunStore.RunStore, (store) => store.load(v1RunId)),
          SqliteRunStore.layer({ filename })
        )
        assert.strictEqual(Option.getOrThrow(loaded).status, "completed")
      })
  )

  it.scoped(
    "an append of one entry to a started run writes about 1 page to the WAL (one b-tree), not 3; the head row is left alone",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const size = () => (fs.existsSync(`${filename}-wal`) ? fs.statSync(`${filename}-wal`).size : 0)
        const [frames, summary] = yield* withJournal(filename, (store) =>
          Effect.gen(function* () {
            yield* store.append("run-1", [JournalStoreSuite.started("run-1", { at: 1_700_000_000_000 })])
            yield* store.append("run-1", [JournalStoreSuite.completed("s", "x/0", 0)])
            const before = size()
            yield* TestClock.adjust("1 second")
            // 40 appends: fewer than start the background checkpointer (64) or SQLite's automatic checkpoint (1,000
            // pages), so the WAL only grows. A frame is a 4,096-byte page and a 24-byte header.
            for (let i = 1; i <= 40; i++) yield* store.append("run-1", [JournalStoreSuite.completed("s", `x/${i}`, i)])
            return [(size() - before) / 4_120 / 40, Option.getOrThrow(yield* store.summary("run-1"))] as const
          })
        )
        // Version 4 wrote 4 (the entries' leaf, the two indexes' leaves and the head row's leaf, rewritten by a trigger).
        // Version 5 wrote 3 (the entries' leaf and its two indexes' leaves); version 6 one b-tree: its leaf, and now
        // and then a new leaf and its parent.
        assert.isAtMost(frames, 1.5)
        assert.strictEqual(summary.entries, 42)
        // The last update is the last entry's (appended at the test clock's 1 s), not the head row's.
        assert.strictEqual(summary.updatedAt, 1_000)
      })
  )

  it.scoped(
    "a version-4 file (fixtures/v4-journal.db) migrates to version 6 and its waiting run completes, counted from its entries",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        fs.copyFileSync(path.join(__dirname, "fixtures", "v4-journal.db"), filename)
        const [before] = yield* withRaw(
          filename,
          (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM eventflow_journal_entries`
        )
        assert.strictEqual(before.n, 5)
        const waiting = yield* withJournal(filename, (store) => store.summary(v1RunId))
        assert.strictEqual(Option.getOrThrow(waiting).entries, 5)
        assert.strictEqual(Option.getOrThrow(waiting).status, "waiting")
        const result = yield* Effect.gen(function* () {
          const handle = yield* Workflow.resume(v1Workflow, v1RunId)
          yield* handle.send(HumanResponse.make({ response: "approved", requestId: "review-1" }))
          return yield* handle.result
        }).pipe(Effect.scoped, Effect.provide(SqliteRunStore.layer({ filename })))
        assert.deepStrictEqual(result, { text: "About journals", answer: "approved", drafts: 1 })
        const [versions, triggers, count] = yield* withRaw(filename, (sql) =>
          Effect.all([
            sql<{ version: number }>`SELECT version FROM eventflow_schema_version ORDER BY version`,
            sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`,
            rowsOf(sql, v1RunId)
          ])
        )
        assert.deepStrictEqual(
          versions.map((row) => row.version),
          [1, 2, 3, 4, 5, 6]
        )
        assert.deepStrictEqual(
          triggers.map((row) => row.name),
          ["eventflow_journal_entries_ended"]
        )
        assert.isAbove(count[0].n, 5)
        const [summary, listed] = yield* withJournal(filename, (store) =>
          Effect.all([store.summary(v1RunId), store.list({ status: ["completed"] })])
        )
        assert.strictEqual(Option.getOrThrow(summary).entries, count[0].n)
        assert.strictEqual(Option.getOrThrow(summary).status, "completed")
        assert.deepStrictEqual(
          listed.map((run) => [run.runId, run.entries]),
          [[v1RunId, count[0].n]]
        )
      })
  )
  it.scoped(
    "a version-5 file (fixtures/v5-journal.db) migrates to version 6: one b-tree of entries keyed by run number and offset, and its waiting run completes",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        fs.copyFileSync(path.join(__dirname, "fixtures", "v5-journal.db"), filename)
        const [before] = yield* withRaw(
          filename,
          (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM eventflow_journal_entries WHERE run_id = ${v1RunId}`
        )
        assert.strictEqual(before.n, 5)
        const [waiting, entries] = yield* withJournal(filename, (store) =>
          Effect.all([store.summary(v1RunId), store.read(v1RunId)])
        )
        assert.strictEqual(Option.getOrThrow(waiting).entries, 5)
        assert.strictEqual(Option.getOrThrow(waiting).status, "waiting")
        assert.deepStrictEqual(
          entries.map((stored) => [stored.offset, stored.entry._tag]),
          [
            [0, "RunStarted"],
            [1, "Published"],
            [2, "InvocationCompleted"],
            [3, "WaiterRegistered"],
            [4, "Published"]
          ]
        )
        const result = yield* Effect.gen(function* () {
          const handle = yield* Workflow.resume(v1Workflow, v1RunId)
          yield* handle.send(HumanResponse.make({ response: "approved", requestId: "review-1" }))
          return yield* handle.result
        }).pipe(Effect.scoped, Effect.provide(SqliteRunStore.layer({ filename })))
        assert.deepStrictEqual(result, { text: "About journals", answer: "approved", drafts: 1 })
        const [versions, triggers, indexes, columns, count] = yield* withRaw(filename, (sql) =>
          Effect.all([
            sql<{ version: number }>`SELECT version FROM eventflow_schema_version ORDER BY version`,
            sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`,
            sql<{ name: string }>`SELECT name FROM pragma_index_list('eventflow_journal_entries')`,
            sql<{ name: string; pk: number }>`SELECT name, pk FROM pragma_table_info('eventflow_journal_entries')`,
            rowsOf(sql, v1RunId)
          ])
        )
        assert.deepStrictEqual(
          versions.map((row) => row.version),
          [1, 2, 3, 4, 5, 6]
        )
        assert.deepStrictEqual(
          triggers.map((row) => row.name),
          ["eventflow_journal_entries_ended"]
        )
        // No index besides the integer primary key (the rowid).
        assert.deepStrictEqual(indexes, [])
        assert.deepStrictEqual(
          columns.map((column) => [column.name, column.pk]),
          [
            ["entry_key", 1],
            ["entry_id", 0],
            ["tag", 0],
            ["payload", 0],
            ["appended_at", 0]
          ]
        )
        assert.isAbove(count[0].n, 5)
        const [summary, listed, all] = yield* withJournal(filename, (store) =>
          Effect.all([store.summary(v1RunId), store.list({ status: ["completed"] }), store.read(v1RunId)])
        )
        assert.strictEqual(Option.getOrThrow(summary).entries, count[0].n)
        assert.strictEqual(Option.getOrThrow(summary).status, "completed")
        assert.deepStrictEqual(
          listed.map((run) => [run.runId, run.entries]),
          [[v1RunId, count[0].n]]
        )
        assert.deepStrictEqual(
          all.map((stored) => stored.offset),
          Array.from({ length: count[0].n }, (_, i) => i)
        )
      })
  )

  it.scoped(
    "migrating to version 6 gives every run its own key range, and keeps entry rows without a head row apart, unread",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        fs.copyFileSync(path.join(__dirname, "fixtures", "v5-journal.db"), filename)
        // As version 5 wrote them: a second run (its head row made by the version-5 trigger from its RunStarted), and
        // two rows of a removed run written by a stale writer (no head row).
        const second = JournalStoreSuite.started("run-2", { at: 1_900_000_000_000 })
        yield* withRaw(
          filename,
          (sql) =>
            sql`INSERT INTO eventflow_journal_entries (run_id, entry_offset, entry_id, tag, payload, appended_at) VALUES
              ('run-2', 0, 'start', 'RunStarted', ${JSON.stringify(second)}, 5),
              ('run-2', 1, 'done:a@0', 'InvocationCompleted', ${JSON.stringify(JournalStoreSuite.completed("a", "0"))}, 6),
              ('gone', 3, 'done:x@0', 'InvocationCompleted', ${JSON.stringify(JournalStoreSuite.completed("x", "0"))}, 7),
              ('gone', 4, 'done:y@0', 'InvocationCompleted', ${JSON.stringify(JournalStoreSuite.completed("y", "0"))}, 8)`
        )
        const [first, two, gone, runs] = yield* withJournal(filename, (store) =>
          Effect.all([store.read(v1RunId), store.read("run-2"), store.read("gone"), store.list()])
        )
        assert.deepStrictEqual(
          first.map((stored) => stored.offset),
          [0, 1, 2, 3, 4]
        )
        assert.deepStrictEqual(
          two.map((stored) => [stored.offset, stored.entry.id]),
          [
            [0, "start"],
            [1, "done:a@0"]
          ]
        )
        assert.deepStrictEqual(gone, [])
        assert.deepStrictEqual(runs.map((run) => [run.runId, run.entries]).sort(), [
          ["run-2", 2],
          [v1RunId, 5]
        ])
        const [numbers, orphans] = yield* withRaw(filename, (sql) =>
          Effect.all([
            sql<{ run_id: string; run_no: number }>`SELECT run_id, run_no FROM eventflow_journal_runs ORDER BY run_no`,
            sql<{
              run_id: string
              entry_offset: number
              entry_id: string
            }>`SELECT run_id, entry_offset, entry_id FROM eventflow_journal_orphan_entries ORDER BY entry_offset`
          ])
        )
        // In their order of creation (the fixture's run first), numbered from 1.
        assert.deepStrictEqual(numbers, [
          { run_id: v1RunId, run_no: 1 },
          { run_id: "run-2", run_no: 2 }
        ])
        assert.deepStrictEqual(orphans, [
          { run_id: "gone", entry_offset: 3, entry_id: "done:x@0" },
          { run_id: "gone", entry_offset: 4, entry_id: "done:y@0" }
        ])
      })
  )
})
