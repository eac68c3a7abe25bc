import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, RunStore, RunStoreError, StartEvent, StopEvent, type Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { WorkflowServer } from "@eventflow/server"
import { Deferred, Effect, Layer, Logger, Option, Schema } from "effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { awaitStatus, listen, request } from "./http.js"
import { approval, greet } from "./workflows.js"

/** A memory store whose writes fail while `failing` is set (a full disk, a read-only file). */
const makeFlakyStore = Effect.map(RunStore.makeMemory, (store) => {
  const control = { failing: false, saves: 0 }
  const flaky: RunStore.Service = {
    ...store,
    save: (snapshot) =>
      Effect.suspend(() => {
        if (control.failing) {
          return Effect.fail(new RunStoreError({ operation: "save", runId: snapshot.runId, cause: "disk full" }))
        }
        control.saves++
        return store.save(snapshot)
      })
  }
  return { store: flaky, memory: store, control }
})

/** Collects the messages the server logs at error level. */
const makeLogs = Effect.sync(() => {
  const errors: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Error") errors.push(String(Array.isArray(message) ? message[0] : message))
  })
  return { errors, layer: Logger.replace(Logger.defaultLogger, logger) }
})

/** A workflow whose step waits for `gate` before it completes. */
const gatedStep = (gate: Deferred.Deferred<void>) =>
  defineWorkflow({ name: "slow", output: Schema.String }).step(
    StartEvent,
    () => Effect.as(Deferred.await(gate), StopEvent.make({ result: "done" })),
    { emits: [StopEvent] }
  )

const serve = (workflows: ReadonlyArray<Workflow.Any>, store: RunStore.Service, logger: Layer.Layer<never>) =>
  listen(
    WorkflowServer.layerWithStore({ workflows: workflows as ReadonlyArray<typeof greet>, port: 0 }).pipe(
      Layer.provide(Layer.succeed(RunStore.RunStore, store)),
      Layer.provide(logger)
    )
  )

describe("WorkflowServer with a run store that fails", () => {
  it.live("a start that is not saved answers 503 StoreUnavailable, logs, and leaves no run behind", () =>
    Effect.gen(function* () {
      const { control, memory, store } = yield* makeFlakyStore
      const logs = yield* makeLogs
      const base = yield* serve([greet], store, logs.layer)
      control.failing = true
      const started = yield* request(`${base}/workflows/greet/runs?wait=true`, { method: "POST", body: { name: "x" } })
      assert.strictEqual(started.status, 503)
      assert.strictEqual(started.body._tag, "StoreUnavailable")
      assert.include(started.body.message, "disk full")
      assert.deepStrictEqual(yield* memory.list(), [])
      assert.strictEqual(logs.errors.length, 1)
      assert.include(logs.errors[0], "run store failed")
    }).pipe(Effect.scoped)
  )

  it.live("/health reports degraded and /ready answers 503 while writes fail, and both recover without a restart", () =>
    Effect.gen(function* () {
      const { control, store } = yield* makeFlakyStore
      const logs = yield* makeLogs
      const base = yield* serve([greet], store, logs.layer)
      assert.deepStrictEqual((yield* request(`${base}/ready`)).body, { status: "ready" })
      control.failing = true
      yield* request(`${base}/workflows/greet/runs`, { method: "POST", body: { name: "x" } })
      const health = yield* request(`${base}/health`)
      assert.strictEqual(health.status, 200)
      assert.strictEqual(health.body.status, "degraded")
      assert.strictEqual(health.body.store.status, "degraded")
      assert.include(health.body.store.error, "disk full")
      const ready = yield* request(`${base}/ready`)
      assert.strictEqual(ready.status, 503)
      assert.strictEqual(ready.body._tag, "NotReady")
      // Writes work again: the health probe notices it (no run needs to write).
      control.failing = false
      yield* Effect.sleep("1100 millis")
      assert.deepStrictEqual((yield* request(`${base}/health`)).body, { status: "ok", store: { status: "ok" } })
      assert.strictEqual((yield* request(`${base}/ready`)).status, 200)
      const started = yield* request(`${base}/workflows/greet/runs?wait=true`, { method: "POST", body: { name: "y" } })
      assert.strictEqual(started.status, 200)
      assert.strictEqual(started.body.status, "completed")
    }).pipe(Effect.scoped)
  )

  it.live("an answer that is not saved answers 503, and the run continues once writes work again", () =>
    Effect.gen(function* () {
      const { control, memory, store } = yield* makeFlakyStore
      const logs = yield* makeLogs
      const base = yield* serve([approval], store, logs.layer)
      const started = yield* request(`${base}/workflows/approval/runs?wait=true`, {
        method: "POST",
        body: { item: "deploy" }
      })
      assert.strictEqual(started.body.status, "waiting")
      const runId: string = started.body.runId
      control.failing = true
      const sent = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      assert.strictEqual(sent.status, 503)
      assert.strictEqual(sent.body._tag, "StoreUnavailable")
      // Not acknowledged, and not stored: the store still has the run waiting.
      const stored = yield* memory.load(runId)
      assert.strictEqual(Option.getOrThrow(stored).status, "waiting")
      control.failing = false
      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "deploy: yes")
      assert.strictEqual(Option.getOrThrow(yield* memory.load(runId)).status, "completed")
    }).pipe(Effect.scoped)
  )

  it.live("a run whose step completes while writes fail waits, and completes once writes work again", () =>
    Effect.gen(function* () {
      const { control, memory, store } = yield* makeFlakyStore
      const logs = yield* makeLogs
      const gate = yield* Deferred.make<void>()
      const base = yield* serve([gatedStep(gate)], store, logs.layer)
      const started = yield* request(`${base}/workflows/slow/runs`, { method: "POST", body: null })
      assert.strictEqual(started.status, 200)
      const runId: string = started.body.runId
      control.failing = true
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.sleep("300 millis")
      // Never reported as done while its end is not saved.
      assert.strictEqual((yield* request(`${base}/runs/${runId}`)).body.status, "running")
      assert.strictEqual(Option.getOrThrow(yield* memory.load(runId)).status, "running")
      assert.strictEqual((yield* request(`${base}/health`)).body.status, "degraded")
      control.failing = false
      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "done")
      assert.strictEqual((yield* request(`${base}/health`)).body.status, "ok")
    }).pipe(Effect.scoped)
  )
})

