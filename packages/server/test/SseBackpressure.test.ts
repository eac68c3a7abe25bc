import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { type Duration, Effect, Layer } from "effect"
import { connect, type Socket } from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { awaitStatus, listen, request } from "./http.js"
import { chatty } from "./workflows.js"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

/** The bytes of buffers (ArrayBuffers) alive after a GC: where written-but-unsent response data lives. */
const buffered = () => {
  gc()
  gc()
  return process.memoryUsage().arrayBuffers
}

const serve = (sseWriteTimeout: Duration.DurationInput) =>
  Effect.flatMap(RunStore.makeMemory, (store) =>
    listen(
      WorkflowServer.layerWithStore({ workflows: [chatty], port: 0, sseWriteTimeout }).pipe(
        Layer.provide(Layer.succeed(RunStore.RunStore, store))
      )
    )
  )

/** A raw connection that asks for the run's events and then never reads (paused before anything arrives). */
const nonReader = (base: string, runId: string) =>
  Effect.acquireRelease(
    Effect.async<Socket>((resume) => {
      const { hostname, port } = new URL(base)
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.pause()
        socket.write(`GET /runs/${runId}/events HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`)
        resume(Effect.succeed(socket))
      })
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Starts a `chatty` run with a log of `count` × `size` bytes and waits until it has written it all. */
const longRun = (base: string, count: number, size: number) =>
  Effect.gen(function* () {
    const started = yield* request(`${base}/workflows/chatty/runs?wait=true`, {
      method: "POST",
      body: { count, size }
    })
    assert.strictEqual(started.body.status, "waiting")
    return started.body.runId as string
  })

describe("Server-Sent Events to clients that do not read", () => {
  it.live(
    "a replay of a 20 MB log to 10 clients that never read buffers at most a little per client",
    () =>
      Effect.gen(function* () {
        const base = yield* serve("1 minute")
        const runId = yield* longRun(base, 2000, 10_000)
        const before = buffered()
        for (let i = 0; i < 10; i++) yield* nonReader(base, runId)
        // Let the server write what the sockets take.
        yield* Effect.sleep("1500 millis")
        const grown = (buffered() - before) / 1024 / 1024
        // Written in one chunk, each client held the whole remaining log: ~10 × 20 MB minus the socket buffers.
        assert.isBelow(grown, 30, `buffered bytes grew by ${grown.toFixed(1)} MB`)
        // The run is unaffected, and a reading client gets everything.
        const response = yield* Effect.promise(() => fetch(`${base}/runs/${runId}`).then((r) => r.json()))
        assert.strictEqual((response as { status: string }).status, "waiting")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a client whose buffer stays full past the write timeout is disconnected",
    () =>
      Effect.gen(function* () {
        const base = yield* serve("300 millis")
        const runId = yield* longRun(base, 2000, 10_000)
        const socket = yield* nonReader(base, runId)
        // (Long enough for a loaded machine to fill the socket's buffers and pass the timeout.)
        yield* Effect.sleep("5 seconds")
        // Now read: the connection ends (the server dropped it) before the whole log was sent.
        const received = yield* Effect.async<number>((resume) => {
          let bytes = 0
          socket.on("data", (chunk: Buffer) => {
            bytes += chunk.length
          })
          socket.on("close", () => resume(Effect.succeed(bytes)))
          socket.on("error", () => {})
          socket.resume()
        }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("never disconnected") }))
        assert.isBelow(received, 2000 * 10_000)
        // The run goes on, and a client that reads gets every event.
        yield* awaitStatus(base, runId, "waiting")
        const sent = yield* request(`${base}/runs/${runId}/events`, {
          method: "POST",
          body: { type: "HumanResponse", data: { response: "yes" } }
        })
        assert.strictEqual(sent.status, 202)
        const all = yield* Effect.promise(() => fetch(`${base}/runs/${runId}/events`).then((r) => r.text()))
        assert.strictEqual(all.split("event: Line\n").length - 1, 2000)
        assert.include(all, "event: StopEvent")
      }).pipe(Effect.scoped),
    60_000
  )
})
