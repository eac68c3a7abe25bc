import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { HttpServer as HttpServerService } from "@effect/platform"
import * as HttpServer from "@effect/platform/HttpServer"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { WorkflowServer } from "@eventflow/server"
import { Context, Effect, Layer } from "effect"
import { approval } from "../approval.js"
import { approveOverHttp } from "../client.js"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

/** The approval workflow served on a free port of 127.0.0.1, runs in an in-memory SQLite store, optionally a token. */
const serve = (token?: string) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      WorkflowServer.layer({ workflows: [approval], port: 0, filename: ":memory:", token: token ?? "" })
    )
    const address = Context.get(context, HttpServer.HttpServer).address as HttpServerService.TcpAddress
    return `http://127.0.0.1:${address.port}`
  })

/** Runs `examples/client.ts` with `env`; resolves with its exit code and output. */
const runClient = (env: Record<string, string>) =>
  Effect.async<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "examples/client.ts"], {
      cwd: repoRoot,
      env: { ...process.env, ...env }
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk
    })
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk
    })
    child.on("exit", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("examples/client", () => {
  it.scoped("approveOverHttp: feedback, then yes, answered over HTTP as the prompts arrive on the event stream", () =>
    Effect.gen(function* () {
      const baseUrl = yield* serve()
      const run = yield* approveOverHttp({ baseUrl, topic: "clients", answers: ["shorter", "yes"] }).pipe(
        Effect.provide(NodeHttpClient.layer)
      )
      assert.strictEqual(run.status, "completed")
      assert.deepStrictEqual(run.result, { text: "Eventflow makes clients simple. (shorter)", revisions: 1 })
      assert.deepStrictEqual(run.pending, [])
    })
  )

  it.scoped(
    "as a program (pnpm client): talks to the server at EVENTFLOW_URL with EVENTFLOW_TOKEN and prints the result",
    () =>
      Effect.gen(function* () {
        const baseUrl = yield* serve("s3cret")
        const { code, output } = yield* runClient({ EVENTFLOW_URL: baseUrl, EVENTFLOW_TOKEN: "s3cret", ANSWER: "yes" })
        assert.strictEqual(code, 0, output)
        assert.include(output, "InputRequired")
        assert.include(output, "Approve? Type yes, or feedback: yes")
        assert.match(output, /Run \S+: completed \{ text: 'Eventflow makes typed clients simple\.', revisions: 0 \}/)
        const refused = yield* runClient({ EVENTFLOW_URL: baseUrl, EVENTFLOW_TOKEN: "wrong" })
        assert.notStrictEqual(refused.code, 0)
        assert.include(refused.output, "Unauthorized")
      }),
    60_000
  )
})
