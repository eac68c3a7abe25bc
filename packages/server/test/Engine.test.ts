import { assert, describe, it } from "@effect/vitest"
import { HumanResponse, RunEngine, RunStore, Workflow } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Effect, Layer } from "effect"
import { awaitStatus, listen, request } from "./http.js"
import { approval, greet } from "./workflows.js"

/** The server on a free port with its runs in `engine` and `store`. */
const serve = (engine: RunEngine.Service, store: RunStore.Service) =>
  listen(
    WorkflowServer.layerWithStore({ workflows: [greet, approval], port: 0 }).pipe(
      Layer.provide(Layer.succeed(RunStore.RunStore, store)),
      Layer.provide(Layer.succeed(RunEngine.RunEngine, engine))
    )
  )

describe("WorkflowServer on a RunEngine", () => {
  it.scoped("a run started over HTTP is live in the engine of the context, and a send by run id reaches it", () =>
    Effect.gen(function* () {
      const engine = RunEngine.makeLocal()
      const base = yield* serve(engine, yield* RunStore.makeMemory)
      const started = yield* request(`${base}/workflows/approval/runs?wait=true`, {
        method: "POST",
        body: { item: "budget" }
      })
      assert.strictEqual(started.body.status, "waiting")
      const runId: string = started.body.runId
      assert.deepStrictEqual(yield* engine.list(), [{ runId, workflow: "approval", status: "waiting" }])
      yield* engine.send(runId, HumanResponse.make({ response: "yes" }))
      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "budget: yes")
      // Ended: it has left the engine, and the server reads it from the store.
      assert.deepStrictEqual(yield* engine.list(), [])
    })
  )

  it.scoped("a run of a served workflow started in the same engine outside HTTP is live for the server", () =>
    Effect.gen(function* () {
      const engine = RunEngine.makeLocal()
      const store = yield* RunStore.makeMemory
      const base = yield* serve(engine, store)
      const handle = yield* Workflow.start(approval, { item: "invoice" }, { durable: true }).pipe(
        Effect.provideService(RunStore.RunStore, store),
        Effect.provideService(RunEngine.RunEngine, engine)
      )
      yield* handle.settled
      const live = yield* request(`${base}/runs/${handle.runId}`)
      assert.strictEqual(live.body.status, "waiting")
      const sent = yield* request(`${base}/runs/${handle.runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "ok" } }
      })
      assert.strictEqual(sent.status, 202)
      assert.strictEqual(yield* handle.result, "invoice: ok")
    })
  )
})
