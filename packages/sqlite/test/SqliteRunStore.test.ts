import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { RunStore, RunStoreError, RunStoreSuite } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Effect, Layer, Option, type Scope, String as Str } from "effect"

// --- fixtures ---

/** A temporary directory, removed when the test's scope closes (after the layers using it are closed). */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-sqlite-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const tempFile = Effect.map(tempDir, (dir) => path.join(dir, "runs.db"))

const snapshotOf = RunStoreSuite.snapshot
const completedSnapshotOf = RunStoreSuite.completedSnapshot

const ids = (runs: ReadonlyArray<RunStore.RunSummary>) => runs.map((run) => run.runId)

// --- the contract every RunStore keeps (RunStoreSuite) ---

type MakeLayer = Effect.Effect<Layer.Layer<RunStore.RunStore, RunStoreError>, never, Scope.Scope>

const runStoreContract = (name: string, makeLayer: MakeLayer) =>
  describe(`${name} (RunStoreSuite)`, () => {
    for (const test of RunStoreSuite.cases) {
      it.scoped(test.name, () => Effect.flatMap(makeLayer, (layer) => Effect.provide(test.run, layer)))
    }
  })

runStoreContract(
  "SqliteRunStore.layer on a file",
  Effect.map(tempFile, (filename) => SqliteRunStore.layer({ filename }))
)
runStoreContract("SqliteRunStore.layer on :memory:", Effect.succeed(SqliteRunStore.layer({ filename: ":memory:" })))

// --- what only the SQLite store does ---

/** A separate connection to the file, without the store (and without switching it to WAL itself). */
const rawClient = (filename: string) => SqliteClient.layer({ filename, disableWAL: true })

const withRaw = <A, E>(filename: string, body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(SqlClient.SqlClient, body), rawClient(filename))

const withSqliteStore = <A, E>(filename: string, body: (store: RunStore.Service) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(RunStore.RunStore, body), SqliteRunStore.layer({ filename }))

