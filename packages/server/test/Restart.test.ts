import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Data, Effect, Exit, Logger, Option, Schema, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { awaitStatus, request, serveWithStore } from "./http.js"
import { approval, greet } from "./workflows.js"

class Boom extends Data.TaggedError("Boom")<{ readonly reason: string }> {
  override get message() {
    return `boom: ${this.reason}`
  }
}

const failing = defineWorkflow({ name: "failing", output: Schema.String }).step(
  StartEvent,
  () => Effect.fail(new Boom({ reason: "no luck" })),
  { emits: [StopEvent] }
)

const workflows = [greet, approval, failing] as const

const serve = (store: RunStore.Service) => serveWithStore(workflows, store)

/** A store that counts the `load` calls per run id (the server loads a run only when it is not live). */
const countingStore = Effect.map(RunStore.makeMemory, (inner) => {
  const loads = new Map<string, number>()
  const store: RunStore.Service = {
    ...inner,
    load: (runId) =>
      Effect.suspend(() => {
        loads.set(runId, (loads.get(runId) ?? 0) + 1)
        return inner.load(runId)
      })
  }
  return { store, loads: (runId: string) => loads.get(runId) ?? 0 }
})

describe("runs that are not live in this process", () => {
  it.scoped("GET /runs/{id} of runs that finished before a restart answers from the store", () =>
    Effect.gen(function* () {
      const store = yield* RunStore.makeMemory
      const first = yield* Scope.make()
      const base1 = yield* serve(store).pipe(Scope.extend(first))
      const completed = yield* request(`${base1}/workflows/greet/runs?wait=true`, {
        method: "POST",
        body: { name: "ada" }
      })
      const failed = yield* request(`${base1}/workflows/failing/runs?wait=true`, { method: "POST", body: {} })
      assert.strictEqual(failed.body.status, "failed")
      yield* Scope.close(first, Exit.void)

      const base2 = yield* serve(store)
      const done = yield* request(`${base2}/runs/${completed.body.runId}`)
      assert.strictEqual(done.status, 200)
      assert.deepStrictEqual(done.body, {
        runId: completed.body.runId,
        workflow: "greet",
        status: "completed",
        result: "hello ada",
        pending: [],
        // Served from the store: the stored timestamps (TestClock time 0).
        createdAt: 0,
        updatedAt: 0
      })
      const error = yield* request(`${base2}/runs/${failed.body.runId}`)
      assert.strictEqual(error.status, 200)
      assert.strictEqual(error.body.status, "failed")
      assert.deepStrictEqual(error.body.error, { _tag: "Boom", message: "boom: no luck" })
      assert.isUndefined(error.body.result)
      const refused = yield* request(`${base2}/runs/${completed.body.runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "late" } }
      })
      assert.strictEqual(refused.status, 409)
      assert.strictEqual(refused.body._tag, "RunNotActive")
      assert.strictEqual(refused.body.status, "completed")
      const unknown = yield* request(`${base2}/runs/never-existed`)
      assert.strictEqual(unknown.status, 404)
    })
  )

  it.scoped("a finished run leaves the in-memory map and is then served from the store", () =>
    Effect.gen(function* () {
      const { loads, store } = yield* countingStore
      const base = yield* serve(store)
      const started = yield* request(`${base}/workflows/approval/runs`, { method: "POST", body: { item: "cake" } })
      const runId: string = started.body.runId
      const waiting = yield* awaitStatus(base, runId, "waiting")
      assert.strictEqual(waiting.body.pending[0].prompt.prompt, "approve cake?")
      // While it is live, the run is answered from memory, not from the store.
      assert.strictEqual(loads(runId), 0)
      yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      // Once it has finished (and its final checkpoint is stored), GET /runs/{id} has to go to the store.
      for (let attempt = 0; attempt < 500 && loads(runId) === 0; attempt++) {
        yield* request(`${base}/runs/${runId}`)
        yield* Effect.yieldNow()
      }
      assert.isAbove(loads(runId), 0, "the finished run was never read from the store")
      const after = yield* request(`${base}/runs/${runId}`)
      assert.strictEqual(after.status, 200)
      assert.strictEqual(after.body.status, "completed")
      assert.strictEqual(after.body.result, "cake: yes")
      assert.deepStrictEqual(after.body.pending, [])
      const events = yield* Effect.promise(() => fetch(`${base}/runs/${runId}/events`).then((r) => r.text()))
      assert.include(events, "event: InputRequired")
      assert.include(events, "event: StopEvent")
    })
  )

  it.scoped("a stored run that cannot be resumed at boot is skipped with a warning; the others resume", () =>
    Effect.gen(function* () {
      const store = yield* RunStore.makeMemory
      const first = yield* Scope.make()
      const base1 = yield* serve(store).pipe(Scope.extend(first))
      const good = yield* request(`${base1}/workflows/approval/runs`, { method: "POST", body: { item: "good" } })
      const bad = yield* request(`${base1}/workflows/approval/runs`, { method: "POST", body: { item: "bad" } })
      yield* awaitStatus(base1, good.body.runId, "waiting")
      yield* awaitStatus(base1, bad.body.runId, "waiting")
      yield* Scope.close(first, Exit.void)
      // The bad run's snapshot comes from a format this version cannot read.
      const snapshot = Option.getOrThrow(yield* store.load(bad.body.runId))
      yield* store.save({ ...snapshot, version: 99 })

      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const base2 = yield* serve(store).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], bad.body.runId)
      assert.include(warnings[0], "not resumed")

      const skipped = yield* request(`${base2}/runs/${bad.body.runId}`)
      assert.strictEqual(skipped.status, 200)
      assert.strictEqual(skipped.body.status, "waiting")
      const refused = yield* request(`${base2}/runs/${bad.body.runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      assert.strictEqual(refused.status, 409)

      const sent = yield* request(`${base2}/runs/${good.body.runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes" } }
      })
      assert.strictEqual(sent.status, 202)
      const done = yield* awaitStatus(base2, good.body.runId, "completed")
      assert.strictEqual(done.body.result, "good: yes")
    })
  )
})

const fixture = fileURLToPath(new URL("./fixtures/approval-server.ts", import.meta.url))
const packageDir = fileURLToPath(new URL("..", import.meta.url))

/**
 * Starts the fixture server as a separate Node process on the SQLite file (or, with `--default-in <dir>`, on the
 * default file in `dir`); resolves its base URL once it listens.
 */
const startProcess = (...args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly base: string }, Error>((resume) => {
      const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture, ...args], {
        cwd: packageDir,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk
        const line = out.split("\n").find((l) => l.startsWith("{"))
        if (line !== undefined) {
          resume(Effect.succeed({ child, base: `http://127.0.0.1:${JSON.parse(line).port}` }))
        }
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        err += chunk
      })
      child.on("exit", (code, signal) => resume(Effect.fail(new Error(`server exited (${code ?? signal}): ${err}`))))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** Kills the process with SIGKILL and waits until it is gone. */
const kill = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

/** A fresh temporary directory, removed with the scope. */
const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )

describe("restart of a real server process", () => {
  it.scoped(
    "a run waiting for a person survives SIGKILL: the next process resumes it and completes it on the response",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("eventflow-restart-")
        const filename = join(dir, "runs.db")

        const first = yield* startProcess(filename)
        const started = yield* request(`${first.base}/workflows/approval/runs`, {
          method: "POST",
          body: { item: "deploy" }
        })
        assert.strictEqual(started.status, 200)
        const runId: string = started.body.runId
        const waiting = yield* awaitStatus(first.base, runId, "waiting")
        assert.strictEqual(waiting.body.pending[0].prompt.prompt, "approve deploy?")
        yield* kill(first.child)

        const second = yield* startProcess(filename)
        const resumed = yield* request(`${second.base}/runs/${runId}`)
        assert.strictEqual(resumed.status, 200)
        assert.strictEqual(resumed.body.status, "waiting")
        const sent = yield* request(`${second.base}/runs/${runId}/events`, {
          method: "POST",
          body: { type: "HumanResponse", data: { response: "approved" } }
        })
        assert.strictEqual(sent.status, 202)
        const done = yield* awaitStatus(second.base, runId, "completed")
        assert.strictEqual(done.body.result, "deploy: approved")
        assert.deepStrictEqual(done.body.pending, [])
      }),
    60_000
  )

  it.scoped(
    "without a filename the runs are durable in eventflow.db in the working directory, and resume from it",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("eventflow-default-")
        const first = yield* startProcess("--default-in", dir)
        const started = yield* request(`${first.base}/workflows/approval/runs`, {
          method: "POST",
          body: { item: "defaults" }
        })
        const runId: string = started.body.runId
        yield* awaitStatus(first.base, runId, "waiting")
        yield* kill(first.child)
        assert.isTrue(existsSync(join(dir, WorkflowServer.defaultFilename)))
        assert.strictEqual(WorkflowServer.defaultFilename, "eventflow.db")

        const second = yield* startProcess("--default-in", dir)
        const resumed = yield* request(`${second.base}/runs/${runId}`)
        assert.strictEqual(resumed.body.status, "waiting")
        yield* request(`${second.base}/runs/${runId}/events`, {
          method: "POST",
          body: { type: "HumanResponse", data: { response: "ok" } }
        })
        const done = yield* awaitStatus(second.base, runId, "completed")
        assert.strictEqual(done.body.result, "defaults: ok")
      }),
    60_000
  )
})
