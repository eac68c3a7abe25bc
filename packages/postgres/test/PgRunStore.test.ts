import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  RunStore,
  RunStoreError,
  type Snapshot,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { PgJournalStore, PgRunStore } from "@eventflow/postgres"
import { Effect, Layer, Option, type Scope, Schema } from "effect"
import { clientLayer, freshDatabase, serverUrl } from "./utils.js"

// --- fixtures (as in @eventflow/sqlite's tests) ---

/** A snapshot of a content-approval run waiting for a person, written by hand after the `Snapshot` schema. */
const snapshotOf = (options: {
  readonly runId: string
  readonly workflow?: string
  readonly status?: Snapshot.Status
  readonly createdAt?: number
  readonly updatedAt?: number
}): Snapshot.Snapshot => {
  const createdAt = options.createdAt ?? 1_700_000_000_000
  return {
    version: 1,
    workflow: options.workflow ?? "content-approval",
    runId: options.runId,
    status: options.status ?? "waiting",
    createdAt,
    updatedAt: options.updatedAt ?? createdAt + 4_500,
    state: { topic: "Effect 3.22 release notes", revisions: 1, feedback: ["shorter intro"], approved: null },
    external: 2,
    queued: [
      {
        step: "notify",
        eventId: "0/draft/0",
        event: { _tag: "DraftReady", draft: "Effect 3.22 is out…", revision: 1 }
      }
    ],
    inFlight: [
      {
        step: "review",
        eventId: "0/draft/1",
        event: { _tag: "DraftReady", draft: "Effect 3.22 is out…", revision: 1 },
        attempts: 1,
        emitted: 0,
        writes: 1,
        waits: 1,
        answers: [{ index: 0, event: { _tag: "HumanResponse", response: "shorter intro", requestId: "r-1" } }],
        collects: [{ index: 0, events: [{ _tag: "SearchResult", url: "https://effect.website/docs", score: 0.88 }] }]
      }
    ],
    collected: [
      {
        step: "summarize",
        events: [
          { id: "0/search/0", event: { _tag: "SearchResult", url: "https://effect.website/blog", score: 0.92 } },
          { id: "0/search/1", event: { _tag: "SearchResult", url: "https://github.com/Effect-TS", score: 0.71 } }
        ]
      }
    ],
    waiters: [{ key: "0/draft/1#1", step: "review", eventId: "0/draft/1", tag: "HumanResponse" }],
    pending: [
      {
        eventId: "0/draft/1/review/0",
        requestId: "r-2",
        prompt: { _tag: "InputRequired", prompt: "Approve the revision?", requestId: "r-2" }
      },
      { eventId: "0/draft/0/notify/0", prompt: { _tag: "InputRequired", prompt: "Anything to add?" } }
    ],
    unclaimed: [{ id: "x/1", event: { _tag: "Comment", text: 'ünïcödé ✓ "quoted"\nsecond line\t🙂' } }],
    published: [
      { _tag: "StartEvent", input: { topic: "Effect 3.22 release notes" } },
      { _tag: "InputRequired", prompt: "Approve the draft?", requestId: "r-1" },
      {
        _tag: "StepFailed",
        step: "search",
        event: { _tag: "StartEvent", input: { topic: "Effect 3.22 release notes" } },
        error: { _tag: "RateLimited", message: "429 Too Many Requests" },
        attempts: 3
      },
      { _tag: "InputRequired", prompt: "Approve the revised draft?", requestId: "r-2" }
    ]
  }
}

const completedSnapshotOf = (runId: string, createdAt: number): Snapshot.Snapshot => ({
  ...snapshotOf({ runId, status: "completed", createdAt }),
  queued: [],
  inFlight: [],
  waiters: [],
  pending: [],
  result: { approved: true, text: "Effect 3.22 is out." }
})

const ids = (runs: ReadonlyArray<RunStore.RunSummary>) => runs.map((run) => run.runId)

// --- the contract every RunStore keeps (as in @eventflow/sqlite's tests) ---

type MakeLayer = Effect.Effect<Layer.Layer<RunStore.RunStore, RunStoreError>, never, Scope.Scope>

