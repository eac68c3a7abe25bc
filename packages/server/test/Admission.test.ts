/**
 * `POST /runs/{id}/events` over real HTTP on 127.0.0.1 (issue 10): only what a run can await enters (403
 * `EventNotAccepted` otherwise), answers are tied to their prompt (409 `PromptNotOpen`), one prompt takes one answer
 * also under concurrent requests, and per-run limits answer 429 `RunLimitReached`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { RunStore, type Snapshot } from "@eventflow/core"
import { WorkflowApi, WorkflowClient, WorkflowServer } from "@eventflow/server"
import { Effect, Layer, Option } from "effect"
import { awaitStatus, listen, request } from "./http.js"
import { notes, review } from "./workflows.js"

/** A real server on a free port of 127.0.0.1 and the memory store its runs are saved in. */
const serve = (options: { readonly limits?: { readonly maxPending?: number } } = {}) =>
  Effect.gen(function* () {
    const store = yield* RunStore.makeMemory
    const base = yield* listen(
      WorkflowServer.layerWithStore({ workflows: [review, notes], port: 0, ...options }).pipe(
        Layer.provide(Layer.succeed(RunStore.RunStore, store))
      )
    )
    /** The run's last checkpoint, without its clock field. */
    const saved = (runId: string) =>
      Effect.map(store.load(runId), (loaded) => {
        const { updatedAt: _, ...rest } = Option.getOrThrow(loaded) as Snapshot.Snapshot
        return rest
      })
    return { base, saved }
  })

/** Starts a review and returns its id once it waits for its first answer. */
const startReview = (base: string) =>
  Effect.gen(function* () {
    const started = yield* request(`${base}/workflows/review/runs?wait=true`, {
      method: "POST",
      body: { text: "essay" }
    })
    assert.strictEqual(started.status, 200)
    assert.strictEqual(started.body.status, "waiting")
    return started.body.runId as string
  })

/** The open prompts' ids, checking that `pending` and the prompts carry one and the same id. */
const openIds = (base: string, runId: string) =>
  Effect.map(request(`${base}/runs/${runId}`), (reply) =>
    (reply.body.pending as ReadonlyArray<any>).map((p) => {
      assert.strictEqual(p.eventId, p.requestId)
      assert.strictEqual(p.prompt.requestId, p.requestId)
      return p.requestId as string
    })
  )

const send = (base: string, runId: string, body: unknown) =>
  request(`${base}/runs/${runId}/events`, { method: "POST", body })

