import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { connect, createServer as createNetServer, type Socket } from "node:net"
import { fileURLToPath } from "node:url"
import { listen, request } from "./http.js"
import { approval, chatty } from "./workflows.js"

const fixture = fileURLToPath(new URL("./fixtures/drain-server.ts", import.meta.url))
const packageDir = fileURLToPath(new URL("..", import.meta.url))

/** Starts the fixture server process with this shutdown deadline; resolves once it listens. */
const startProcess = (shutdownTimeoutMs: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly base: string }, Error>((resume) => {
      const child = spawn(
        process.execPath,
        ["--conditions=source", "--import", "tsx", fixture, String(shutdownTimeoutMs)],
        { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] }
      )
      let out = ""
      let err = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk
        const line = out.split("\n").find((l) => l.startsWith("{"))
        if (line !== undefined) resume(Effect.succeed({ child, base: `http://127.0.0.1:${JSON.parse(line).port}` }))
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        err += chunk
      })
      child.on("exit", (code, signal) => resume(Effect.fail(new Error(`server exited (${code ?? signal}): ${err}`))))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/**
 * A raw connection that sends `head`, reads until the answer contains `until` (so the server has the request in
 * progress), and then never reads again (and never finishes its request).
 */
const rawClient = (base: string, head: string, until: string) =>
  Effect.acquireRelease(
    Effect.async<Socket>((resume) => {
      const { hostname, port } = new URL(base)
      let seen = ""
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.write(head)
      })
      const onData = (chunk: Buffer) => {
        seen += chunk.toString("latin1")
        if (!seen.includes(until)) return
        socket.pause()
        socket.off("data", onData)
        resume(Effect.succeed(socket))
      }
      socket.on("data", onData)
      socket.on("error", () => {})
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Sends SIGTERM and measures the milliseconds until the process has exited (or `Infinity` after `max`). */
const terminate = (child: ChildProcess, max: number) =>
  Effect.async<{ readonly ms: number; readonly code: number | null }, Error>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return resume(
        Effect.fail(new Error(`the server had exited before SIGTERM (${child.exitCode ?? child.signalCode})`))
      )
    }
    const started = Date.now()
    const timer = setTimeout(() => resume(Effect.succeed({ ms: Number.POSITIVE_INFINITY, code: null })), max)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ ms: Date.now() - started, code }))
    })
    child.kill("SIGTERM")
  })

describe("shutdown", () => {
  it.live(
    "SIGTERM with a non-reading event-stream client and an unfinished upload exits once the deadline has passed",
    () =>
      Effect.gen(function* () {
        const { base, child } = yield* startProcess(1000)
        const started = yield* request(`${base}/workflows/chatty/runs?wait=true`, {
          method: "POST",
          body: { count: 1000, size: 10_000 }
        })
        assert.strictEqual(started.body.status, "waiting")
        const { hostname } = new URL(base)
        yield* rawClient(
          base,
          `GET /runs/${started.body.runId}/events HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`,
          "event: Line"
        )
        // The server answers `100 Continue` to the upload's headers: it is in progress, waiting for its body.
        yield* rawClient(
          base,
          `POST /workflows/approval/runs HTTP/1.1\r\nHost: ${hostname}\r\ncontent-type: application/json\r\n` +
            `content-length: 1000\r\nexpect: 100-continue\r\n\r\n`,
          "100 Continue"
        )
        const { code, ms } = yield* terminate(child, 20_000)
        // Without a deadline these two connections kept the process alive (25–122 s in the issue).
        assert.isAtLeast(ms, 900)
        assert.isBelow(ms, 6000, `exited after ${ms} ms`)
        assert.strictEqual(code, 0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "SIGTERM with idle keep-alive connections and nothing in progress exits at once",
    () =>
      Effect.gen(function* () {
        const { base, child } = yield* startProcess(10_000)
        const { hostname } = new URL(base)
        yield* rawClient(base, `GET /health HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`, "\r\n\r\n")
        yield* request(`${base}/health`)
        yield* Effect.sleep("200 millis")
        const { code, ms } = yield* terminate(child, 20_000)
        assert.isBelow(ms, 5000, `exited after ${ms} ms`)
        assert.strictEqual(code, 0)
      }).pipe(Effect.scoped),
    60_000
  )
})

/** A port that was free a moment ago. */
const freePort = Effect.async<number>((resume) => {
  const server = createNetServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Whether a TCP connection to the port is accepted. */
const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.on("error", () => resume(Effect.succeed(false)))
  })

describe("boot", () => {
  it.live("the port accepts connections only once the unfinished runs are resumed; then /ready answers", () =>
    Effect.gen(function* () {
      const memory = yield* RunStore.makeMemory
      const booting = yield* Deferred.make<void>()
      const store: RunStore.Service = {
        ...memory,
        // The boot lists the unfinished runs: held until the test lets it go on.
        list: (filter) => Effect.zipRight(Deferred.await(booting), memory.list(filter))
      }
      const port = yield* freePort
      const server = yield* Effect.fork(
        listen(
          WorkflowServer.layerWithStore({ workflows: [approval, chatty], port }).pipe(
            Layer.provide(Layer.succeed(RunStore.RunStore, store))
          )
        )
      )
      yield* Effect.sleep("300 millis")
      assert.isFalse(yield* accepts(port))
      yield* Deferred.succeed(booting, undefined)
      const base = yield* Fiber.join(server)
      assert.isTrue(yield* accepts(port))
      const ready = yield* request(`${base}/ready`)
      assert.deepStrictEqual({ status: ready.status, body: ready.body }, { status: 200, body: { status: "ready" } })
    }).pipe(Effect.scoped)
  )
})
