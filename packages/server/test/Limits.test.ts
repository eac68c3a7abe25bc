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
