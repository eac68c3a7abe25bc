/**
 * Child workflows' runs over real HTTP on 127.0.0.1: every run route with a child's percent-encoded id, the
 * children of a run (`GET /runs/{id}/children`, `GET /runs?parent=`), a child's prompt answered at the child's own
 * id (passed down by its live parent), the graph of a declared child workflow, and the clients encoding ids.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { TypedClient, WorkflowClient } from "@eventflow/server/client"
import { WorkflowServer } from "@eventflow/server"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { ask, auto, family, top } from "./childWorkflows.js"
import { awaitStatus, listen, openSse, request } from "./http.js"

const token = "t0ken"
const auth = { authorization: `Bearer ${token}` }

/** `family` and `top` served (their children `auto`, `ask`, `middle` are not), on a journal, with a token. */
const serve = listen(
  WorkflowServer.layerWithStore({ workflows: [family, top, auto], port: 0, token }).pipe(
    Layer.provide(RunStore.layerMemory)
  )
)

const get = (url: string) => request(url, { headers: auth })
const at = (base: string, runId: string, rest = "") => `${base}/runs/${encodeURIComponent(runId)}${rest}`

/** Starts `family` and answers when it waits for its second child. */
const startFamily = (base: string) =>
  Effect.map(request(`${base}/workflows/family/runs?wait=true`, { method: "POST", headers: auth }), (started) => {
    assert.strictEqual(started.body.status, "waiting", JSON.stringify(started.body))
    const runId: string = started.body.runId
    return { runId, first: `${runId}/delegate@0/c0`, second: `${runId}/delegate@0/c1` }
  })

