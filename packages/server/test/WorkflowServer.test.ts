import type { HttpServer as HttpServerService } from "@effect/platform"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, Event, Journal, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Cause, Context, Data, Effect, Exit, Layer, Schema, Scope, TestClock } from "effect"
import { awaitStatus, listen, request, serveWithStore } from "./http.js"
import { approval, greet } from "./workflows.js"

class Boom extends Data.TaggedError("Boom")<{ readonly reason: string }> {
  override get message() {
    return `boom: ${this.reason}`
  }
}

const Approve = Event.define("Approve", { by: Schema.String })

const gated = defineWorkflow({ name: "gated", output: Schema.String, external: [Approve] }).step(
  StartEvent,
  (_, ctx) =>
    Effect.gen(function* () {
      const approve = yield* ctx.waitFor(Approve)
      return StopEvent.make({ result: `approved by ${approve.by}` })
    }),
  { emits: [StopEvent] }
)

const failing = defineWorkflow({ name: "failing", output: Schema.String }).step(
  StartEvent,
  () => Effect.fail(new Boom({ reason: "no luck" })),
  { emits: [StopEvent] }
)

const workflows = [greet, approval, gated, failing] as const

/** Reads a whole Server-Sent Events response (it ends after the run's terminal event). */
const readEvents = (url: string, lastEventId?: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, lastEventId === undefined ? {} : { headers: { "last-event-id": lastEventId } })
    const text = await response.text()
    return { status: response.status, contentType: response.headers.get("content-type"), events: parseEvents(text) }
  })

const parseEvents = (text: string) =>
  text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const fields = new Map(
        block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)])
      )
      return { id: fields.get("id"), event: fields.get("event"), data: JSON.parse(fields.get("data") ?? "null") }
    })

const serve = (store: RunStore.Service) => serveWithStore(workflows, store)

const setup = Effect.flatMap(RunStore.makeMemory, serve)

