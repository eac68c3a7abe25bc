import { assert, describe, it } from "@effect/vitest"
import { Journal, JournalStore, RunStore } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Effect, Layer } from "effect"
import { awaitStatus, listen, request } from "./http.js"
import { greet, notes, review } from "./workflows.js"

const token = "t0ken"
const auth = { authorization: `Bearer ${token}` }

/**
 * The server with runs in a `RunStore` of snapshots only (or `runStore`), and `journal` as its `JournalStore` when
 * given (provided innermost: it is the one the server reads).
 */
const serve = (options: {
  readonly studio?: boolean
  readonly journal?: JournalStore.Service
  readonly token?: string
  readonly runStore?: RunStore.Service
}) =>
  listen(
    WorkflowServer.layerWithStore({
      workflows: [greet, review, notes],
      port: 0,
      token: options.token ?? token,
      ...(options.studio === undefined ? {} : { studio: options.studio })
    }).pipe(
      Layer.provide(
        options.journal === undefined ? Layer.empty : Layer.succeed(JournalStore.JournalStore, options.journal)
      ),
      Layer.provide(
        options.runStore === undefined
          ? Layer.effect(RunStore.RunStore, RunStore.makeMemory)
          : Layer.succeed(RunStore.RunStore, options.runStore)
      )
    )
  )

/** The journal of a run of `greet` started as `runId`, up to its one invocation (not ended). */
const greetJournal = (runId: string): ReadonlyArray<Journal.Entry> => [
  {
    _tag: "RunStarted",
    id: Journal.ids.runStarted,
    at: 1,
    version: Journal.version,
    runId,
    workflow: "greet",
    signature: Journal.signature(greet),
    input: { name: "ada" },
    state: null,
    options: { trace: false }
  },
  {
    _tag: "AttemptFailed",
    id: Journal.ids.attemptFailed("StartEvent", "0", 1),
    at: 2,
    step: "StartEvent",
    eventId: "0",
    attempt: 1,
    error: { message: "flaky" }
  }
]

