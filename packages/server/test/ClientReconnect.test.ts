/**
 * `WorkflowClient.events` across server restarts and dead connections: a real server process (tsx) killed with
 * SIGTERM and SIGKILL and started again on the same port and SQLite file while the client follows a run, a server
 * that never comes back, and raw TCP servers on 127.0.0.1 that go silent.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { WorkflowClient } from "@eventflow/server"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Queue, Schedule, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/rounds-server.ts", import.meta.url))
const packageDir = fileURLToPath(new URL("..", import.meta.url))

/** Starts the fixture server as a Node process on the SQLite file and port (0: a free one); resolves its port. */
const startProcess = (filename: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly port: number }, Error>((resume) => {
      const child = spawn(
        process.execPath,
        ["--conditions=source", "--import", "tsx", fixture, filename, String(port)],
        {
          cwd: packageDir,
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
      let out = ""
      let err = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk
        const line = out.split("\n").find((l) => l.startsWith("{"))
        if (line !== undefined) resume(Effect.succeed({ child, port: JSON.parse(line).port }))
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        err += chunk
      })
      child.on("exit", (code, signal) => resume(Effect.fail(new Error(`server exited (${code ?? signal}): ${err}`))))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** Sends the signal and waits until the process is gone. */
const stop = (child: ChildProcess, signal: "SIGTERM" | "SIGKILL") =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill(signal)
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "eventflow-client-"))),
  (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
)

const makeClient = (options: WorkflowClient.Options) =>
  WorkflowClient.make(options).pipe(Effect.provide(NodeHttpClient.layer))

/**
 * Follows the run's events on a fiber that collects them all; each event delivered also goes to a queue, to wait
 * for it.
 */
const follow = (stream: Stream.Stream<WorkflowClient.RunEvent, WorkflowClient.EventsError>) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<WorkflowClient.RunEvent>()
    const fiber = yield* stream.pipe(
      Stream.tap((event) => Queue.offer(queue, event)),
      Stream.runCollect,
      Effect.fork
    )
    /** Waits for the next event delivered, which must be of this type (fails at once if the stream ended). */
    const next = (type: string) =>
      Effect.raceFirst(
        Queue.take(queue),
        Effect.flatMap(Fiber.await(fiber), (exit) =>
          Effect.fail(
            new Error(
              `the stream ended while waiting for ${type}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "done"}`
            )
          )
        )
      ).pipe(
        Effect.timeoutFail({ duration: "40 seconds", onTimeout: () => new Error(`no ${type} event came`) }),
        Effect.map((event) => {
          assert.strictEqual(event.type, type, `expected ${type}, got ${JSON.stringify(event)}`)
          return event
        })
      )
    return { fiber, next }
  })

const answer = (client: WorkflowClient.WorkflowClient, runId: string, response: string) =>
  client.eventflow.sendEvent({ path: { id: runId }, payload: { type: "HumanResponse", data: { response } } })

describe("WorkflowClient.events across server restarts (real process)", () => {
  it.live(
    "a client following a run gets every event exactly once, in order, through SIGTERM and SIGKILL restarts",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = yield* tempDir
          const filename = join(dir, "runs.db")
          const first = yield* startProcess(filename, 0)
          const port = first.port
          // The default reconnect budget (60 s); the fixture sends a heartbeat every second, so a connection that a
          // booting server accepts and never answers is given up after 5 s instead of the default 30 s.
          const client = yield* makeClient({ baseUrl: `http://127.0.0.1:${port}`, heartbeatTimeout: "5 seconds" })
          const { runId } = yield* client.eventflow.startRun({
            path: { name: "rounds" },
            payload: { rounds: 3 },
            urlParams: {}
          })
          const { fiber, next } = yield* follow(client.events(runId))
          assert.deepStrictEqual((yield* next("Round")).data, { _tag: "Round", round: 1 })
          yield* next("InputRequired")

          // SIGTERM while the client waits on the open stream; the server stays down for a while (longer than the
          // 10 retries in 2 s the client used to make), then comes back on the same port and file.
          yield* stop(first.child, "SIGTERM")
          yield* Effect.sleep("2500 millis")
          const second = yield* startProcess(filename, port)
          yield* answer(client, runId, "a")
          assert.deepStrictEqual((yield* next("Round")).data, { _tag: "Round", round: 2 })
          yield* next("InputRequired")

          // SIGKILL: the connection is cut without a goodbye.
          yield* stop(second.child, "SIGKILL")
          yield* Effect.sleep("1 second")
          const third = yield* startProcess(filename, port)
          yield* answer(client, runId, "b")
          assert.deepStrictEqual((yield* next("Round")).data, { _tag: "Round", round: 3 })
          yield* next("InputRequired")
          yield* answer(client, runId, "c")
          assert.deepStrictEqual((yield* next("StopEvent")).data, { _tag: "StopEvent", result: "a,b,c" })

          // The stream ended after the terminal event, with every event of the run once and in order.
          const delivered = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
          assert.deepStrictEqual(
            delivered.map((event) => event.id),
            delivered.map((_, k) => k)
          )
          assert.deepStrictEqual(
            delivered.map((event) => event.type),
            ["Round", "InputRequired", "Round", "InputRequired", "Round", "InputRequired", "StopEvent"]
          )
          // The same as a reader that was never disconnected sees now (from the last server's store).
          const reference = yield* Stream.runCollect(client.events(runId))
          assert.deepStrictEqual(delivered, Chunk.toReadonlyArray(reference))
          yield* stop(third.child, "SIGTERM")
        })
      ),
    120_000
  )
})

