import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { ConfigProvider, Effect, Layer, Redacted, Schema } from "effect"
import { Agent, request as httpRequest } from "node:http"
import { listen, type Reply, request } from "./http.js"

const greet = defineWorkflow({
  name: "greet",
  input: Schema.Struct({ name: Schema.String }),
  output: Schema.String
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: `hello ${start.input.name}` })), {
  emits: [StopEvent]
})

type ServeOptions = Omit<WorkflowServer.Options<readonly [typeof greet]>, "workflows" | "port">

/** Starts the real server on a free port of 127.0.0.1, with `env` as the only configuration (no process env). */
const serve = (options: ServeOptions, env: ReadonlyArray<readonly [string, string]> = []) =>
  listen(
    WorkflowServer.layerWithStore({ workflows: [greet], port: 0, ...options }).pipe(Layer.provide(RunStore.layerMemory))
  ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(env))))

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Every route but `/health`, with a body where the route takes one. */
const protectedRoutes = [
  { method: "GET", path: "/openapi.json" },
  { method: "GET", path: "/workflows" },
  { method: "GET", path: "/workflows/greet" },
  { method: "POST", path: "/workflows/greet/runs", body: JSON.stringify({ name: "ada" }) },
  { method: "GET", path: "/runs" },
  { method: "GET", path: "/runs/some-run" },
  { method: "GET", path: "/runs/some-run/events" },
  { method: "POST", path: "/runs/some-run/events", body: JSON.stringify({ type: "HumanResponse" }) },
  { method: "DELETE", path: "/runs/some-run" }
] as const

describe("bearer-token authentication", () => {
  it.scoped("with a token, every route but /health answers 401 Unauthorized without it or with a wrong one", () =>
    Effect.gen(function* () {
      const base = yield* serve({ token: "s3cret" })
      for (const route of protectedRoutes) {
        const init = { method: route.method, ...("body" in route ? { raw: route.body } : {}) }
        const missing = yield* request(`${base}${route.path}`, init)
        assert.strictEqual(missing.status, 401, `${route.method} ${route.path} without a token`)
        assert.strictEqual(missing.body._tag, "Unauthorized")
        assert.isString(missing.body.message)
        const wrong = yield* request(`${base}${route.path}`, { ...init, headers: bearer("s3cres") })
        assert.strictEqual(wrong.status, 401, `${route.method} ${route.path} with a wrong token`)
        assert.strictEqual(wrong.body._tag, "Unauthorized")
        const longer = yield* request(`${base}${route.path}`, { ...init, headers: bearer("s3cret-and-more") })
        assert.strictEqual(longer.status, 401, `${route.method} ${route.path} with a longer token`)
        const basic = yield* request(`${base}${route.path}`, { ...init, headers: { authorization: "Basic s3cret" } })
        assert.strictEqual(basic.status, 401, `${route.method} ${route.path} with another scheme`)
      }
    })
  )

  it.scoped("with the right token the routes answer as usual; /health needs no token", () =>
    Effect.gen(function* () {
      const base = yield* serve({ token: Redacted.make("s3cret") })
      const health = yield* request(`${base}/health`)
      assert.strictEqual(health.status, 200)
      assert.deepStrictEqual(health.body, { status: "ok", store: { status: "ok" } })
      const workflows = yield* request(`${base}/workflows`, { headers: bearer("s3cret") })
      assert.strictEqual(workflows.status, 200)
      assert.deepStrictEqual(
        workflows.body.map((w: any) => w.name),
        ["greet"]
      )
      const started = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "ada" },
        headers: bearer("s3cret")
      })
      assert.strictEqual(started.status, 200)
      assert.strictEqual(started.body.result, "hello ada")
      const run = yield* request(`${base}/runs/${started.body.runId}`, { headers: bearer("s3cret") })
      assert.strictEqual(run.status, 200)
      assert.strictEqual(run.body.status, "completed")
      const unknown = yield* request(`${base}/runs/nope`, { headers: bearer("s3cret") })
      assert.strictEqual(unknown.status, 404)
    })
  )

  it.scoped("the token defaults to the EVENTFLOW_TOKEN configuration", () =>
    Effect.gen(function* () {
      const base = yield* serve({}, [["EVENTFLOW_TOKEN", "from-env"]])
      const missing = yield* request(`${base}/workflows`)
      assert.strictEqual(missing.status, 401)
      const wrong = yield* request(`${base}/workflows`, { headers: bearer("s3cret") })
      assert.strictEqual(wrong.status, 401)
      const right = yield* request(`${base}/workflows`, { headers: bearer("from-env") })
      assert.strictEqual(right.status, 200)
    })
  )

  it.scoped("without a token (option or EVENTFLOW_TOKEN) no route requires one", () =>
    Effect.gen(function* () {
      const base = yield* serve({})
      const workflows = yield* request(`${base}/workflows`)
      assert.strictEqual(workflows.status, 200)
      const started = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "bob" }
      })
      assert.strictEqual(started.status, 200)
      assert.strictEqual(started.body.result, "hello bob")
      const runs = yield* request(`${base}/runs`)
      assert.strictEqual(runs.status, 200)
      assert.strictEqual(runs.body.length, 1)
    })
  )
})

