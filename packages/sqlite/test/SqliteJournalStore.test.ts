import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { HumanResponse, JournalStore, JournalStoreSuite, RunStore, Workflow } from "@eventflow/core"
import { SqliteJournalStore, SqliteRunStore } from "@eventflow/sqlite"
import { Effect, Layer, Option } from "effect"
import { v1RunId, v1Workflow } from "./fixtures/v1Workflow.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-journal-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const tempFile = Effect.map(tempDir, (dir) => path.join(dir, "runs.db"))

describe("SqliteJournalStore.layer on a file (JournalStoreSuite)", () => {
  for (const test of JournalStoreSuite.cases) {
    it.scoped(test.name, () =>
      Effect.flatMap(tempFile, (filename) => Effect.provide(test.run, SqliteJournalStore.layer({ filename })))
    )
  }
})

describe("SqliteJournalStore.layer on a file (JournalStoreSuite.fencingCases)", () => {
  for (const test of JournalStoreSuite.fencingCases) {
    it.scoped(test.name, () =>
      Effect.flatMap(tempFile, (filename) => Effect.provide(test.run, SqliteJournalStore.layer({ filename })))
    )
  }
})

describe("SqliteJournalStore.layer on :memory: (JournalStoreSuite)", () => {
  for (const test of JournalStoreSuite.cases) {
    it.scoped(test.name, () => Effect.provide(test.run, SqliteJournalStore.layer({ filename: ":memory:" })))
  }
})

const rawClient = (filename: string) => SqliteClient.layer({ filename, disableWAL: true })

// A client of the user's (`@effect/sql-sqlite-node`): no connection of the store's own, so every append takes the
// general path (its own BEGIN IMMEDIATE transaction, the cached head inside it, or the exact query).
describe("SqliteJournalStore.layerFromClient on a file (JournalStoreSuite, fencingCases)", () => {
  for (const test of [...JournalStoreSuite.cases, ...JournalStoreSuite.fencingCases]) {
    it.scoped(test.name, () =>
      Effect.flatMap(tempFile, (filename) =>
        Effect.provide(test.run, SqliteJournalStore.layerFromClient().pipe(Layer.provide(rawClient(filename))))
      )
    )
  }
})

const withRaw = <A, E>(filename: string, body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(SqlClient.SqlClient, body), rawClient(filename))

const fixture = path.join(__dirname, "fixtures", "v1-waiting.db")

/** A copy of the version-1 fixture, so the test never changes the checked-in file. */
const v1Copy = Effect.map(tempFile, (filename) => {
  fs.copyFileSync(fixture, filename)
  return filename
})

