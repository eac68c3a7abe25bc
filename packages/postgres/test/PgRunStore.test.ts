import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  RunStore,
  RunStoreError,
  RunStoreSuite,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { PgJournalStore, PgRunStore } from "@eventflow/postgres"
import { Effect, Layer, Schema } from "effect"
import { clientLayer, freshDatabase, serverUrl } from "./utils.js"

const snapshotOf = RunStoreSuite.snapshot

// --- the contract every RunStore keeps (RunStoreSuite) ---

describe("PgRunStore.layer (RunStoreSuite)", () => {
  for (const test of RunStoreSuite.cases) {
    it.scoped(test.name, () =>
      Effect.flatMap(freshDatabase, ({ url }) => Effect.provide(test.run, PgRunStore.layer({ url })))
    )
  }
})

// --- what only the PostgreSQL store does ---

const withStore = <A, E>(url: string, body: (store: RunStore.Service) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(RunStore.RunStore, body), PgRunStore.layer({ url }))

const withRaw = <A, E>(url: string, body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(SqlClient.SqlClient, body), clientLayer(url))

const Draft = Event.define("Draft", { text: Schema.String })

/** A draft, then a review that waits for a person. */
const approval = defineWorkflow({
  name: "pg-approval",
  input: Schema.Struct({ topic: Schema.String }),
  output: Schema.Struct({ text: Schema.String, answer: Schema.String })
})
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: `About ${start.input.topic}` })), {
    name: "draft",
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.map(
        ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "Approve?", requestId: "review-1" }) }),
        (answer) => StopEvent.make({ result: { text: draft.text, answer: answer.response } })
      ),
    { name: "review", emits: [StopEvent] }
  )

describe("PgRunStore", () => {
  it.scoped("a durable run started on one pool waits; another pool (another process's) resumes and completes it", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const runId = yield* Effect.gen(function* () {
        const handle = yield* Workflow.start(approval, { topic: "postgres" }, { durable: true })
        // The run is saved waiting for its answer.
        while ((yield* handle.pending).length === 0) yield* Effect.yieldNow()
        return handle.runId
      }).pipe(Effect.scoped, Effect.provide(PgRunStore.layer({ url })))
      const [waiting] = yield* withRaw(
        url,
        (sql) => sql<{ status: string }>`SELECT status FROM eventflow_runs WHERE run_id = ${runId}`
      )
      assert.strictEqual(waiting.status, "waiting")
      const result = yield* Effect.gen(function* () {
        const handle = yield* Workflow.resume(approval, runId)
        assert.deepStrictEqual(
          (yield* handle.pending).map((p) => p.requestId),
          ["review-1"]
        )
        yield* handle.send(HumanResponse.make({ response: "approved", requestId: "review-1" }))
        return yield* handle.result
      }).pipe(Effect.scoped, Effect.provide(PgRunStore.layer({ url })))
      assert.deepStrictEqual(result, { text: "About postgres", answer: "approved" })
      const [done] = yield* withRaw(
        url,
        (sql) => sql<{ status: string }>`SELECT status FROM eventflow_runs WHERE run_id = ${runId}`
      )
      assert.strictEqual(done.status, "completed")
    })
  )

  it.scoped("creates the schema on first use, version 1, in the connection's schema; both stores share it", () =>
    Effect.gen(function* () {
      const { url, name } = yield* freshDatabase
      yield* withStore(url, () => Effect.void)
      yield* Effect.provide(Effect.void, PgJournalStore.layer({ url }))
      const [tables, versions] = yield* withRaw(url, (sql) =>
        Effect.all([
          sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables
            WHERE table_schema = ${name} ORDER BY table_name`,
          sql<{ version: number }>`SELECT version FROM eventflow_schema_version`
        ])
      )
      assert.strictEqual(PgJournalStore.schemaVersion, 1)
      assert.deepStrictEqual(
        tables.map((t) => t.table_name),
        [
          "eventflow_journal_compactions",
          "eventflow_journal_entries",
          "eventflow_journal_fences",
          "eventflow_journal_runs",
          "eventflow_runs",
          "eventflow_schema_version"
        ]
      )
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1]
      )
    })
  )

  it.scoped("eight pools opening a new database at once migrate it once", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      yield* Effect.all(
        Array.from({ length: 8 }, (_, i) =>
          i % 2 === 0 ? withStore(url, () => Effect.void) : Effect.provide(Effect.void, PgJournalStore.layer({ url }))
        ),
        { concurrency: "unbounded" }
      )
      const versions = yield* withRaw(
        url,
        (sql) => sql<{ version: number }>`SELECT version FROM eventflow_schema_version`
      )
      assert.deepStrictEqual(
        versions.map((row) => row.version),
        [1]
      )
    })
  )

  it.scoped("a database of a newer schema version fails to open with RunStoreError and is left as it was", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      yield* withStore(url, (store) => store.save(snapshotOf({ runId: "run-1" })))
      yield* withRaw(url, (sql) => sql`INSERT INTO eventflow_schema_version (version, applied_at) VALUES (2, 0)`)
      const error = yield* Effect.flip(withStore(url, () => Effect.void))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, "schema version is 2")
      const journalError = yield* Effect.flip(Effect.provide(Effect.void, PgJournalStore.layer({ url })))
      assert.strictEqual(journalError.operation, "open")
      assert.include(journalError.message, "upgrade @eventflow/postgres")
      const rows = yield* withRaw(url, (sql) => sql<{ run_id: string }>`SELECT run_id FROM eventflow_runs`)
      assert.deepStrictEqual(rows, [{ run_id: "run-1" }])
    })
  )

  it.scoped("a server that cannot be reached fails to open with RunStoreError naming it, without the password", () =>
    Effect.gen(function* () {
      // A port nothing listens on: the test server's, plus one, is free unless something took it.
      const port = Number(new URL(serverUrl).port) + 1
      const url = `postgres://eventflow:s3cret@127.0.0.1:${port}/eventflow`
      const error = yield* Effect.flip(withStore(url, () => Effect.void))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.notInclude(error.message, "s3cret")
    })
  )

  it.scoped("a stored snapshot that is not JSON fails to load with RunStoreError naming the run", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      yield* withStore(url, (store) => store.save(snapshotOf({ runId: "run-1" })))
      yield* withRaw(url, (sql) => sql`UPDATE eventflow_runs SET snapshot = '{"version": 1, ' WHERE run_id = 'run-1'`)
      const error = yield* Effect.flip(withStore(url, (store) => store.load("run-1")))
      assert.instanceOf(error, RunStoreError)
      assert.strictEqual(error.operation, "load")
      assert.strictEqual(error.runId, "run-1")
    })
  )

  it.scoped("a failing statement maps to RunStoreError with the operation, the run id and PostgreSQL's reason", () =>
    Effect.gen(function* () {
      const { url } = yield* freshDatabase
      const layer = PgRunStore.layerFromClient().pipe(Layer.provideMerge(clientLayer(url)))
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
        assert.include(errors[2].message, 'relation "eventflow_runs" does not exist')
      }).pipe(Effect.provide(layer))
    })
  )
})
