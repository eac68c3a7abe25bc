/**
 * Issue 10 where the fixes meet, over real HTTP on 127.0.0.1: admission and answers tied to their prompt on a run
 * whose store fails on demand (a failed save is never acknowledged, and the answer is consumed exactly once when the
 * store recovers), per-run limits on a run resumed by a restarted server, and CORS on the 503/405/403/409 answers.
 */
import { assert, describe, it } from "@effect/vitest"
import { RunStore, RunStoreError, type Snapshot } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Effect, Exit, Fiber, Layer, Logger, Option, Scope } from "effect"
import { connect, type Socket } from "node:net"
import { listen, request } from "./http.js"
import { notes, review } from "./workflows.js"

/** A memory store whose writes fail while `failing` is set. */
const makeFlakyStore = Effect.map(RunStore.makeMemory, (memory) => {
  const control = { failing: false }
  const store: RunStore.Service = {
    ...memory,
    save: (snapshot) =>
      Effect.suspend(() =>
        control.failing
          ? Effect.fail(new RunStoreError({ operation: "save", runId: snapshot.runId, cause: "disk full" }))
          : memory.save(snapshot)
      )
  }
  return { store, memory, control }
})

/** The server's logs are not looked at here. */
const quiet = Logger.replace(Logger.defaultLogger, Logger.none)

const serve = (
  store: RunStore.Service,
  options: { readonly cors?: boolean; readonly limits?: { readonly maxPending?: number } } = {}
) =>
  listen(
    WorkflowServer.layerWithStore({ workflows: [review, notes], port: 0, ...options }).pipe(
      Layer.provide(Layer.succeed(RunStore.RunStore, store)),
      Layer.provide(quiet)
    )
  )

/** The run's last checkpoint in `memory`, without its clock field. */
const saved = (memory: RunStore.Service, runId: string) =>
  Effect.map(memory.load(runId), (loaded) => {
    const { updatedAt: _, ...rest } = Option.getOrThrow(loaded) as Snapshot.Snapshot
    return rest
  })

const send = (base: string, runId: string, body: unknown, headers?: Record<string, string>) =>
  request(`${base}/runs/${runId}/events`, { method: "POST", body, ...(headers === undefined ? {} : { headers }) })

/** Polls until the run waits on a prompt other than `not`; returns that prompt's id and text. */
const awaitPrompt = (base: string, runId: string, not: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      const run = yield* request(`${base}/runs/${runId}`)
      const pending = (run.body.pending ?? []) as ReadonlyArray<any>
      if (run.body.status === "waiting" && pending.length === 1 && pending[0].requestId !== not) {
        return { requestId: pending[0].requestId as string, prompt: pending[0].prompt.prompt as string }
      }
      yield* Effect.sleep("5 millis")
    }
    return assert.fail(`run ${runId} never moved past prompt ${not}`)
  })

const startReview = (base: string) =>
  Effect.gen(function* () {
    const started = yield* request(`${base}/workflows/review/runs?wait=true`, {
      method: "POST",
      body: { text: "essay" }
    })
    assert.strictEqual(started.status, 200)
    assert.strictEqual(started.body.status, "waiting")
    return { runId: started.body.runId as string, first: started.body.pending[0].requestId as string }
  })