describe("WorkflowClient.events gives up with a typed error", () => {
  it.live(
    "a server that never comes back: ReconnectFailed once the reconnect budget is spent, no hang",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = yield* tempDir
          const server = yield* startProcess(join(dir, "runs.db"), 0)
          const client = yield* makeClient({
            baseUrl: `http://127.0.0.1:${server.port}`,
            reconnect: WorkflowClient.reconnectFor("1500 millis")
          })
          const { runId } = yield* client.eventflow.startRun({
            path: { name: "rounds" },
            payload: { rounds: 2 },
            urlParams: {}
          })
          const { fiber, next } = yield* follow(client.events(runId))
          yield* next("Round")
          yield* next("InputRequired")
          const killedAt = Date.now()
          yield* stop(server.child, "SIGKILL")

          const error = yield* Effect.flip(Fiber.join(fiber))
          const took = Date.now() - killedAt
          assert.strictEqual(error._tag, "ReconnectFailed")
          if (error._tag !== "ReconnectFailed") return
          assert.strictEqual(error.runId, runId)
          assert.strictEqual(error.lastEventId, 1)
          assert.strictEqual(error.cause._tag, "RequestError")
          assert.isAtLeast(error.attempts, 3)
          assert.isAtLeast(Duration.toMillis(error.elapsed), 1500)
          assert.isAtLeast(took, 1500)
          // The budget, plus at most one backoff delay and the last attempt.
          assert.isBelow(took, 8000)
          assert.include(error.message, `gave up following the events of run "${runId}"`)
          assert.include(error.message, "last event id: 1")
        })
      ),
    60_000
  )
})

/** What a raw server connection is given: its socket, its index (0 for the first), and the request's head. */
type OnConnection = (socket: Socket, index: number, head: string) => void

/**
 * A raw TCP server on 127.0.0.1 that reads each request's head and hands the socket to `onConnection`; returns its
 * base URL and the request heads received so far.
 */
const rawServer = (onConnection: OnConnection) =>
  Effect.acquireRelease(
    Effect.async<{ readonly baseUrl: string; readonly heads: Array<string>; readonly close: () => Promise<void> }>(
      (resume) => {
        const heads: Array<string> = []
        const sockets = new Set<Socket>()
        const server = createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => {})
          let buffer = ""
          const onData = (data: string) => {
            buffer += data
            const end = buffer.indexOf("\r\n\r\n")
            if (end === -1) return
            socket.off("data", onData)
            heads.push(buffer.slice(0, end).toLowerCase())
            onConnection(socket, heads.length - 1, buffer.slice(0, end).toLowerCase())
          }
          socket.setEncoding("latin1").on("data", onData)
        })
        const close = () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resume(Effect.succeed({ baseUrl: `http://127.0.0.1:${port}`, heads, close }))
        })
      }
    ),
    ({ close }) => Effect.promise(close)
  )

const sseHead =
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"

const sse = (id: number, data: { readonly _tag: string } & Record<string, unknown>) =>
  `id: ${id}\nevent: ${data._tag}\ndata: ${JSON.stringify(data)}\n\n`

const stopEvent = { _tag: "StopEvent", result: "done" }