const tables = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`, (rows) =>
    rows.map((row) => row.name)
  )

describe("SqliteJournalStore", () => {
  it.scoped("the fixture is a version-1 file with a waiting run and no journal tables", () =>
    Effect.gen(function* () {
      const filename = yield* v1Copy
      const [names, versions, runs] = yield* withRaw(filename, (sql) =>
        Effect.all([
          tables(sql),
          sql<{ version: number }>`SELECT version FROM eventflow_schema_version`,
          sql<{ run_id: string; status: string }>`SELECT run_id, status FROM eventflow_runs`
        ])
      )
      assert.deepStrictEqual(names, ["eventflow_runs", "eventflow_schema_version"])
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1]
      )
      assert.deepStrictEqual(runs, [{ run_id: v1RunId, status: "waiting" }])
    })
  )

  it.scoped("opening a version-1 file with SqliteRunStore migrates it to version 6 and keeps its runs", () =>
    Effect.gen(function* () {
      const filename = yield* v1Copy
      const snapshot = yield* Effect.provide(
        Effect.flatMap(RunStore.RunStore, (store) => store.load(v1RunId)),
        SqliteRunStore.layer({ filename })
      )
      assert.strictEqual(SqliteRunStore.schemaVersion, 6)
      assert.strictEqual(Option.getOrThrow(snapshot).status, "waiting")
      assert.deepStrictEqual(Option.getOrThrow(snapshot).state, { drafts: 1 })
      const [names, versions] = yield* withRaw(filename, (sql) =>
        Effect.all([tables(sql), sql<{ version: number }>`SELECT version FROM eventflow_schema_version`])
      )
      assert.deepStrictEqual(names, [
        "eventflow_journal_compactions",
        "eventflow_journal_entries",
        "eventflow_journal_fences",
        "eventflow_journal_orphan_entries",
        "eventflow_journal_runs",
        "eventflow_runs",
        "eventflow_schema_version",
        "sqlite_sequence"
      ])
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1, 2, 3, 4, 5, 6]
      )
    })
  )

  it.scoped("the waiting run of a migrated version-1 file resumes and completes with today's engine", () =>
    Effect.gen(function* () {
      const filename = yield* v1Copy
      const result = yield* Effect.gen(function* () {
        const handle = yield* Workflow.resume(v1Workflow, v1RunId)
        // The prompt's id in `pending` is the requestId the step gave it (one id for pending and answers).
        assert.deepStrictEqual(
          (yield* handle.pending).map((p) => p.requestId),
          ["review-1"]
        )
        yield* handle.send(HumanResponse.make({ response: "approved", requestId: "review-1" }))
        return yield* handle.result
      }).pipe(Effect.scoped, Effect.provide(SqliteRunStore.layer({ filename })))
      assert.deepStrictEqual(result, { text: "About journals", answer: "approved", drafts: 1 })
      const [status] = yield* withRaw(
        filename,
        (sql) => sql<{ status: string }>`SELECT status FROM eventflow_runs WHERE run_id = ${v1RunId}`
      )
      assert.strictEqual(status.status, "completed")
    })
  )

  it.scoped("opening a version-1 file with SqliteJournalStore migrates it, and the journal tables work", () =>
    Effect.gen(function* () {
      const filename = yield* v1Copy
      yield* Effect.gen(function* () {
        const store = yield* JournalStore.JournalStore
        yield* store.append("run-j", [JournalStoreSuite.started("run-j"), JournalStoreSuite.completed("a", "0")])
        assert.deepStrictEqual(
          (yield* store.read("run-j")).map((s) => s.offset),
          [0, 1]
        )
      }).pipe(Effect.provide(SqliteJournalStore.layer({ filename })))
      const versions = yield* withRaw(
        filename,
        (sql) => sql<{ version: number }>`SELECT version FROM eventflow_schema_version`
      )
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1, 2, 3, 4, 5, 6]
      )
      // Today's store still loads the version-1 run from the same file.
      const snapshot = yield* Effect.provide(
        Effect.flatMap(RunStore.RunStore, (store) => store.load(v1RunId)),
        SqliteRunStore.layer({ filename })
      )
      assert.strictEqual(Option.getOrThrow(snapshot).status, "waiting")
    })
  )

  it.scoped("one client serves both stores, and an append joins the caller's transaction", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const layer = Layer.mergeAll(SqliteRunStore.layerFromClient(), SqliteJournalStore.layerFromClient()).pipe(
        Layer.provideMerge(rawClient(filename))
      )
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const journal = yield* JournalStore.JournalStore
        // A failed transaction of the caller's rolls its appends back.
        const failed = yield* Effect.either(
          sql.withTransaction(
            Effect.zipRight(
              journal.append("run-1", [JournalStoreSuite.started("run-1")]),
              Effect.fail("rolled back" as const)
            )
          )
        )
        assert.deepStrictEqual(failed._tag, "Left")
        assert.deepStrictEqual(yield* journal.read("run-1"), [])
        yield* sql.withTransaction(journal.append("run-1", [JournalStoreSuite.started("run-1")]))
        assert.deepStrictEqual(
          (yield* journal.read("run-1")).map((s) => s.offset),
          [0]
        )
      }).pipe(Effect.provide(layer))
    })
  )

  it.live(
    "two processes appending the same entries to one run at once: each lands once, offsets dense",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const filename = path.join(dir, "runs.db")
        yield* Effect.provide(
          Effect.flatMap(JournalStore.JournalStore, (store) =>
            store.append("run-1", [JournalStoreSuite.started("run-1")])
          ),
          SqliteJournalStore.layer({ filename })
        )
        const appender = (n: number) =>
          Effect.async<string, Error>((resume) => {
            const child = spawn(
              process.execPath,
              [
                "--conditions=source",
                "--import",
                "tsx",
                "packages/sqlite/test/fixtures/journal-appender.ts",
                filename,
                `${n}`
              ],
              { stdio: ["ignore", "pipe", "pipe"] }
            )
            let out = ""
            let err = ""
            child.stdout.on("data", (chunk) => (out += chunk))
            child.stderr.on("data", (chunk) => (err += chunk))
            child.on("close", (code) =>
              resume(
                code === 0 ? Effect.succeed(out.trim()) : Effect.fail(new Error(`appender exited with ${code}: ${err}`))
              )
            )
            return Effect.sync(() => child.kill("SIGKILL"))
          })
        const outputs = yield* Effect.all([appender(2_000), appender(2_000)], { concurrency: "unbounded" })
        assert.deepStrictEqual(outputs, ["done", "done"])
        const read = yield* Effect.provide(
          Effect.flatMap(JournalStore.JournalStore, (store) => store.read("run-1")),
          SqliteJournalStore.layer({ filename })
        )
        assert.deepStrictEqual(
          read.map((s) => s.offset),
          Array.from({ length: 2_001 }, (_, i) => i)
        )
        assert.deepStrictEqual(
          read.slice(1).map((s) => s.entry.id),
          Array.from({ length: 2_000 }, (_, i) => `done:s@x/${i}`)
        )
      }).pipe(Effect.scoped),
    60_000
  )

  it.scoped("a stored entry that is not a journal entry fails to read with JournalStoreError", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* Effect.provide(
        Effect.flatMap(JournalStore.JournalStore, (store) =>
          store.append("run-1", [JournalStoreSuite.started("run-1")])
        ),
        SqliteJournalStore.layer({ filename })
      )
      yield* withRaw(filename, (sql) => sql`UPDATE eventflow_journal_entries SET payload = '{"_tag": "Nope"}'`)
      const error = yield* Effect.flip(
        Effect.provide(
          Effect.flatMap(JournalStore.JournalStore, (store) => store.read("run-1")),
          SqliteJournalStore.layer({ filename })
        )
      )
      assert.strictEqual(error._tag, "JournalStoreError")
      assert.strictEqual(error.operation, "read")
      assert.strictEqual(error.runId, "run-1")
    })
  )
})