describe("the studio's page", () => {
  it.scoped(
    "is served at /studio without the token (it holds no data), with a policy that loads nothing elsewhere",
    () =>
      Effect.gen(function* () {
        const base = yield* serve({})
        const page = yield* request(`${base}/studio`)
        assert.strictEqual(page.status, 200)
        assert.include(page.headers.get("content-type"), "text/html")
        assert.include(page.body, `<script type="module" src="/studio/app.js">`)
        assert.include(page.headers.get("content-security-policy"), "default-src 'none'")
        assert.include(page.headers.get("content-security-policy"), "connect-src 'self'")
        const script = yield* request(`${base}/studio/app.js`)
        assert.strictEqual(script.status, 200)
        assert.include(script.headers.get("content-type"), "text/javascript")
        // Bundled: no import of anything outside the file.
        assert.notMatch(script.body, /\bimport\s*["'(]|from\s*["']https?:/)
        assert.strictEqual((yield* request(`${base}/studio/app.css`)).status, 200)
        const missing = yield* request(`${base}/studio/nothing.js`)
        assert.strictEqual(missing.status, 404)
        // The data it shows needs the token.
        assert.strictEqual((yield* request(`${base}/workflows`)).status, 401)
        assert.strictEqual((yield* request(`${base}/workflows`, { headers: auth })).status, 200)
      })
  )

  it.scoped("is off with studio: false", () =>
    Effect.gen(function* () {
      const base = yield* serve({ studio: false, token: "" })
      const page = yield* request(`${base}/studio`)
      assert.strictEqual(page.status, 404)
      assert.strictEqual(page.body._tag, "RouteNotFound")
      assert.strictEqual((yield* request(`${base}/studio/app.js`)).status, 404)
    })
  )
})

describe("the studio's routes", () => {
  it.scoped("need the token", () =>
    Effect.gen(function* () {
      const base = yield* serve({ journal: yield* JournalStore.makeMemory })
      for (const [method, path] of [
        ["GET", "/workflows/greet/graph"],
        ["GET", "/runs/r/journal"],
        ["POST", "/runs/r/fork"]
      ] as const) {
        const reply = yield* request(`${base}${path}`, {
          method,
          ...(method === "POST" ? { body: { offset: 0 } } : {})
        })
        assert.strictEqual(reply.status, 401, `${method} ${path}`)
      }
    })
  )

  it.scoped(
    "GET /workflows/{name}/graph: the graph, the signature, every event's JSON Schema and what may come from outside",
    () =>
      Effect.gen(function* () {
        const base = yield* serve({})
        const reply = yield* request(`${base}/workflows/notes/graph`, { headers: auth })
        assert.strictEqual(reply.status, 200)
        const graph = reply.body
        assert.strictEqual(graph.signature, Journal.signature(notes))
        assert.deepStrictEqual(graph.external, ["HumanResponse", "Note"])
        assert.deepStrictEqual(graph.events.HumanResponse.required, ["_tag", "response"])
        assert.deepStrictEqual(graph.events.Note.properties.text, { type: "string" })
        assert.isTrue(graph.graph.nodes.some((node: any) => node.id === "step:StartEvent"))
        const unknown = yield* request(`${base}/workflows/nope/graph`, { headers: auth })
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(unknown.body._tag, "WorkflowNotFound")
      })
  )

  it.scoped("GET /runs/{id}/journal: 501 JournalUnavailable without a journal store, 404 for an unknown run", () =>
    Effect.gen(function* () {
      const base = yield* serve({})
      const started = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "ada" },
        headers: auth
      })
      const reply = yield* request(`${base}/runs/${started.body.runId}/journal`, { headers: auth })
      assert.strictEqual(reply.status, 501)
      assert.strictEqual(reply.body._tag, "JournalUnavailable")
      assert.include(reply.body.message, "no JournalStore")
      const unknown = yield* request(`${base}/runs/nope/journal`, { headers: auth })
      assert.strictEqual(unknown.status, 404)
      const fork = yield* request(`${base}/runs/${started.body.runId}/fork`, {
        method: "POST",
        body: { offset: 0 },
        headers: auth
      })
      assert.strictEqual(fork.status, 501)
      assert.strictEqual(fork.body._tag, "JournalUnavailable")
    })
  )

  it.scoped("GET /runs/{id}/journal pages the entries from an offset", () =>
    Effect.gen(function* () {
      const journal = yield* JournalStore.makeMemory
      const base = yield* serve({ journal })
      // (Entries as the engine writes them.)
      yield* journal.append("seeded", greetJournal("seeded"))
      const all = yield* request(`${base}/runs/seeded/journal`, { headers: auth })
      assert.strictEqual(all.status, 200)
      assert.deepStrictEqual(
        all.body.entries.map((s: any) => [s.offset, s.entry._tag]),
        [
          [0, "RunStarted"],
          [1, "AttemptFailed"]
        ]
      )
      assert.strictEqual(all.body.entries[0].entry.signature, Journal.signature(greet))
      const tail = yield* request(`${base}/runs/seeded/journal?from=1`, { headers: auth })
      assert.deepStrictEqual(
        tail.body.entries.map((s: any) => s.offset),
        [1]
      )
      const past = yield* request(`${base}/runs/seeded/journal?from=7`, { headers: auth })
      assert.deepStrictEqual(past.body.entries, [])
      const bad = yield* request(`${base}/runs/seeded/journal?from=-1`, { headers: auth })
      assert.strictEqual(bad.status, 400)
    })
  )

  it.scoped("GET /runs passes on the signature the store lists a run with", () =>
    Effect.gen(function* () {
      const snapshots = yield* RunStore.makeMemory
      const signature = Journal.signature(review)
      const runStore: RunStore.Service = {
        ...snapshots,
        list: (filter) =>
          Effect.map(snapshots.list(filter), (runs) =>
            runs.map((run) => Object.assign({}, run, run.workflow === "review" ? { signature } : {}))
          )
      }
      const base = yield* serve({ runStore })
      const started = yield* request(`${base}/workflows/review/runs`, {
        method: "POST",
        body: { text: "t" },
        headers: auth
      })
      yield* awaitStatus(base, started.body.runId, "waiting", auth)
      yield* request(`${base}/workflows/greet/runs?wait=true`, { method: "POST", body: { name: "a" }, headers: auth })
      const runs = yield* request(`${base}/runs`, { headers: auth })
      assert.strictEqual(runs.body.length, 2)
      for (const run of runs.body) {
        assert.strictEqual(run.signature, run.workflow === "review" ? signature : undefined)
      }
    })
  )

  it.scoped("POST /runs/{id}/fork: 400 InvalidFork saying why, and nothing written", () =>
    Effect.gen(function* () {
      const journal = yield* JournalStore.makeMemory
      const base = yield* serve({ journal })
      yield* journal.append("source", greetJournal("source"))
      const outside = yield* request(`${base}/runs/source/fork`, {
        method: "POST",
        body: { offset: 5 },
        headers: auth
      })
      assert.strictEqual(outside.status, 400)
      assert.strictEqual(outside.body._tag, "InvalidFork")
      assert.include(outside.body.message, "offset 5 is not an entry of its journal (0 to 1)")
      const badInput = yield* request(`${base}/runs/source/fork`, {
        method: "POST",
        body: { offset: 0, event: { name: 7 } },
        headers: auth
      })
      assert.strictEqual(badInput.status, 400)
      assert.include(badInput.body.message, "the input no longer decodes")
      const negative = yield* request(`${base}/runs/source/fork`, {
        method: "POST",
        body: { offset: -1 },
        headers: auth
      })
      assert.strictEqual(negative.status, 400)
      assert.deepStrictEqual(
        (yield* journal.list()).map((run) => run.runId),
        ["source"]
      )
      const unknown = yield* request(`${base}/runs/nope/fork`, { method: "POST", body: { offset: 0 }, headers: auth })
      assert.strictEqual(unknown.status, 404)
    })
  )
})
