import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Effect, Layer, Logger } from "effect"
import { listen, request } from "./http.js"
import { approval, greet } from "./workflows.js"

/** Collects every log line the server writes. */
const makeLogs = Effect.sync(() => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push(String(message))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
})

const serve = (options: { readonly maxJsonDepth?: number; readonly cors?: boolean } = {}) =>
  Effect.gen(function* () {
    const store = yield* RunStore.makeMemory
    const logs = yield* makeLogs
    const base = yield* listen(
      WorkflowServer.layerWithStore({ workflows: [greet, approval], port: 0, ...options }).pipe(
        Layer.provide(Layer.succeed(RunStore.RunStore, store)),
        Layer.provide(logs.layer)
      )
    )
    return { base, logs }
  })

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

describe("request limits", () => {
  it.live("JSON nested beyond the limit is 400 InvalidJson at once, before decoding, and logs nothing", () =>
    Effect.gen(function* () {
      const { base, logs } = yield* serve()
      const started = Date.now()
      const deep = yield* request(`${base}/workflows/greet/runs`, { method: "POST", raw: nested(100_000) })
      const ms = Date.now() - started
      assert.strictEqual(deep.status, 400)
      assert.strictEqual(deep.body._tag, "InvalidJson")
      assert.include(deep.body.message, "nested deeper than 64")
      assert.isBelow(ms, 1000)
      const event = yield* request(`${base}/runs/nope/events`, {
        method: "POST",
        raw: `{"type":"HumanResponse","data":{"response":${nested(100_000)}}}`
      })
      assert.strictEqual(event.status, 400)
      assert.strictEqual(event.body._tag, "InvalidJson")
      assert.deepStrictEqual(logs.lines, [])
      // Brackets inside strings are not nesting; nesting within the limit is decoded as usual.
      const inString = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "[".repeat(1000) }
      })
      assert.strictEqual(inString.status, 200)
      const shallow = yield* request(`${base}/workflows/greet/runs`, { method: "POST", raw: nested(64) })
      assert.strictEqual(shallow.body._tag, "InvalidInput")
    }).pipe(Effect.scoped)
  )

  it.live("maxJsonDepth sets the limit", () =>
    Effect.gen(function* () {
      const { base } = yield* serve({ maxJsonDepth: 3 })
      const deep = yield* request(`${base}/workflows/greet/runs`, {
        method: "POST",
        body: { name: { a: { b: { c: 1 } } } }
      })
      assert.strictEqual(deep.status, 400)
      assert.include(deep.body.message, "nested deeper than 3")
    }).pipe(Effect.scoped)
  )
})

describe("smaller fixes", () => {
  it.live("GET /runs without limit answers a page of 100", () =>
    Effect.gen(function* () {
      const { base } = yield* serve()
      yield* Effect.forEach(
        Array.from({ length: 105 }, (_, i) => i),
        (i) => request(`${base}/workflows/greet/runs?wait=true`, { method: "POST", body: { name: `n${i}` } }),
        { concurrency: 8 }
      )
      assert.strictEqual((yield* request(`${base}/runs`)).body.length, 100)
      assert.strictEqual((yield* request(`${base}/runs?limit=1000`)).body.length, 105)
      assert.strictEqual((yield* request(`${base}/runs?offset=100`)).body.length, 5)
    }).pipe(Effect.scoped)
  )

  it.live("the OpenAPI document declares the bearer security scheme (not on /health and /ready)", () =>
    Effect.gen(function* () {
      const { base } = yield* serve()
      const spec = (yield* request(`${base}/openapi.json`)).body
      assert.deepStrictEqual(spec.components.securitySchemes.bearer.type, "http")
      assert.deepStrictEqual(spec.components.securitySchemes.bearer.scheme, "bearer")
      assert.deepStrictEqual(spec.security, [{ bearer: [] }])
      assert.deepStrictEqual(spec.paths["/health"].get.security, [])
      assert.deepStrictEqual(spec.paths["/ready"].get.security, [])
      assert.isUndefined(spec.paths["/runs"].get.security)
    }).pipe(Effect.scoped)
  )

  it.live("a wrong method on a known path is 405 with Allow; an unknown path stays 404", () =>
    Effect.gen(function* () {
      const { base } = yield* serve()
      const put = yield* request(`${base}/runs/abc`, { method: "PUT", body: {} })
      assert.strictEqual(put.status, 405)
      assert.strictEqual(put.body._tag, "MethodNotAllowed")
      assert.strictEqual(put.headers.get("allow"), "GET, DELETE")
      const health = yield* request(`${base}/health`, { method: "POST", body: {} })
      assert.strictEqual(health.status, 405)
      assert.strictEqual(health.headers.get("allow"), "GET")
      const runs = yield* request(`${base}/workflows/greet/runs`, { method: "GET" })
      assert.strictEqual(runs.status, 405)
      assert.strictEqual(runs.headers.get("allow"), "POST")
      const unknown = yield* request(`${base}/nothing/here`, { method: "PUT", body: {} })
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.body._tag, "RouteNotFound")
    }).pipe(Effect.scoped)
  )

  it.live("text/json and +json bodies are read as JSON end to end", () =>
    Effect.gen(function* () {
      const { base } = yield* serve()
      for (const type of ["text/json", "application/vnd.eventflow+json", "application/json; charset=utf-8"]) {
        const started = yield* request(`${base}/workflows/greet/runs?wait=true`, {
          method: "POST",
          raw: JSON.stringify({ name: "ada" }),
          headers: { "content-type": type }
        })
        assert.strictEqual(started.status, 200, type)
        assert.strictEqual(started.body.result, "hello ada", type)
      }
      const waiting = yield* request(`${base}/workflows/approval/runs?wait=true`, {
        method: "POST",
        body: { item: "x" }
      })
      const sent = yield* request(`${base}/runs/${waiting.body.runId}/events`, {
        method: "POST",
        raw: JSON.stringify({ type: "HumanResponse", data: { response: "yes" } }),
        headers: { "content-type": "text/json" }
      })
      assert.strictEqual(sent.status, 202)
    }).pipe(Effect.scoped)
  )

  it.live("with cors: true, error responses carry the CORS headers too", () =>
    Effect.gen(function* () {
      const { base } = yield* serve({ cors: true })
      const origin = { origin: "https://app.example" }
      const notFound = yield* request(`${base}/runs/nope`, { headers: origin })
      assert.strictEqual(notFound.status, 404)
      assert.strictEqual(notFound.headers.get("access-control-allow-origin"), "*")
      const invalid = yield* request(`${base}/workflows/greet/runs`, { method: "POST", body: {}, headers: origin })
      assert.strictEqual(invalid.status, 400)
      assert.strictEqual(invalid.headers.get("access-control-allow-origin"), "*")
      const route = yield* request(`${base}/nothing`, { headers: origin })
      assert.strictEqual(route.status, 404)
      assert.strictEqual(route.headers.get("access-control-allow-origin"), "*")
      const ok = yield* request(`${base}/health`, { headers: origin })
      assert.strictEqual(ok.headers.get("access-control-allow-origin"), "*")
    }).pipe(Effect.scoped)
  )
})