describe("request body size limit", () => {
  it.scoped("a body over maxBodyBytes gets 413 PayloadTooLarge; one under it is accepted", () =>
    Effect.gen(function* () {
      const base = yield* serve({ maxBodyBytes: 64 })
      const big = yield* request(`${base}/workflows/greet/runs`, {
        method: "POST",
        body: { name: "x".repeat(100) }
      })
      assert.strictEqual(big.status, 413)
      assert.strictEqual(big.body._tag, "PayloadTooLarge")
      assert.include(big.body.message, "64")
      const runs = yield* request(`${base}/runs`)
      assert.deepStrictEqual(runs.body, [])
      const small = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "x".repeat(10) }
      })
      assert.strictEqual(small.status, 200)
      assert.strictEqual(small.body.result, `hello ${"x".repeat(10)}`)
    })
  )

  it.scoped("the default limit is 1 MiB", () =>
    Effect.gen(function* () {
      const base = yield* serve({})
      const over = yield* request(`${base}/workflows/greet/runs`, {
        method: "POST",
        body: { name: "x".repeat(1024 * 1024) }
      })
      assert.strictEqual(over.status, 413)
      assert.strictEqual(over.body._tag, "PayloadTooLarge")
      const under = yield* request(`${base}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "x".repeat(1000 * 1000) }
      })
      assert.strictEqual(under.status, 200)
      assert.strictEqual(under.body.status, "completed")
    })
  )
})

/** A POST whose body is a stream of `chunks`: sent with `transfer-encoding: chunked`, no `content-length`. */
const postChunked = (url: string, chunks: ReadonlyArray<string>) =>
  Effect.promise(async (): Promise<Reply> => {
    const encoder = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
        controller.close()
      }
    })
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half"
    } as RequestInit)
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
  })

interface RawReply {
  readonly status: number
  readonly body: any
  readonly reusedSocket: boolean
}

/**
 * A request with node:http on `agent` (keep-alive), its body written in `chunks` without a content-length. Succeeds
 * once the response is read *and* the whole body was written (an error on the connection fails it).
 */
const rawChunked = (agent: Agent, url: string, chunks: ReadonlyArray<string>) =>
  Effect.async<RawReply, Error>((resume) => {
    const req = httpRequest(url, { method: "POST", agent, headers: { "content-type": "application/json" } })
    let reply: RawReply | undefined
    let written = false
    const done = () => {
      if (reply !== undefined && written) resume(Effect.succeed(reply))
    }
    req.on("error", (error) => resume(Effect.fail(error)))
    req.on("finish", () => {
      written = true
      done()
    })
    req.on("response", (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        text += chunk
      })
      response.on("end", () => {
        try {
          reply = { status: response.statusCode ?? 0, body: JSON.parse(text), reusedSocket: req.reusedSocket }
          done()
        } catch (error) {
          resume(Effect.fail(new Error(`not JSON: ${text}`, { cause: error })))
        }
      })
    })
    for (const chunk of chunks) req.write(chunk)
    req.end()
  })

describe("request body size limit, chunked bodies (no content-length)", () => {
  it.scoped("a chunked body over maxBodyBytes gets 413 PayloadTooLarge and starts nothing", () =>
    Effect.gen(function* () {
      const base = yield* serve({ maxBodyBytes: 64 })
      const big = yield* postChunked(`${base}/workflows/greet/runs`, [
        '{"name":"',
        "x".repeat(50),
        "x".repeat(50),
        '"}'
      ])
      assert.strictEqual(big.status, 413)
      assert.strictEqual(big.body._tag, "PayloadTooLarge")
      assert.include(big.body.message, "64")
      const runs = yield* request(`${base}/runs`)
      assert.deepStrictEqual(runs.body, [])
    })
  )

  it.scoped("a chunked body under the limit reaches the handler whole (decoded, validated, run)", () =>
    Effect.gen(function* () {
      const base = yield* serve({ maxBodyBytes: 64 })
      const ok = yield* postChunked(`${base}/workflows/greet/runs?wait=true`, ['{"na', 'me":"', "ada", '"}'])
      assert.strictEqual(ok.status, 200)
      assert.strictEqual(ok.body.result, "hello ada")
      const bad = yield* postChunked(`${base}/workflows/greet/runs`, ['{"name":', "42}"])
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(bad.body._tag, "InvalidInput")
      const malformed = yield* postChunked(`${base}/workflows/greet/runs`, ["{not", " json"])
      assert.strictEqual(malformed.status, 400)
    })
  )

  it.scoped("8 MiB sent chunked past a 1 KiB limit: 413, and the kept-alive connection serves the next request", () =>
    Effect.gen(function* () {
      const base = yield* serve({ maxBodyBytes: 1024 })
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new Agent({ keepAlive: true, maxSockets: 1 })),
        (agent) => Effect.sync(() => agent.destroy())
      )
      const chunk = "x".repeat(64 * 1024)
      const big = yield* rawChunked(agent, `${base}/workflows/greet/runs`, [
        '{"name":"',
        ...Array.from({ length: 128 }, () => chunk),
        '"}'
      ])
      assert.strictEqual(big.status, 413)
      assert.strictEqual(big.body._tag, "PayloadTooLarge")
      const next = yield* rawChunked(agent, `${base}/workflows/greet/runs?wait=true`, ['{"name":"bob"}'])
      assert.strictEqual(next.status, 200)
      assert.strictEqual(next.body.result, "hello bob")
      assert.isTrue(next.reusedSocket)
    })
  )
})

describe("CORS", () => {
  it.scoped("is off by default: no access-control-allow-origin header, even for a cross-origin request", () =>
    Effect.gen(function* () {
      const base = yield* serve({})
      const health = yield* request(`${base}/health`, { headers: { origin: "https://elsewhere.example" } })
      assert.strictEqual(health.status, 200)
      assert.isNull(health.headers.get("access-control-allow-origin"))
      const workflows = yield* request(`${base}/workflows`, { headers: { origin: "https://elsewhere.example" } })
      assert.isNull(workflows.headers.get("access-control-allow-origin"))
    })
  )

  it.scoped("the cors option turns it on", () =>
    Effect.gen(function* () {
      const base = yield* serve({ cors: true })
      const health = yield* request(`${base}/health`, { headers: { origin: "https://elsewhere.example" } })
      assert.strictEqual(health.status, 200)
      assert.strictEqual(health.headers.get("access-control-allow-origin"), "*")
    })
  )
})