/** Mounts a tmpfs of `size` at a fresh directory (needs root and mount); `None` when that is not possible here. */
const tinyFilesystem = (size: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "eventflow-tmpfs-"))
      try {
        execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" })
        return Option.some(dir)
      } catch {
        rmSync(dir, { recursive: true, force: true })
        return Option.none<string>()
      }
    }),
    (dir) =>
      Effect.sync(() => {
        if (Option.isNone(dir)) return
        try {
          execFileSync("umount", [dir.value], { stdio: "ignore" })
        } catch {
          // already gone
        }
        rmSync(dir.value, { recursive: true, force: true })
      })
  )

describe("WorkflowServer on a real full filesystem", () => {
  it.live(
    "a full disk gives 503 and a degraded /health; freeing space recovers without a restart",
    () =>
      Effect.gen(function* () {
        const mounted = yield* tinyFilesystem("1m")
        if (Option.isNone(mounted)) {
          yield* Effect.logWarning("skipped: cannot mount a tmpfs here (needs root)")
          return
        }
        const dir = join(mounted.value, "db")
        mkdirSync(dir)
        const logs = yield* makeLogs
        const base = yield* listen(
          WorkflowServer.layerWithStore({ workflows: [approval], port: 0 }).pipe(
            Layer.provide(SqliteRunStore.layer({ filename: join(dir, "runs.db") })),
            Layer.provide(logs.layer)
          )
        )
        const started = yield* request(`${base}/workflows/approval/runs?wait=true`, {
          method: "POST",
          body: { item: "disk" }
        })
        assert.strictEqual(started.body.status, "waiting")
        // Fill the filesystem.
        const filler = join(mounted.value, "filler")
        for (let i = 0; i < 64; i++) {
          try {
            writeFileSync(join(mounted.value, `filler-${i}`), Buffer.alloc(64 * 1024))
          } catch {
            break
          }
        }
        const fails: Array<number> = []
        for (let i = 0; i < 3; i++) {
          const response = yield* request(`${base}/workflows/approval/runs`, {
            method: "POST",
            body: { item: "x".repeat(200_000) }
          })
          fails.push(response.status)
        }
        assert.include(fails, 503)
        assert.strictEqual((yield* request(`${base}/health`)).body.status, "degraded")
        assert.strictEqual((yield* request(`${base}/ready`)).status, 503)
        assert.isAbove(logs.errors.length, 0)
        // Free the space.
        for (let i = 0; i < 64; i++) rmSync(join(mounted.value, `filler-${i}`), { force: true })
        rmSync(filler, { force: true })
        yield* Effect.sleep("1100 millis")
        assert.strictEqual((yield* request(`${base}/health`)).body.status, "ok")
        const sent = yield* request(`${base}/runs/${started.body.runId}/events`, {
          method: "POST",
          body: { type: "HumanResponse", data: { response: "ok" } }
        })
        assert.strictEqual(sent.status, 202)
        const done = yield* awaitStatus(base, started.body.runId, "completed")
        assert.strictEqual(done.body.result, "disk: ok")
      }).pipe(Effect.scoped),
    60_000
  )
})