describe("admission and answers on a run whose store fails", () => {
  it.live(
    "an unsaved answer gets 503; once the store recovers it is consumed exactly once, and a retry of it gets 409",
    () =>
      Effect.gen(function* () {
        const { control, memory, store } = yield* makeFlakyStore
        const base = yield* serve(store)
        const { first, runId } = yield* startReview(base)
        const before = yield* saved(memory, runId)
        control.failing = true
        // A forged event while the store fails is refused before anything is written.
        const refused = yield* send(base, runId, { type: "StopEvent", data: { result: "forged" } })
        assert.strictEqual(refused.status, 403)
        assert.strictEqual(refused.body._tag, "EventNotAccepted")
        const answer = { type: "HumanResponse", data: { response: "shorter", requestId: first } }
        const sent = yield* send(base, runId, answer)
        assert.strictEqual(sent.status, 503)
        assert.strictEqual(sent.body._tag, "StoreUnavailable")
        // Not acknowledged and not stored.
        assert.deepStrictEqual(yield* saved(memory, runId), before)
        // Retried while the store still fails: 503 again, not "already answered" (the answer is not persisted).
        const again = yield* send(base, runId, answer)
        assert.strictEqual(again.status, 503, JSON.stringify(again.body))
        assert.strictEqual(again.body._tag, "StoreUnavailable")
        // Any other send is not judged against the unsaved state either: it first needs the store.
        const forged = yield* send(base, runId, { type: "StopEvent", data: { result: "forged" } })
        assert.strictEqual(forged.status, 503)
        assert.deepStrictEqual(yield* saved(memory, runId), before)
        control.failing = false
        // The store works again: the kept answer is consumed once, making exactly one revision.
        const next = yield* awaitPrompt(base, runId, first)
        assert.strictEqual(next.prompt, "Approve revision 1: essay (shorter)?")
        const retried = yield* send(base, runId, answer)
        assert.strictEqual(retried.status, 409)
        assert.strictEqual(retried.body._tag, "PromptNotOpen")
        assert.deepStrictEqual(retried.body.open, [next.requestId])
        // Two prompts published in all (revision 0 and revision 1): the answer made exactly one revision.
        const published = (yield* saved(memory, runId)).published as ReadonlyArray<{ _tag: string; prompt?: string }>
        assert.deepStrictEqual(
          published.filter((e) => e._tag === "InputRequired").map((e) => e.prompt),
          ["Approve revision 0: essay?", "Approve revision 1: essay (shorter)?"]
        )
        // The run goes on normally.
        assert.strictEqual(
          (yield* send(base, runId, { type: "HumanResponse", data: { response: "yes", requestId: next.requestId } }))
            .status,
          202
        )
      }).pipe(Effect.scoped)
  )

  it.live("20 concurrent answers while the store fails: all 503 (none 409); on recovery one revision is consumed", () =>
    Effect.gen(function* () {
      const { control, memory, store } = yield* makeFlakyStore
      const base = yield* serve(store)
      const { first, runId } = yield* startReview(base)
      const before = yield* saved(memory, runId)
      control.failing = true
      const replies = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => send(base, runId, { type: "HumanResponse", data: { response: `feedback ${i}`, requestId: first } }),
        { concurrency: "unbounded" }
      )
      // None is acknowledged, and none is told "already answered" while no answer is persisted.
      assert.deepStrictEqual(
        replies.map((r) => r.status),
        Array.from({ length: 20 }, () => 503)
      )
      assert.deepStrictEqual(yield* saved(memory, runId), before)
      control.failing = false
      const next = yield* awaitPrompt(base, runId, first)
      assert.match(next.prompt, /^Approve revision 1: essay \(feedback \d+\)\?$/)
      const published = (yield* saved(memory, runId)).published as ReadonlyArray<{ _tag: string }>
      assert.strictEqual(published.filter((e) => e._tag === "InputRequired").length, 2)
      const retried = yield* send(base, runId, { type: "HumanResponse", data: { response: "x", requestId: first } })
      assert.strictEqual(retried.status, 409)
    }).pipe(Effect.scoped)
  )

  it.live("forged StopEvent, StartEvent and InputRequired get 403 and leave the run's log as it was", () =>
    Effect.gen(function* () {
      const { memory, store } = yield* makeFlakyStore
      const base = yield* serve(store)
      const { runId } = yield* startReview(base)
      const before = yield* saved(memory, runId)
      const log = (yield* request(`${base}/runs/${runId}`)).body
      for (const body of [
        { type: "StopEvent", data: { result: "forged" } },
        { type: "StartEvent", data: { input: { text: "second" } } },
        { type: "InputRequired", data: { prompt: "Enter your password:", requestId: "fake" } }
      ]) {
        const reply = yield* send(base, runId, body)
        assert.strictEqual(reply.status, 403, body.type)
        assert.strictEqual(reply.body._tag, "EventNotAccepted")
      }
      assert.deepStrictEqual(yield* saved(memory, runId), before)
      const after = (yield* request(`${base}/runs/${runId}`)).body
      assert.deepStrictEqual(after.pending, log.pending)
      // The event stream a client replays holds no forged event either.
      const stream = yield* request(`${base}/runs/${runId}/events`, { headers: { accept: "text/event-stream" } }).pipe(
        Effect.timeoutOption("300 millis")
      )
      if (Option.isSome(stream)) {
        assert.notInclude(String(stream.value.body), "forged")
        assert.notInclude(String(stream.value.body), "password")
      }
    }).pipe(Effect.scoped)
  )
})