describe("WorkflowServer", () => {
  it.scoped("GET /health answers ok", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/health`)
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(response.body, { status: "ok", store: { status: "ok" } })
    })
  )

  it.scoped("GET /openapi.json serves the OpenAPI document of the API with the run paths", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/openapi.json`)
      assert.strictEqual(response.status, 200)
      assert.match(response.body.openapi, /^3\./)
      assert.strictEqual(response.body.info.title, "Eventflow workflow server")
      assert.strictEqual(response.body.info.version, "0.1.0")
      const paths = Object.keys(response.body.paths)
      for (const path of [
        "/health",
        "/workflows",
        "/workflows/{name}/runs",
        "/runs",
        "/runs/{id}",
        "/runs/{id}/events"
      ]) {
        assert.include(paths, path)
      }
      assert.containsAllKeys(response.body.paths["/runs/{id}"], ["get", "delete"])
      assert.containsAllKeys(response.body.paths["/runs/{id}/events"], ["get", "post"])
    })
  )

  it.scoped("GET /workflows lists every workflow with JSON Schemas and Mermaid", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/workflows`)
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(
        response.body.map((w: any) => w.name),
        ["greet", "approval", "gated", "failing"]
      )
      const info = response.body[0]
      assert.strictEqual(info.description, "Greets someone")
      assert.deepStrictEqual(info.input.properties, { name: { type: "string" } })
      assert.deepStrictEqual(info.input.required, ["name"])
      assert.strictEqual(info.output.type, "string")
      assert.include(info.mermaid, "flowchart")
      assert.strictEqual(response.body[2].description, null)
    })
  )

  it.scoped("?wait=true on a run that asks a person answers once it waits, with the prompt in pending", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const waiting = yield* request(`${base}/workflows/approval/runs?wait=true`, {
        method: "POST",
        body: { item: "budget" }
      })
      assert.strictEqual(waiting.status, 200)
      assert.strictEqual(waiting.body.status, "waiting")
      assert.strictEqual(waiting.body.pending.length, 1)
      assert.strictEqual(waiting.body.pending[0].prompt.prompt, "approve budget?")
      const gated = yield* request(`${base}/workflows/gated/runs?wait=true`, { method: "POST", body: {} })
      assert.strictEqual(gated.body.status, "waiting")
      yield* request(`${base}/runs/${waiting.body.runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      const done = yield* awaitStatus(base, waiting.body.runId, "completed")
      assert.strictEqual(done.body.result, "budget: yes")
    })
  )

  it.scoped("an unknown route is 404 RouteNotFound with a JSON body naming it; a wrong method is 405", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const unknown = yield* request(`${base}/nope?x=1`)
      assert.deepStrictEqual(
        { status: unknown.status, body: unknown.body },
        {
          status: 404,
          body: { _tag: "RouteNotFound", message: "no route for GET /nope" }
        }
      )
      // A known path with another method: 405 with the methods it has.
      const method = yield* request(`${base}/health`, { method: "PUT" })
      assert.deepStrictEqual(
        { status: method.status, body: method.body, allow: method.headers.get("allow") },
        {
          status: 405,
          body: { _tag: "MethodNotAllowed", message: "PUT is not allowed on /health; use GET" },
          allow: "GET"
        }
      )
    })
  )

  it.scoped("a defect answers 500 InternalServerError in JSON; the defect's message and stack stay on the server", () =>
    Effect.gen(function* () {
      const memory = yield* RunStore.makeMemory
      let booted = false
      const base = yield* serve({
        ...memory,
        // The boot lists the unfinished runs: the store breaks only after it.
        list: (filter) => (booted ? Effect.die(new Error("secret detail at /srv/internal.ts:12")) : memory.list(filter))
      })
      booted = true
      const response = yield* request(`${base}/runs`)
      assert.deepStrictEqual(
        { status: response.status, body: response.body },
        {
          status: 500,
          body: { _tag: "InternalServerError", message: "the server failed to answer GET /runs" }
        }
      )
      const health = yield* request(`${base}/health`)
      assert.strictEqual(health.status, 200)
    })
  )

  it.scoped("a body of another content type (a form) is 415 UnsupportedMediaType naming it; no run starts", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/workflows/greet/runs`, {
        method: "POST",
        raw: "name=Ada",
        headers: { "content-type": "application/x-www-form-urlencoded" }
      })
      assert.deepStrictEqual(
        { status: response.status, body: response.body },
        {
          status: 415,
          body: {
            _tag: "UnsupportedMediaType",
            message:
              "the request body must be JSON (content-type: application/json), got application/x-www-form-urlencoded"
          }
        }
      )
      const runs = yield* request(`${base}/runs`)
      assert.deepStrictEqual(runs.body, [])
    })
  )

  it.scoped("POST /runs/{id}/events with a body that is not JSON is 400 InvalidJson; nothing is sent", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const started = yield* request(`${base}/workflows/gated/runs`, { method: "POST", body: {} })
      const runId = started.body.runId
      yield* awaitStatus(base, runId, "waiting")
      const bad = yield* request(`${base}/runs/${runId}/events`, { method: "POST", raw: '{"type":"Approve",' })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(bad.body._tag, "InvalidJson")
      const still = yield* request(`${base}/runs/${runId}`)
      assert.strictEqual(still.body.status, "waiting")
    })
  )

  it.scoped("GET /workflows/{name} describes one workflow; 404 for an unknown name", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const found = yield* request(`${base}/workflows/approval`)
      assert.strictEqual(found.status, 200)
      assert.strictEqual(found.body.name, "approval")
      assert.deepStrictEqual(found.body.input.required, ["item"])
      const missing = yield* request(`${base}/workflows/nope`)
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.body._tag, "WorkflowNotFound")
      assert.include(missing.body.message, "nope")
      assert.isUndefined(missing.body.stack)
    })
  )

  it.scoped("POST /workflows/{name}/runs?wait=true returns the result; the run is checkpointed in the store", () =>
    Effect.gen(function* () {
      const store = yield* RunStore.makeMemory
      const base = yield* serve(store)
      const response = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "Ada" }
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.body.status, "completed")
      assert.strictEqual(response.body.result, "hello Ada")
      assert.strictEqual(response.body.workflow, "greet")
      const saved = yield* store.load(response.body.runId)
      assert.strictEqual(saved._tag, "Some")
      const listed = yield* request(`${base}/runs?workflow=greet`)
      assert.strictEqual(listed.status, 200)
      assert.deepStrictEqual(
        listed.body.map((run: any) => [run.runId, run.status]),
        [[response.body.runId, "completed"]]
      )
    })
  )

  it.scoped("POST /workflows/{name}/runs without wait returns the run id and status at once", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "x" } })
      assert.strictEqual(response.status, 200)
      assert.isString(response.body.runId)
      assert.oneOf(response.body.status, ["running", "waiting"])
      const waiting = yield* awaitStatus(base, response.body.runId, "waiting")
      assert.strictEqual(waiting.body.runId, response.body.runId)
    })
  )

  it.scoped("POST /workflows/{name}/runs: 400 with the decode error for a bad input, 404 for an unknown workflow", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const bad = yield* request(`${base}/workflows/greet/runs`, { method: "POST", body: { name: 42 } })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(bad.body._tag, "InvalidInput")
      assert.include(bad.body.message, "name")
      assert.include(bad.body.message, "Expected string")
      const malformed = yield* request(`${base}/workflows/greet/runs`, { method: "POST", raw: "{not json" })
      assert.strictEqual(malformed.status, 400)
      assert.strictEqual(malformed.body._tag, "InvalidJson")
      assert.include(malformed.body.message, "not valid JSON")
      assert.include(malformed.body.message, "position 1")
      const unknown = yield* request(`${base}/workflows/nope/runs`, { method: "POST", body: {} })
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.body._tag, "WorkflowNotFound")
      const runs = yield* request(`${base}/runs`)
      assert.deepStrictEqual(runs.body, [])
    })
  )

  it.scoped("human in the loop over HTTP: waiting with a prompt, answered by POST, then completed", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const started = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "invoice" } })
      const runId: string = started.body.runId
      const waiting = yield* awaitStatus(base, runId, "waiting")
      assert.strictEqual(waiting.body.pending.length, 1)
      assert.strictEqual(waiting.body.pending[0].prompt._tag, "InputRequired")
      assert.strictEqual(waiting.body.pending[0].prompt.prompt, "approve invoice?")
      assert.isUndefined(waiting.body.result)

      const sent = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      assert.strictEqual(sent.status, 202)

      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "invoice: yes")
      assert.deepStrictEqual(done.body.pending, [])
    })
  )

  it.scoped("POST /runs/{id}/events decodes a custom external event with its schema", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const started = yield* request(`${base}/workflows/gated/runs`, { method: "POST" })
      const runId: string = started.body.runId
      yield* awaitStatus(base, runId, "waiting")
      const bad = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "Approve", data: { by: 7 } }
      })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(bad.body._tag, "InvalidEvent")
      const unknownType = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "Nope", data: {} }
      })
      assert.strictEqual(unknownType.status, 400)
      assert.strictEqual(unknownType.body._tag, "InvalidEvent")
      assert.include(unknownType.body.message, "Nope")
      const unknownStep = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "Approve", data: { by: "Grace" }, step: "no-such-step" }
      })
      assert.strictEqual(unknownStep.status, 400)
      assert.strictEqual(unknownStep.body._tag, "InvalidEvent")
      const still = yield* request(`${base}/runs/${runId}`)
      assert.strictEqual(still.body.status, "waiting")

      const good = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "Approve", data: { by: "Grace" } }
      })
      assert.strictEqual(good.status, 202)
      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "approved by Grace")

      const late = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "Approve", data: { by: "Late" } }
      })
      assert.strictEqual(late.status, 409)
      assert.strictEqual(late.body._tag, "RunNotActive")
      assert.strictEqual(late.body.status, "completed")
    })
  )

  it.scoped("unknown run ids get 404 on GET, POST events and DELETE", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const get = yield* request(`${base}/runs/missing`)
      const send = yield* request(`${base}/runs/missing/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "x" } }
      })
      const cancel = yield* request(`${base}/runs/missing`, { method: "DELETE" })
      for (const response of [get, send, cancel]) {
        assert.strictEqual(response.status, 404)
        assert.strictEqual(response.body._tag, "RunNotFound")
      }
    })
  )

  it.scoped("GET /runs/{id} of a failed run gives the step's error as _tag and message", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/workflows/failing/runs?wait=true`, { method: "POST" })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.body.status, "failed")
      assert.deepStrictEqual(response.body.error, { _tag: "Boom", message: "boom: no luck" })
      const again = yield* request(`${base}/runs/${response.body.runId}`)
      assert.deepStrictEqual(again.body.error, { _tag: "Boom", message: "boom: no luck" })
    })
  )

  it.scoped("DELETE /runs/{id} cancels a waiting run; it then refuses events with 409", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const started = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "x" } })
      const runId: string = started.body.runId
      yield* awaitStatus(base, runId, "waiting")
      const cancelled = yield* request(`${base}/runs/${runId}`, { method: "DELETE" })
      assert.strictEqual(cancelled.status, 200)
      assert.strictEqual(cancelled.body.status, "cancelled")
      assert.strictEqual(cancelled.body.error._tag, "WorkflowCancelledError")
      const late = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      assert.strictEqual(late.status, 409)
      assert.strictEqual(late.body._tag, "RunNotActive")
    })
  )

  it.scoped("GET /runs filters by workflow and status", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const done = yield* request(`${base}/workflows/greet/runs?wait=true`, { method: "POST", body: { name: "a" } })
      const open = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "b" } })
      yield* awaitStatus(base, open.body.runId, "waiting")
      const waiting = yield* request(`${base}/runs?status=waiting`)
      assert.deepStrictEqual(
        waiting.body.map((run: any) => run.runId),
        [open.body.runId]
      )
      const greets = yield* request(`${base}/runs?workflow=greet`)
      assert.deepStrictEqual(
        greets.body.map((run: any) => run.runId),
        [done.body.runId]
      )
      const badFilter = yield* request(`${base}/runs?status=sleeping`)
      assert.strictEqual(badFilter.status, 400)
    })
  )

  it.scoped("GET /runs shows the definition signature a journaled run was started with", () =>
    Effect.gen(function* () {
      const base = yield* listen(
        WorkflowServer.layerWithStore({ workflows, port: 0 }).pipe(Layer.provide(RunStore.layerMemory))
      )
      const open = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "sig" } })
      yield* awaitStatus(base, open.body.runId, "waiting")
      const runs = yield* request(`${base}/runs?workflow=approval`)
      assert.strictEqual(runs.status, 200)
      assert.deepStrictEqual(
        runs.body.map((run: any) => [run.runId, run.signature]),
        [[open.body.runId, Journal.signature(approval)]]
      )
      assert.match(runs.body[0].signature, /^[0-9a-f]{56}$/)
    })
  )

  it.scoped(
    "GET /runs/{id} shows the definition signature a journaled run was started with, waiting and completed",
    () =>
      Effect.gen(function* () {
        const base = yield* listen(
          WorkflowServer.layerWithStore({ workflows, port: 0 }).pipe(Layer.provide(RunStore.layerMemory))
        )
        const open = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "sig" } })
        const waiting = yield* awaitStatus(base, open.body.runId, "waiting")
        assert.strictEqual(waiting.body.signature, Journal.signature(approval))
        yield* request(`${base}/runs/${open.body.runId}/events`, {
          method: "POST",
          body: { type: "HumanResponse", data: { response: "yes" } }
        })
        const done = yield* awaitStatus(base, open.body.runId, "completed")
        assert.strictEqual(done.body.signature, Journal.signature(approval))
      })
  )

  it.scoped("on boot the server resumes the unfinished runs found in the store", () =>
    Effect.gen(function* () {
      const store = yield* RunStore.makeMemory
      const first = yield* Scope.make()
      const base1 = yield* serve(store).pipe(Scope.extend(first))
      yield* TestClock.setTime(1_700_000_000_000)
      const started = yield* request(`${base1}/workflows/approval/runs`, { method: "POST", body: { item: "boot" } })
      const runId: string = started.body.runId
      const before = yield* awaitStatus(base1, runId, "waiting")
      assert.strictEqual(before.body.createdAt, 1_700_000_000_000)
      yield* TestClock.adjust("1 minute")
      yield* Scope.close(first, Exit.void)

      const base2 = yield* serve(store)
      const resumed = yield* request(`${base2}/runs/${runId}`)
      assert.strictEqual(resumed.status, 200)
      assert.strictEqual(resumed.body.status, "waiting")
      assert.strictEqual(resumed.body.pending[0].prompt.prompt, "approve boot?")
      const sent = yield* request(`${base2}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "after restart" } }
      })
      assert.strictEqual(sent.status, 202)
      const done = yield* awaitStatus(base2, runId, "completed")
      assert.strictEqual(done.body.result, "boot: after restart")
      // The run keeps its start time across the restart.
      assert.strictEqual(done.body.createdAt, 1_700_000_000_000)
    })
  )
})

