import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createServer } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const DEADLINE_MS = 20_000
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-server-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** A port nobody listens on right now. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(address)))
    })
  })

/** Starts `examples/server.ts` and resolves with the URL it prints. */
const startServer = (child: ChildProcess) =>
  new Promise<string>((resolve, reject) => {
    let output = ""
    const timer = setTimeout(
      () => reject(new Error(`examples/server.ts printed no URL in time\n${output}`)),
      DEADLINE_MS
    )
    const onData = (chunk: Buffer) => {
      output += chunk
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`examples/server.ts exited with ${code}\n${output}`))
    })
  })

const json = async (url: string, init?: { readonly method?: string; readonly body?: unknown }) => {
  const response = await fetch(url, {
    method: init?.method ?? "GET",
    ...(init?.body === undefined
      ? {}
      : { body: JSON.stringify(init.body), headers: { "content-type": "application/json" } })
  })
  return { status: response.status, body: (await response.json()) as any }
}

/** Resolves with the exit code of the child once it exits, or rejects after `DEADLINE_MS`. */
const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    const timer = setTimeout(() => reject(new Error("examples/server.ts did not exit in time")), DEADLINE_MS)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })

const launch = (port: number, db: string) =>
  spawn(process.execPath, ["--conditions=source", "--import", "tsx", "examples/server.ts"], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), SERVER_DB: db, LLM_PROVIDER: "local" }
  })

/** Polls `GET /runs/{id}` until the run has a pending prompt. */
const awaitPrompt = async (base: string, runId: string) => {
  let run = await json(`${base}/runs/${runId}`)
  for (let attempt = 0; run.body.pending.length === 0 && attempt < 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    run = await json(`${base}/runs/${runId}`)
  }
  return run
}

/**
 * Waits for the run's prompt, answers it with "yes" over HTTP, reads the run's event stream to its end (it ends after
 * the terminal event) and returns the run, checked to be completed.
 */
const approve = async (base: string, runId: string) => {
  const run = await awaitPrompt(base, runId)
  assert.strictEqual(run.body.status, "waiting")
  const { requestId } = run.body.pending[0].prompt
  const sent = await json(`${base}/runs/${runId}/events`, {
    method: "POST",
    body: { type: "HumanResponse", data: { response: "yes", requestId } }
  })
  assert.strictEqual(sent.status, 202)
  const events = await (await fetch(`${base}/runs/${runId}/events`)).text()
  assert.include(events, "event: StopEvent")
  const done = await json(`${base}/runs/${runId}`)
  assert.strictEqual(done.body.status, "completed")
  return done
}

describe("examples/server (child process)", () => {
  it.live(
    "serves /health and both example workflows; an approval run is answered over HTTP and completes",
    () =>
      Effect.promise(async () => {
        const port = await freePort()
        const child = launch(port, path.join(dir, "server.db"))
        try {
          const base = await startServer(child)
          assert.strictEqual(base, `http://127.0.0.1:${port}`)
          assert.deepStrictEqual(await json(`${base}/health`), {
            status: 200,
            body: { status: "ok", store: { status: "ok" } }
          })
          const workflows = await json(`${base}/workflows`)
          assert.deepStrictEqual(
            workflows.body.map((w: { readonly name: string }) => w.name),
            ["content-approval", "rag"]
          )

          const started = await json(`${base}/workflows/content-approval/runs`, {
            method: "POST",
            body: { topic: "servers" }
          })
          assert.strictEqual(started.status, 200)
          const runId: string = started.body.runId
          const done = await approve(base, runId)
          assert.deepStrictEqual(done.body.result, { text: "Eventflow makes servers simple.", revisions: 0 })
        } finally {
          child.kill("SIGKILL")
        }
      }),
    DEADLINE_MS * 2
  )
  it.live(
    "SIGTERM while a run waits: the process exits with 0; restarted on the same DB, the run still waits and completes",
    () =>
      Effect.promise(async () => {
        const db = path.join(dir, "sigterm.db")
        const first = launch(await freePort(), db)
        let runId: string
        try {
          const base = await startServer(first)
          const started = await json(`${base}/workflows/content-approval/runs`, {
            method: "POST",
            body: { topic: "shutdowns" }
          })
          assert.strictEqual(started.status, 200)
          runId = started.body.runId
          const waiting = await awaitPrompt(base, runId)
          assert.strictEqual(waiting.body.status, "waiting")
          first.kill("SIGTERM")
          assert.strictEqual(await exited(first), 0)
        } finally {
          first.kill("SIGKILL")
        }

        const second = launch(await freePort(), db)
        try {
          const base = await startServer(second)
          const done = await approve(base, runId)
          assert.deepStrictEqual(done.body.result, { text: "Eventflow makes shutdowns simple.", revisions: 0 })
        } finally {
          second.kill("SIGKILL")
        }
      }),
    DEADLINE_MS * 3
  )
})