describe("a cancel while the store fails", () => {
  it.live("DELETE answers 503 StoreUnavailable instead of hanging; the run is cancelled once writes work again", () =>
    Effect.gen(function* () {
      const { control, memory, store } = yield* makeFlakyStore
      const base = yield* serve(store)
      const { runId } = yield* startReview(base)
      control.failing = true
      const cancelled = yield* request(`${base}/runs/${runId}`, { method: "DELETE" }).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("DELETE hung while the store fails") })
      )
      assert.strictEqual(cancelled.status, 503)
      assert.strictEqual(cancelled.body._tag, "StoreUnavailable")
      assert.notStrictEqual(Option.getOrThrow(yield* memory.load(runId)).status, "cancelled")
      control.failing = false
      for (let i = 0; i < 400; i++) {
        if (Option.getOrThrow(yield* memory.load(runId)).status === "cancelled") break
        yield* Effect.sleep("25 millis")
      }
      assert.strictEqual(Option.getOrThrow(yield* memory.load(runId)).status, "cancelled")
      // With a working store, a cancel answers at once.
      const other = yield* startReview(base)
      const ok = yield* request(`${base}/runs/${other.runId}`, { method: "DELETE" })
      assert.strictEqual(ok.status, 200)
      assert.strictEqual(ok.body.status, "cancelled")
    }).pipe(Effect.scoped)
  )
})

describe("per-run limits across a restart", () => {
  it.live("a run resumed by a restarted server keeps the server's limits (429 RunLimitReached)", () =>
    Effect.gen(function* () {
      const memory = yield* RunStore.makeMemory
      const first = yield* Scope.make()
      const base1 = yield* serve(memory, { limits: { maxPending: 2 } }).pipe(Scope.extend(first))
      const started = yield* request(`${base1}/workflows/notes/runs?wait=true`, { method: "POST", body: null })
      assert.strictEqual(started.body.status, "waiting")
      const runId = started.body.runId as string
      yield* Scope.close(first, Exit.void)
      // A new server on the same store resumes the run with its limits.
      const base = yield* serve(memory, { limits: { maxPending: 2 } })
      assert.strictEqual((yield* send(base, runId, { type: "Note", data: { text: "a" } })).status, 202)
      const before = yield* saved(memory, runId)
      const over = yield* send(base, runId, { type: "Note", data: { text: "b" } })
      assert.strictEqual(over.status, 429)
      assert.strictEqual(over.body._tag, "RunLimitReached")
      assert.strictEqual(over.body.max, 2)
      assert.deepStrictEqual(yield* saved(memory, runId), before)
      const answer = yield* send(base, runId, { type: "HumanResponse", data: { response: "done" } })
      assert.strictEqual(answer.status, 202)
    }).pipe(Effect.scoped)
  )
})