const runStoreContract = (name: string, makeLayer: MakeLayer) =>
  describe(`${name} (RunStore contract)`, () => {
    const withStore = <A, E>(
      body: (store: RunStore.Service) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | RunStoreError, Scope.Scope> =>
      Effect.flatMap(makeLayer, (layer) => Effect.provide(Effect.flatMap(RunStore.RunStore, body), layer))

    it.scoped("save then load returns the same snapshot", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const snapshot = snapshotOf({ runId: "run-1" })
          yield* store.save(snapshot)
          const loaded = yield* store.load("run-1")
          assert.isTrue(Option.isSome(loaded))
          assert.deepStrictEqual(Option.getOrThrow(loaded), snapshot)
        })
      )
    )

    it.scoped("load of an unknown run is None", () =>
      withStore((store) =>
        Effect.gen(function* () {
          yield* store.save(snapshotOf({ runId: "run-1" }))
          assert.isTrue(Option.isNone(yield* store.load("run-2")))
        })
      )
    )

    it.scoped("save replaces the previous snapshot of the same run", () =>
      withStore((store) =>
        Effect.gen(function* () {
          yield* store.save(snapshotOf({ runId: "run-1", status: "running", updatedAt: 1_700_000_000_100 }))
          const latest = completedSnapshotOf("run-1", 1_700_000_000_000)
          yield* store.save(latest)
          assert.deepStrictEqual(Option.getOrThrow(yield* store.load("run-1")), latest)
          assert.deepStrictEqual(yield* store.list(), [
            {
              runId: "run-1",
              workflow: "content-approval",
              status: "completed",
              createdAt: latest.createdAt,
              updatedAt: latest.updatedAt
            }
          ])
        })
      )
    )

    it.scoped("list filters by workflow and status, newest first", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const t = 1_700_000_000_000
          yield* store.save(snapshotOf({ runId: "a", workflow: "approval", status: "waiting", createdAt: t }))
          yield* store.save(snapshotOf({ runId: "b", workflow: "approval", status: "completed", createdAt: t + 30 }))
          yield* store.save(snapshotOf({ runId: "c", workflow: "search", status: "running", createdAt: t + 20 }))
          yield* store.save(snapshotOf({ runId: "e", workflow: "approval", status: "running", createdAt: t + 10 }))
          // Same creation time as "e": ties are ordered by run id.
          yield* store.save(snapshotOf({ runId: "d", workflow: "search", status: "failed", createdAt: t + 10 }))

          assert.deepStrictEqual(ids(yield* store.list()), ["b", "c", "d", "e", "a"])
          assert.deepStrictEqual(ids(yield* store.list({ workflow: "approval" })), ["b", "e", "a"])
          assert.deepStrictEqual(ids(yield* store.list({ status: RunStore.unfinished })), ["c", "e", "a"])
          assert.deepStrictEqual(ids(yield* store.list({ workflow: "search", status: ["running", "waiting"] })), ["c"])
          assert.deepStrictEqual(ids(yield* store.list({ status: ["failed", "completed"] })), ["b", "d"])
          assert.deepStrictEqual(ids(yield* store.list({ workflow: "nope" })), [])
          assert.deepStrictEqual(ids(yield* store.list({ status: [] })), [])
          assert.deepStrictEqual(yield* store.list({ workflow: "search", status: ["failed"] }), [
            { runId: "d", workflow: "search", status: "failed", createdAt: t + 10, updatedAt: t + 10 + 4_500 }
          ])
        })
      )
    )

    it.scoped("list pages with limit and offset", () =>
      withStore((store) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) {
            yield* store.save(snapshotOf({ runId: `run-${i}`, createdAt: 1_700_000_000_000 + i }))
          }
          yield* store.save(snapshotOf({ runId: "other", workflow: "search", createdAt: 1_800_000_000_000 }))
          const filter = { workflow: "content-approval" }
          assert.deepStrictEqual(ids(yield* store.list({ ...filter, limit: 2 })), ["run-4", "run-3"])
          assert.deepStrictEqual(ids(yield* store.list({ ...filter, limit: 2, offset: 2 })), ["run-2", "run-1"])
          assert.deepStrictEqual(ids(yield* store.list({ ...filter, limit: 2, offset: 4 })), ["run-0"])
          assert.deepStrictEqual(ids(yield* store.list({ ...filter, offset: 3 })), ["run-1", "run-0"])
          assert.deepStrictEqual(ids(yield* store.list({ ...filter, offset: 5 })), [])
          assert.deepStrictEqual(ids(yield* store.list({ limit: 0 })), [])
          assert.deepStrictEqual(ids(yield* store.list({ limit: 1 })), ["other"])
        })
      )
    )

    it.scoped("remove deletes the run and only that run", () =>
      withStore((store) =>
        Effect.gen(function* () {
          yield* store.save(snapshotOf({ runId: "run-1", createdAt: 1 }))
          yield* store.save(snapshotOf({ runId: "run-2", createdAt: 2 }))
          yield* store.remove("run-1")
          assert.isTrue(Option.isNone(yield* store.load("run-1")))
          assert.isTrue(Option.isSome(yield* store.load("run-2")))
          assert.deepStrictEqual(ids(yield* store.list()), ["run-2"])
          // Removing a run that is not there is not an error.
          yield* store.remove("run-1")
          assert.deepStrictEqual(ids(yield* store.list()), ["run-2"])
        })
      )
    )

    it.scoped("concurrent saves of different runs all land", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const runIds = Array.from({ length: 200 }, (_, i) => `run-${String(i).padStart(3, "0")}`)
          yield* Effect.forEach(runIds, (runId, i) => store.save(snapshotOf({ runId, createdAt: i })), {
            concurrency: "unbounded",
            discard: true
          })
          assert.deepStrictEqual(ids(yield* store.list()), [...runIds].reverse())
          for (const runId of runIds) {
            assert.strictEqual(Option.getOrThrow(yield* store.load(runId)).runId, runId)
          }
        })
      )
    )
  })

runStoreContract(
  "PgRunStore.layer",
  Effect.map(freshDatabase, ({ url }) => PgRunStore.layer({ url }))
)

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