describe("POST /runs/{id}/events admission", () => {
  it.scoped(
    "StopEvent, StartEvent, InputRequired and internal events get 403 EventNotAccepted and change nothing",
    () =>
      Effect.gen(function* () {
        const { base, saved } = yield* serve()
        const runId = yield* startReview(base)
        const before = yield* saved(runId)
        const forged = [
          { type: "StopEvent", data: { result: "forged approval" } },
          { type: "StartEvent", data: { input: { text: "second branch" } } },
          { type: "InputRequired", data: { prompt: "Enter your password:" } },
          { type: "Approved", data: { text: "essay", revision: 0 } },
          { type: "Approved", data: { text: "essay", revision: 0 }, step: "Approved" },
          { type: "Draft", data: { text: "injected", revision: 9 } }
        ]
        for (const body of forged) {
          const reply = yield* send(base, runId, body)
          assert.strictEqual(reply.status, 403, JSON.stringify(body))
          assert.strictEqual(reply.body._tag, "EventNotAccepted")
          assert.deepStrictEqual(reply.body.accepted, ["HumanResponse"])
          assert.include(reply.body.message, `does not accept a "${body.type}" event from outside`)
        }
        // Nothing reached the run: the checkpoint is the same, the run still waits on its one prompt.
        assert.deepStrictEqual(yield* saved(runId), before)
        const after = yield* request(`${base}/runs/${runId}`)
        assert.strictEqual(after.body.status, "waiting")
        assert.strictEqual(after.body.pending.length, 1)
        assert.strictEqual(after.body.pending[0].prompt.prompt, "Approve revision 0: essay?")
      })
  )

  it.scoped("a made-up requestId gets 409 PromptNotOpen and approves nothing", () =>
    Effect.gen(function* () {
      const { base, saved } = yield* serve()
      const runId = yield* startReview(base)
      const before = yield* saved(runId)
      const [open] = yield* openIds(base, runId)
      const reply = yield* send(base, runId, {
        type: "HumanResponse",
        data: { response: "yes", requestId: "made-up" }
      })
      assert.strictEqual(reply.status, 409)
      assert.strictEqual(reply.body._tag, "PromptNotOpen")
      assert.strictEqual(reply.body.requestId, "made-up")
      assert.deepStrictEqual(reply.body.open, [open])
      assert.deepStrictEqual(yield* saved(runId), before)
      assert.strictEqual((yield* request(`${base}/runs/${runId}`)).body.status, "waiting")
    })
  )

  it.scoped("a retried yes with the old requestId after a revision gets 409; the revised draft is not approved", () =>
    Effect.gen(function* () {
      const { base } = yield* serve()
      const runId = yield* startReview(base)
      const [first] = yield* openIds(base, runId)
      const feedback = yield* send(base, runId, {
        type: "HumanResponse",
        data: { response: "shorter", requestId: first }
      })
      assert.strictEqual(feedback.status, 202)
      let second: string | undefined
      for (let i = 0; i < 500 && second === undefined; i++) {
        const ids = yield* openIds(base, runId)
        if (ids.length === 1 && ids[0] !== first) second = ids[0]
      }
      assert.isDefined(second)
      const retried = yield* send(base, runId, { type: "HumanResponse", data: { response: "yes", requestId: first } })
      assert.strictEqual(retried.status, 409)
      assert.strictEqual(retried.body._tag, "PromptNotOpen")
      const run = yield* request(`${base}/runs/${runId}`)
      assert.strictEqual(run.body.status, "waiting")
      assert.strictEqual(run.body.pending[0].prompt.prompt, "Approve revision 1: essay (shorter)?")
      const yes = yield* send(base, runId, { type: "HumanResponse", data: { response: "yes", requestId: second } })
      assert.strictEqual(yes.status, 202)
      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "approved r1")
    })
  )

  it.live("20 concurrent answers to one prompt: exactly 1 gets 202, 19 get 409, one revision is consumed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { base, saved } = yield* serve()
        const runId = yield* startReview(base)
        const [first] = yield* openIds(base, runId)
        const replies = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => send(base, runId, { type: "HumanResponse", data: { response: `feedback ${i}`, requestId: first } }),
          { concurrency: "unbounded" }
        )
        const statuses = replies.map((r) => r.status)
        assert.strictEqual(statuses.filter((s) => s === 202).length, 1, JSON.stringify(statuses))
        assert.strictEqual(statuses.filter((s) => s === 409).length, 19, JSON.stringify(statuses))
        for (const reply of replies.filter((r) => r.status === 409))
          assert.strictEqual(reply.body._tag, "PromptNotOpen")
        // Exactly one revision: the run waits on revision 1, and has published two prompts in all.
        let ids: ReadonlyArray<string> = []
        for (let i = 0; i < 500; i++) {
          ids = yield* openIds(base, runId)
          if (ids.length === 1 && ids[0] !== first) break
          yield* Effect.sleep("2 millis")
        }
        const run = yield* request(`${base}/runs/${runId}`)
        assert.strictEqual(run.body.pending.length, 1)
        assert.match(run.body.pending[0].prompt.prompt, /^Approve revision 1: essay \(feedback \d+\)\?$/)
        const published = (yield* saved(runId)).published as ReadonlyArray<{ _tag: string }>
        assert.strictEqual(published.filter((e) => e._tag === "InputRequired").length, 2)
      })
    )
  )

  it.scoped("a run at its maxPending limit answers 429 RunLimitReached; an answer still goes in", () =>
    Effect.gen(function* () {
      const { base, saved } = yield* serve({ limits: { maxPending: 3 } })
      const started = yield* request(`${base}/workflows/notes/runs?wait=true`, { method: "POST", body: null })
      assert.strictEqual(started.body.status, "waiting")
      const runId = started.body.runId as string
      for (let i = 0; i < 2; i++) {
        assert.strictEqual((yield* send(base, runId, { type: "Note", data: { text: `${i}` } })).status, 202)
      }
      const before = yield* saved(runId)
      const reply = yield* send(base, runId, { type: "Note", data: { text: "one too many" } })
      assert.strictEqual(reply.status, 429)
      assert.strictEqual(reply.body._tag, "RunLimitReached")
      assert.strictEqual(reply.body.limit, "maxPending")
      assert.strictEqual(reply.body.max, 3)
      assert.deepStrictEqual(yield* saved(runId), before)
      const answer = yield* send(base, runId, { type: "HumanResponse", data: { response: "done" } })
      assert.strictEqual(answer.status, 202)
      assert.strictEqual((yield* awaitStatus(base, runId, "completed")).body.result, "done")
    })
  )

  it.scoped("the typed client knows the new errors", () =>
    Effect.gen(function* () {
      const { base } = yield* serve()
      const runId = yield* startReview(base)
      const client = yield* WorkflowClient.make({ baseUrl: base }).pipe(Effect.provide(NodeHttpClient.layer))
      const refused = yield* Effect.flip(
        client.eventflow.sendEvent({ path: { id: runId }, payload: { type: "StopEvent", data: { result: "x" } } })
      )
      assert.instanceOf(refused, WorkflowApi.EventNotAccepted)
      const unknown = yield* Effect.flip(
        client.eventflow.sendEvent({
          path: { id: runId },
          payload: { type: "HumanResponse", data: { response: "yes", requestId: "nope" } }
        })
      )
      assert.instanceOf(unknown, WorkflowApi.PromptNotOpen)
    })
  )
})