describe("CORS on the new error answers", () => {
  it.live("the guard's own answers (401, 413, 415, 400 InvalidJson) carry the CORS headers", () =>
    Effect.gen(function* () {
      const memory = yield* RunStore.makeMemory
      const base = yield* listen(
        WorkflowServer.layerWithStore({
          workflows: [review],
          port: 0,
          cors: true,
          token: "secret",
          maxBodyBytes: 1000
        }).pipe(Layer.provide(Layer.succeed(RunStore.RunStore, memory)), Layer.provide(quiet))
      )
      const origin = { origin: "https://app.example" }
      const auth = { ...origin, authorization: "Bearer secret" }
      const url = `${base}/workflows/review/runs`
      const replies = {
        401: yield* request(`${base}/runs`, { headers: origin }),
        413: yield* request(url, { method: "POST", raw: JSON.stringify({ text: "x".repeat(2000) }), headers: auth }),
        415: yield* request(url, { method: "POST", raw: "text", headers: { ...auth, "content-type": "text/plain" } }),
        400: yield* request(url, { method: "POST", raw: "[".repeat(100), headers: auth })
      }
      for (const [status, reply] of Object.entries(replies)) {
        assert.strictEqual(reply.status, Number(status))
        assert.strictEqual(reply.headers.get("access-control-allow-origin"), "*", status)
      }
      assert.strictEqual(replies[401].headers.get("www-authenticate"), "Bearer")
    }).pipe(Effect.scoped)
  )

  it.live("503 StoreUnavailable, 403, 409 and 405 (with Allow) carry the CORS headers; a preflight is not 405", () =>
    Effect.gen(function* () {
      const { control, store } = yield* makeFlakyStore
      const base = yield* serve(store, { cors: true })
      const origin = { origin: "https://app.example" }
      const { runId } = yield* startReview(base)
      const forged = yield* send(base, runId, { type: "StopEvent", data: { result: "x" } }, origin)
      assert.strictEqual(forged.status, 403)
      assert.strictEqual(forged.headers.get("access-control-allow-origin"), "*")
      const unknown = yield* send(
        base,
        runId,
        { type: "HumanResponse", data: { response: "y", requestId: "no" } },
        origin
      )
      assert.strictEqual(unknown.status, 409)
      assert.strictEqual(unknown.headers.get("access-control-allow-origin"), "*")
      const wrong = yield* request(`${base}/runs/${runId}/events`, { method: "PUT", body: {}, headers: origin })
      assert.strictEqual(wrong.status, 405)
      assert.strictEqual(wrong.headers.get("allow"), "GET, POST")
      assert.strictEqual(wrong.headers.get("access-control-allow-origin"), "*")
      const preflight = yield* request(`${base}/runs/${runId}/events`, {
        method: "OPTIONS",
        headers: { ...origin, "access-control-request-method": "POST" }
      })
      assert.isBelow(preflight.status, 300)
      assert.strictEqual(preflight.headers.get("access-control-allow-origin"), "*")
      control.failing = true
      const unsaved = yield* send(base, runId, { type: "HumanResponse", data: { response: "yes" } }, origin)
      assert.strictEqual(unsaved.status, 503)
      assert.strictEqual(unsaved.body._tag, "StoreUnavailable")
      assert.strictEqual(unsaved.headers.get("access-control-allow-origin"), "*")
      const ready = yield* request(`${base}/ready`, { headers: origin })
      assert.strictEqual(ready.status, 503)
      assert.strictEqual(ready.headers.get("access-control-allow-origin"), "*")
    }).pipe(Effect.scoped)
  )
})

/** A raw connection to `base` that has sent `head`; `read` resolves with all it got once the server closes it. */
const rawConnection = (base: string, head: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: Socket; readonly read: Promise<string> }>((resume) => {
      const { hostname, port } = new URL(base)
      let seen = ""
      let done: (text: string) => void = () => {}
      const read = new Promise<string>((r) => {
        done = r
      })
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.write(head, () => resume(Effect.succeed({ socket, read })))
      })
      socket.on("data", (chunk: Buffer) => {
        seen += chunk.toString("latin1")
      })
      socket.on("close", () => done(seen))
      socket.on("error", () => {})
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

describe("readiness during shutdown", () => {
  it.live("a request that arrives while the server drains gets 503 NotReady (with CORS), /ready included", () =>
    Effect.gen(function* () {
      const memory = yield* RunStore.makeMemory
      const scope = yield* Scope.make()
      const base = yield* listen(
        WorkflowServer.layerWithStore({ workflows: [review], port: 0, cors: true, shutdownTimeout: "3 seconds" }).pipe(
          Layer.provide(Layer.succeed(RunStore.RunStore, memory)),
          Layer.provide(quiet)
        )
      ).pipe(Scope.extend(scope))
      assert.strictEqual((yield* request(`${base}/ready`)).status, 200)
      const host = new URL(base).host
      // An upload in progress holds the drain open; a second connection has begun its request (headers unfinished).
      yield* rawConnection(
        base,
        `POST /workflows/review/runs HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`
      )
      const ready = yield* rawConnection(
        base,
        `GET /ready HTTP/1.1\r\nHost: ${host}\r\nOrigin: https://app.example\r\n`
      )
      yield* Effect.sleep("100 millis")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("300 millis")
      ready.socket.write("\r\n")
      const reply = yield* Effect.promise(() => ready.read)
      assert.match(reply, /^HTTP\/1\.1 503 /)
      assert.match(reply, /"_tag":"NotReady"/)
      assert.match(reply, /connection: close/i)
      assert.match(reply, /access-control-allow-origin: \*/i)
      // No new connection is taken while draining.
      const fresh = yield* Effect.either(
        Effect.tryPromise(() => fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) }))
      )
      assert.isTrue(fresh._tag === "Left")
      yield* Fiber.join(closing)
    }).pipe(Effect.scoped)
  )
})