describe("SqliteRunStore", () => {
  it.scoped("creates the schema in a new file on first use, with schema version 6", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      assert.isFalse(fs.existsSync(filename))
      yield* withSqliteStore(filename, () => Effect.void)
      assert.isTrue(fs.existsSync(filename))
      const [versions, columns, indexes] = yield* withRaw(filename, (sql) =>
        Effect.all([
          sql<{ version: number }>`SELECT version FROM eventflow_schema_version`,
          sql<{ name: string; pk: number }>`SELECT name, pk FROM pragma_table_info('eventflow_runs') ORDER BY cid`,
          sql<{ name: string; columns: string }>`SELECT il.name AS name,
            (SELECT group_concat(ii.name, ',') FROM pragma_index_info(il.name) ii) AS columns
            FROM pragma_index_list('eventflow_runs') il WHERE il.origin = 'c' ORDER BY il.name`
        ])
      )
      assert.strictEqual(SqliteRunStore.schemaVersion, 6)
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1, 2, 3, 4, 5, 6]
      )
      assert.deepStrictEqual(
        columns.map((column) => [column.name, column.pk]),
        [
          ["run_id", 1],
          ["workflow", 0],
          ["status", 0],
          ["created_at", 0],
          ["updated_at", 0],
          ["snapshot", 0]
        ]
      )
      assert.deepStrictEqual(
        indexes.map((index) => index.columns),
        ["status", "workflow,status"]
      )
    })
  )

  it.scoped("puts the file in WAL mode", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* withSqliteStore(filename, (store) => store.save(snapshotOf({ runId: "run-1" })))
      const [mode] = yield* withRaw(filename, (sql) => sql<{ journal_mode: string }>`PRAGMA journal_mode`)
      assert.strictEqual(mode.journal_mode, "wal")
    })
  )

  it.scoped("make on an existing client sets WAL, synchronous=NORMAL and busy_timeout, and keeps its rows there", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const pragma = <A extends object>(name: string) =>
          Effect.map(sql.unsafe<A>(`PRAGMA ${name}`), (rows) => rows[0])
        // The client starts with other settings than the ones the store needs.
        yield* sql.unsafe("PRAGMA synchronous = FULL")
        yield* sql.unsafe("PRAGMA busy_timeout = 0")
        assert.deepStrictEqual(yield* pragma("journal_mode"), { journal_mode: "delete" })
        assert.deepStrictEqual(yield* pragma("synchronous"), { synchronous: 2 })

        const store = yield* SqliteRunStore.make({ busyTimeout: "1234 millis" })
        assert.deepStrictEqual(yield* pragma("journal_mode"), { journal_mode: "wal" })
        assert.deepStrictEqual(yield* pragma("synchronous"), { synchronous: 1 }) // NORMAL
        assert.deepStrictEqual(yield* pragma("busy_timeout"), { timeout: 1234 })

        yield* store.save(snapshotOf({ runId: "run-1", status: "running" }))
        const rows = yield* sql<{ run_id: string; status: string }>`SELECT run_id, status FROM eventflow_runs`
        assert.deepStrictEqual(rows, [{ run_id: "run-1", status: "running" }])
      }).pipe(Effect.provide(rawClient(filename)))
    })
  )

  it.scoped("make: list filters by parent (the child workflows' runs a run started)", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* Effect.gen(function* () {
        const store = yield* SqliteRunStore.make()
        yield* store.save(snapshotOf({ runId: "p" }))
        yield* store.save({ ...snapshotOf({ runId: "p/ask@0/c0", createdAt: 1_700_000_000_001 }), parent: "p" })
        yield* store.save({ ...snapshotOf({ runId: "p/ask@0/c1", createdAt: 1_700_000_000_002 }), parent: "p" })
        yield* store.save({ ...snapshotOf({ runId: "q/ask@0/c0" }), parent: "q" })
        assert.deepStrictEqual(ids(yield* store.list({ parent: "p" })), ["p/ask@0/c1", "p/ask@0/c0"])
        assert.deepStrictEqual(ids(yield* store.list({ parent: "p/ask@0/c0" })), [])
      }).pipe(Effect.provide(rawClient(filename)))
    })
  )

  it.scoped("make inside a transaction of the caller's fails with RunStoreError and leaves the file untouched", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const error = yield* Effect.flip(sql.withTransaction(SqliteRunStore.make()))
        assert.instanceOf(error, RunStoreError)
        assert.strictEqual(error.operation, "open")
        assert.include(error.message, "inside a transaction")
        const tables = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
        assert.deepStrictEqual(tables, [])
        // Outside a transaction the same client opens the store.
        const store = yield* SqliteRunStore.make()
        yield* store.save(snapshotOf({ runId: "run-1" }))
        assert.isTrue(Option.isSome(yield* store.load("run-1")))
      }).pipe(Effect.provide(rawClient(filename)))
    })
  )

  it.scoped("works on a client that renames result columns", () =>
    Effect.gen(function* () {
      const layer = SqliteRunStore.layerFromClient().pipe(
        Layer.provide(SqliteClient.layer({ filename: ":memory:", transformResultNames: Str.snakeToCamel }))
      )
      yield* Effect.gen(function* () {
        const store = yield* RunStore.RunStore
        const snapshot = snapshotOf({ runId: "run-1" })
        yield* store.save(snapshot)
        assert.deepStrictEqual(Option.getOrThrow(yield* store.load("run-1")), snapshot)
        assert.deepStrictEqual(ids(yield* store.list({ status: ["waiting"] })), ["run-1"])
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("reopening the same file sees the runs saved before", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const waiting = snapshotOf({ runId: "run-1", createdAt: 1 })
      const done = completedSnapshotOf("run-2", 2)
      yield* withSqliteStore(filename, (store) => Effect.zipRight(store.save(waiting), store.save(done)))
      yield* withSqliteStore(filename, (store) =>
        Effect.gen(function* () {
          assert.deepStrictEqual(Option.getOrThrow(yield* store.load("run-1")), waiting)
          assert.deepStrictEqual(Option.getOrThrow(yield* store.load("run-2")), done)
          assert.deepStrictEqual(ids(yield* store.list({ status: RunStore.unfinished })), ["run-1"])
          yield* store.remove("run-2")
        })
      )
      const versions = yield* withRaw(
        filename,
        (sql) => sql<{ version: number }>`SELECT version FROM eventflow_schema_version`
      )
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1, 2, 3, 4, 5, 6]
      )
      yield* withSqliteStore(filename, (store) =>
        Effect.gen(function* () {
          assert.deepStrictEqual(ids(yield* store.list()), ["run-1"])
        })
      )
    })
  )

  it.scoped("200 concurrent saves from 200 fibers are all rows of the file", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const runIds = Array.from({ length: 200 }, (_, i) => `run-${i}`)
      yield* withSqliteStore(filename, (store) =>
        Effect.forEach(
          runIds,
          (runId, i) =>
            Effect.zipRight(
              store.save(snapshotOf({ runId, status: "running", createdAt: i })),
              store.save(snapshotOf({ runId, status: "waiting", createdAt: i }))
            ),
          { concurrency: "unbounded", discard: true }
        )
      )
      const rows = yield* withRaw(
        filename,
        (sql) => sql<{ runs: number; waiting: number; distinct_runs: number }>`SELECT count(*) AS runs,
          sum(status = 'waiting') AS waiting, count(DISTINCT run_id) AS distinct_runs FROM eventflow_runs`
      )
      assert.deepStrictEqual(rows, [{ runs: 200, waiting: 200, distinct_runs: 200 }])
    })
  )

  it.scoped("a file of a newer schema version fails to open with RunStoreError", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* withSqliteStore(filename, (store) => store.save(snapshotOf({ runId: "run-1" })))
      yield* withRaw(filename, (sql) => sql`INSERT INTO eventflow_schema_version (version, applied_at) VALUES (7, 0)`)
      const error = yield* Effect.flip(withSqliteStore(filename, () => Effect.void))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, "schema version is 7")
      // The file is left as it was.
      const rows = yield* withRaw(filename, (sql) => sql<{ run_id: string }>`SELECT run_id FROM eventflow_runs`)
      assert.deepStrictEqual(rows, [{ run_id: "run-1" }])
    })
  )

  it.scoped("a file that is not a SQLite database fails to open with RunStoreError", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      fs.writeFileSync(filename, "this is not a database, just a long enough line of text ".repeat(20))
      const error = yield* Effect.flip(withSqliteStore(filename, () => Effect.void))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, "not a database")
    })
  )

  it.scoped("a file in a missing directory fails to open with RunStoreError naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = path.join(dir, "missing", "runs.db")
      const error = yield* Effect.flip(withSqliteStore(filename, () => Effect.void))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, filename)
    })
  )

  it.scoped("a stored snapshot that is not JSON fails to load with RunStoreError naming the run", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      yield* withSqliteStore(filename, (store) => store.save(snapshotOf({ runId: "run-1" })))
      yield* withRaw(
        filename,
        (sql) => sql`UPDATE eventflow_runs SET snapshot = '{"version": 1, ' WHERE run_id = 'run-1'`
      )
      const error = yield* Effect.flip(withSqliteStore(filename, (store) => store.load("run-1")))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "load")
      assert.strictEqual(error.runId, "run-1")
    })
  )

  it.scoped(
    "a snapshot that cannot be written as JSON fails to save with RunStoreError and keeps the previous one",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const previous = snapshotOf({ runId: "run-1" })
        yield* withSqliteStore(filename, (store) =>
          Effect.gen(function* () {
            yield* store.save(previous)
            const error = yield* Effect.flip(store.save({ ...previous, state: { count: 1n } }))
            assert.instanceOf(error, RunStoreError)
            assert.strictEqual(error.operation, "save")
            assert.strictEqual(error.runId, "run-1")
            assert.deepStrictEqual(Option.getOrThrow(yield* store.load("run-1")), previous)
          })
        )
      })
  )

  it.scoped("a failing statement maps to RunStoreError with the operation and run id", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const layer = SqliteRunStore.layerFromClient().pipe(Layer.provideMerge(rawClient(filename)))
      yield* Effect.gen(function* () {
        const store = yield* RunStore.RunStore
        const sql = yield* SqlClient.SqlClient
        yield* store.save(snapshotOf({ runId: "run-1" }))
        yield* sql`DROP TABLE eventflow_runs`
        const errors = yield* Effect.all([
          Effect.flip(store.save(snapshotOf({ runId: "run-2" }))),
          Effect.flip(store.load("run-1")),
          Effect.flip(store.list()),
          Effect.flip(store.remove("run-1"))
        ])
        assert.deepStrictEqual(
          errors.map((error) => [error._tag, error.operation, error.runId]),
          [
            ["RunStoreError", "save", "run-2"],
            ["RunStoreError", "load", "run-1"],
            ["RunStoreError", "list", undefined],
            ["RunStoreError", "remove", "run-1"]
          ]
        )
        assert.include(errors[2].message, "no such table")
      }).pipe(Effect.provide(layer))
    })
  )
})