const collect = (stream: Stream.Stream<WorkflowClient.RunEvent, WorkflowClient.EventsError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("WorkflowClient.events detects dead connections (raw servers on 127.0.0.1)", () => {
  it.scopedLive("a server that accepts and then goes silent: HeartbeatTimeout, reconnects, then ReconnectFailed", () =>
    Effect.gen(function* () {
      // The first connection gets the head and one event, then nothing; the next ones not even a head.
      const { baseUrl, heads } = yield* rawServer((socket, index) => {
        if (index === 0) socket.write(sseHead + sse(0, { _tag: "Round", round: 1 }))
      })
      const client = yield* makeClient({ baseUrl })
      const started = Date.now()
      const delivered: Array<WorkflowClient.RunEvent> = []
      const error = yield* client.events("r1", { heartbeatTimeout: "300 millis", reconnect: Schedule.recurs(2) }).pipe(
        Stream.runForEach((event) => Effect.sync(() => delivered.push(event))),
        Effect.flip
      )
      const took = Date.now() - started
      assert.deepStrictEqual(
        delivered.map((event) => event.id),
        [0]
      )
      assert.strictEqual(error._tag, "ReconnectFailed")
      if (error._tag !== "ReconnectFailed") return
      assert.strictEqual(error.cause._tag, "HeartbeatTimeout")
      assert.strictEqual(error.attempts, 2)
      assert.strictEqual(error.lastEventId, 0)
      assert.include(error.cause.message, "no data on the event stream for 300ms")
      // Three connections, the later ones resuming after the event delivered.
      assert.strictEqual(heads.length, 3)
      assert.include(heads[0], "get /runs/r1/events http/1.1")
      assert.notInclude(heads[0], "last-event-id")
      assert.include(heads[1], "last-event-id: 0")
      assert.include(heads[2], "last-event-id: 0")
      assert.isAtLeast(took, 900)
      assert.isBelow(took, 5000)
    })
  )

  it.scopedLive("heartbeat comments keep a quiet connection open past the heartbeat timeout", () =>
    Effect.gen(function* () {
      const { baseUrl, heads } = yield* rawServer((socket) => {
        socket.write(sseHead + sse(0, { _tag: "Round", round: 1 }))
        const timer = setInterval(() => socket.write(": heartbeat\n\n"), 100)
        setTimeout(() => {
          clearInterval(timer)
          socket.end(sse(1, stopEvent))
        }, 1200)
        socket.on("close", () => clearInterval(timer))
      })
      const client = yield* makeClient({ baseUrl, heartbeatTimeout: "400 millis", reconnect: Schedule.stop })
      const events = yield* collect(client.events("r1"))
      assert.deepStrictEqual(
        events.map((event) => event.id),
        [0, 1]
      )
      assert.strictEqual(heads.length, 1)
    })
  )

  it.scopedLive("a 503 (a server that is not ready yet) is retried; a 404 is an answer and is not", () =>
    Effect.gen(function* () {
      const { baseUrl, heads } = yield* rawServer((socket, index, head) => {
        if (head.includes("/runs/missing/")) {
          socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        } else if (index === 0) {
          socket.end("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        } else {
          socket.end(sseHead + sse(0, { _tag: "Round", round: 1 }) + sse(1, stopEvent))
        }
      })
      const client = yield* makeClient({ baseUrl })
      const events = yield* collect(client.events("r1"))
      assert.deepStrictEqual(
        events.map((event) => event.id),
        [0, 1]
      )
      assert.strictEqual(heads.length, 2)
      const refused = yield* Effect.flip(collect(client.events("missing")))
      assert.strictEqual(refused._tag, "ResponseError")
      assert.strictEqual(heads.length, 3)
    })
  )

  it.scopedLive(
    "the budget starts again after a connection delivers data; replayed events are not delivered twice",
    () =>
      Effect.gen(function* () {
        // Connection k replays events 0..k from the start (ignoring Last-Event-ID), then drops; the sixth ends the run.
        const { baseUrl, heads } = yield* rawServer((socket, index) => {
          const events = Array.from({ length: index + 1 }, (_, id) =>
            sse(id, id === 5 ? stopEvent : { _tag: "Round", round: id })
          )
          socket.end(sseHead + events.join(""))
        })
        const client = yield* makeClient({ baseUrl })
        // One reconnection per lost connection: enough only if the budget starts again after each success.
        const events = yield* collect(client.events("r1", { reconnect: Schedule.recurs(1) }))
        assert.deepStrictEqual(
          events.map((event) => event.id),
          [0, 1, 2, 3, 4, 5]
        )
        assert.strictEqual(events[5].type, "StopEvent")
        assert.strictEqual(heads.length, 6)
        assert.include(heads[5], "last-event-id: 4")
      })
  )
})