describe("WorkflowServer.layerWithStore at boot", () => {
  it.scoped("refuses two workflows with the same name", () =>
    Effect.gen(function* () {
      const exit = yield* Layer.build(
        WorkflowServer.layerWithStore({ workflows: [greet, greet], port: 0 }).pipe(Layer.provide(RunStore.layerMemory))
      ).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "duplicate workflow name: greet")
    })
  )
})

describe("GET /runs/{id}/events (Server-Sent Events)", () => {
  it.scoped("follows a run live and ends after the terminal event", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const started = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "sse" } })
      const runId: string = started.body.runId
      yield* awaitStatus(base, runId, "waiting")
      // Read the first event, then answer while the connection is open: the rest must arrive on it live.
      const sse = yield* Effect.promise(async () => {
        const response = await fetch(`${base}/runs/${runId}/events`)
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ""
        while (!text.includes("\n\n")) {
          const chunk = await reader.read()
          if (chunk.done) break
          text += decoder.decode(chunk.value, { stream: true })
        }
        const beforeAnswer = text
        await fetch(`${base}/runs/${runId}/events`, {
          method: "POST",
          body: JSON.stringify({ type: "HumanResponse", data: { response: "ok" } }),
          headers: { "content-type": "application/json" }
        })
        for (;;) {
          const chunk = await reader.read()
          if (chunk.done) break
          text += decoder.decode(chunk.value, { stream: true })
        }
        return { status: response.status, contentType: response.headers.get("content-type"), beforeAnswer, text }
      }).pipe(Effect.map((raw) => ({ ...raw, events: parseEvents(raw.text) })))
      assert.notInclude(sse.beforeAnswer, "StopEvent")
      assert.strictEqual(sse.status, 200)
      assert.include(sse.contentType, "text/event-stream")
      assert.deepStrictEqual(
        sse.events.map((e) => [e.id, e.event]),
        [
          ["0", "InputRequired"],
          ["1", "StopEvent"]
        ]
      )
      assert.strictEqual(sse.events[0].data.prompt, "approve sse?")
      assert.strictEqual(sse.events[1].data.result, "sse: ok")
    })
  )

  it.scoped("Last-Event-ID resumes after that offset, without duplicates", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const started = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "r" } })
      const runId: string = started.body.runId
      yield* awaitStatus(base, runId, "waiting")
      yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "done" } }
      })
      yield* awaitStatus(base, runId, "completed")
      const all = yield* readEvents(`${base}/runs/${runId}/events`)
      assert.deepStrictEqual(
        all.events.map((e) => e.id),
        ["0", "1"]
      )
      const rest = yield* readEvents(`${base}/runs/${runId}/events`, "0")
      assert.deepStrictEqual(
        rest.events.map((e) => [e.id, e.event]),
        [["1", "StopEvent"]]
      )
      const none = yield* readEvents(`${base}/runs/${runId}/events`, "1")
      assert.deepStrictEqual(none.events, [])
    })
  )

  it.scoped("404 for an unknown run", () =>
    Effect.gen(function* () {
      const base = yield* setup
      const response = yield* request(`${base}/runs/missing/events`)
      assert.strictEqual(response.status, 404)
      assert.strictEqual(response.body._tag, "RunNotFound")
    })
  )
})

describe("WorkflowServer.layer (SQLite)", () => {
  it.scoped("serves runs kept in a SQLite store", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(WorkflowServer.layer({ workflows, port: 0, filename: ":memory:" }))
      const address = Context.get(context, HttpServer.HttpServer).address as HttpServerService.TcpAddress
      const base = `http://127.0.0.1:${address.port}`
      const response = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "Lin" }
      })
      assert.strictEqual(response.body.result, "hello Lin")
      const listed = yield* request(`${base}/runs`)
      assert.deepStrictEqual(
        listed.body.map((run: any) => [run.runId, run.status]),
        [[response.body.runId, "completed"]]
      )
    })
  )
})