describe("child runs over HTTP", () => {
  // Live clock: the child's SSE follows its journal by polling (a child is not in the engine), on real time.
  it.scopedLive("every run route takes a child run's percent-encoded id", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const { first, runId, second } = yield* startFamily(base)
      const run = yield* get(at(base, second))
      assert.strictEqual(run.status, 200, JSON.stringify(run.body))
      assert.strictEqual(run.body.runId, second)
      assert.strictEqual(run.body.workflow, "ask")
      assert.strictEqual(run.body.status, "waiting")
      assert.strictEqual(run.body.parentRunId, runId)
      assert.deepStrictEqual(
        run.body.pending.map((p: { requestId: string }) => p.requestId),
        ["approve"]
      )
      const journal = yield* get(at(base, second, "/journal"))
      assert.strictEqual(journal.status, 200)
      assert.strictEqual(journal.body.entries[0].entry._tag, "RunStarted")
      assert.strictEqual(journal.body.entries[0].entry.parent, runId)
      // The child's SSE: the child lives in its parent's step (not in the engine), so it is followed from its
      // journal, to its end.
      const events = yield* openSse(at(base, second, "/events"), auth)
      assert.strictEqual(events.status, 200)
      assert.include(yield* Effect.promise(() => events.readUntil("event: Asked")), "event: Asked")
      // The child's graph, though only its parent is served (it declares the child).
      const graph = yield* get(`${base}/workflows/ask/graph`)
      assert.strictEqual(graph.status, 200, JSON.stringify(graph.body))
      assert.strictEqual(graph.body.name, "ask")
      // Starting a run of it is still only for served workflows.
      const refused = yield* request(`${base}/workflows/ask/runs`, { method: "POST", headers: auth, body: { q: "x" } })
      assert.strictEqual(refused.status, 404)
      // A live child is not cancelled on its own: it ends with its parent.
      const refusedCancel = yield* request(at(base, second), { method: "DELETE", headers: auth })
      assert.strictEqual(refusedCancel.status, 409)
      assert.strictEqual(refusedCancel.body._tag, "CannotCancelChild")
      assert.strictEqual(refusedCancel.body.parentRunId, runId)
      assert.include(refusedCancel.body.message, `DELETE /runs/${encodeURIComponent(runId)}`)
      assert.strictEqual((yield* get(at(base, second))).body.status, "waiting")
      // The child's prompt, answered at the child's own id: its live parent passes it down.
      const answered = yield* request(at(base, second, "/events"), {
        method: "POST",
        headers: auth,
        body: { type: "HumanResponse", data: { response: "yes", requestId: "approve" } }
      })
      assert.strictEqual(answered.status, 202, JSON.stringify(answered.body))
      const done = yield* awaitStatus(base, runId, "completed", auth)
      assert.strictEqual(done.body.result, "42 and ship: yes")
      const followed = yield* Effect.promise(() => events.readAll())
      assert.include(followed, "event: StopEvent")
      const child = yield* get(at(base, second))
      assert.strictEqual(child.body.status, "completed")
      assert.strictEqual(child.body.result, "ship: yes")
      // An ended child takes no more answers.
      const late = yield* request(at(base, second, "/events"), {
        method: "POST",
        headers: auth,
        body: { type: "HumanResponse", data: { response: "again", requestId: "approve" } }
      })
      assert.strictEqual(late.status, 409)
      assert.strictEqual(late.body._tag, "RunNotActive")
      const cancelled = yield* request(at(base, first), { method: "DELETE", headers: auth })
      assert.strictEqual(cancelled.status, 200)
      assert.strictEqual(cancelled.body.status, "completed")
      // A fork of the first child (its workflow, `auto`, is served) from its RunStarted.
      const fork = yield* request(at(base, first, "/fork"), {
        method: "POST",
        headers: auth,
        body: { offset: 0, event: { n: 5 } }
      })
      assert.strictEqual(fork.status, 201, JSON.stringify(fork.body))
      const forked = yield* awaitStatus(base, fork.body.runId, "completed", auth)
      assert.strictEqual(forked.body.result, 10)
    })
  )

  it.scoped("GET /runs/{id}/children lists a run's children where they started, with status, result and prompts", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const { first, runId, second } = yield* startFamily(base)
      const children = yield* get(at(base, runId, "/children"))
      assert.strictEqual(children.status, 200, JSON.stringify(children.body))
      assert.deepStrictEqual(
        children.body.map((c: any) => [c.runId, c.workflow, c.status, c.step, c.eventId, c.index, c.parentRunId]),
        [
          [first, "auto", "completed", "delegate", "0", 0, runId],
          [second, "ask", "waiting", "delegate", "0", 1, runId]
        ]
      )
      assert.strictEqual(children.body[0].result, 42)
      assert.deepStrictEqual(children.body[1].pending[0].prompt, {
        _tag: "InputRequired",
        prompt: "ship?",
        requestId: "approve"
      })
      // The same children from the store's listing.
      const listed = yield* get(`${base}/runs?parent=${encodeURIComponent(runId)}`)
      assert.sameMembers(
        listed.body.map((r: { runId: string }) => r.runId),
        [first, second]
      )
      assert.deepStrictEqual(yield* Effect.map(get(at(base, first, "/children")), (r) => r.body), [])
      const unknown = yield* get(at(base, "nope", "/children"))
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.body._tag, "RunNotFound")
      const anonymous = yield* request(at(base, runId, "/children"))
      assert.strictEqual(anonymous.status, 401)
    })
  )

  it.scoped("a grandchild is listed under its parent, and its prompt is answered at its own id", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const started = yield* request(`${base}/workflows/top/runs?wait=true`, { method: "POST", headers: auth })
      assert.strictEqual(started.body.status, "waiting")
      const runId: string = started.body.runId
      const child = `${runId}/start@0/c0`
      const grandchild = `${child}/relay@0/c0`
      const children = yield* get(at(base, runId, "/children"))
      assert.deepStrictEqual(
        children.body.map((c: any) => [c.runId, c.workflow]),
        [[child, "middle"]]
      )
      const grandchildren = yield* get(at(base, child, "/children"))
      assert.deepStrictEqual(
        grandchildren.body.map((c: any) => [c.runId, c.workflow, c.status, c.step]),
        [[grandchild, "ask", "waiting", "relay"]]
      )
      const answered = yield* request(at(base, grandchild, "/events"), {
        method: "POST",
        headers: auth,
        body: { type: "HumanResponse", data: { response: "go", requestId: "approve" } }
      })
      assert.strictEqual(answered.status, 202, JSON.stringify(answered.body))
      const done = yield* awaitStatus(base, runId, "completed", auth)
      assert.strictEqual(done.body.result, "top: middle: deploy: go")
    })
  )

  it.scoped("the OpenAPI document has the children route and the parent filter of GET /runs", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const spec = (yield* get(`${base}/openapi.json`)).body
      assert.containsAllKeys(spec.paths["/runs/{id}/children"], ["get"])
      assert.include(
        spec.paths["/runs"].get.parameters.map((p: { name: string }) => p.name),
        "parent"
      )
      // Path parameters are plain strings in the document (the percent-encoding is the transport's).
      const id = spec.paths["/runs/{id}"].get.parameters.find((p: { name: string }) => p.name === "id")
      assert.strictEqual(id.schema.type, "string")
    })
  )

  it.scoped("WorkflowClient and TypedClient encode a child run's id in the path", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const { runId, second } = yield* startFamily(base)
      const client = yield* WorkflowClient.make({ baseUrl: base, token })
      const info = yield* client.eventflow.getRun({ path: { id: second } })
      assert.strictEqual(info.runId, second)
      assert.strictEqual(info.status, "waiting")
      const journal = yield* client.eventflow.runJournal({ path: { id: second }, urlParams: {} })
      assert.strictEqual(journal.runId, second)
      const children = yield* client.eventflow.runChildren({ path: { id: runId } })
      assert.deepStrictEqual(
        children.map((c) => c.runId),
        [`${runId}/delegate@0/c0`, second]
      )
      const typed = TypedClient.make(client, [ask])
      const asked = yield* typed.ask.get(second)
      assert.strictEqual(asked.status, "waiting")
      yield* client.eventflow.sendEvent({
        path: { id: second },
        payload: { type: "HumanResponse", data: { response: "typed", requestId: "approve" } }
      })
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(client.events(second)))
      assert.deepStrictEqual(
        events.map((e) => e.type),
        ["Asked", "InputRequired", "StopEvent"]
      )
      const ended = yield* typed.ask.get(second)
      assert.strictEqual(Option.getOrThrow(ended.result), "ship: typed")
    }).pipe(Effect.provide(NodeHttpClient.layer))
  )
})
