/**
 * Conversations, child workflows and the typed client over real HTTP on 127.0.0.1.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, Event, HumanResponse, InputRequired, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { TypedClient, WorkflowClient } from "@eventflow/server/client"
import { Chunk, Effect, Option, Schema, Stream, SynchronizedRef } from "effect"
import { awaitStatus, request, serveWithStore } from "./http.js"

const Said = Event.define("Said", { count: Schema.Number, at: Schema.DateFromString })

/** A chat turn that remembers every message (typed state); its result carries a date (decoded by the client). */
const notes = defineWorkflow({
  name: "notes",
  input: Schema.Struct({ text: Schema.String }),
  output: Schema.Struct({ count: Schema.Number, all: Schema.Array(Schema.String), at: Schema.DateFromString }),
  state: Schema.Struct({ all: Schema.Array(Schema.String) }),
  initialState: { all: [] }
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const { all } = yield* SynchronizedRef.updateAndGet(ctx.state, (s) => ({ all: [...s.all, start.input.text] }))
      const at = new Date(Date.UTC(2026, 11, 5, all.length))
      yield* ctx.write(Said.make({ count: all.length, at }))
      return StopEvent.make({ result: { count: all.length, all, at } })
    }),
  { emits: [StopEvent] }
)

/** Waits for a person. */
const ask = defineWorkflow({ name: "ask", output: Schema.String }).step(
  StartEvent,
  (_, ctx) =>
    Effect.gen(function* () {
      const answer = yield* ctx.waitFor(HumanResponse, {
        prompt: InputRequired.make({ prompt: "approve?", requestId: "approve" })
      })
      return StopEvent.make({ result: answer.response })
    }),
  { emits: [StopEvent] }
)

/** Runs `ask` as its child. */
const boss = defineWorkflow({ name: "boss", output: Schema.String }).step(
  StartEvent,
  (_, ctx) => Effect.map(ctx.run(ask), (answer) => StopEvent.make({ result: `boss heard ${answer}` })),
  { name: "delegate", emits: [StopEvent], children: [ask] }
)

const workflows = [notes, ask, boss] as const

const serve = Effect.flatMap(RunStore.makeMemory, (store) => serveWithStore(workflows, store))

describe("Server: conversations", () => {
  it.scoped("continueFrom starts a run from the previous run's final state; GET /runs?conversation= lists them", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const first = yield* request(`${base}/workflows/notes/runs?wait=true`, { method: "POST", body: { text: "a" } })
      assert.strictEqual(first.status, 200)
      const id1 = first.body.runId
      const second = yield* request(`${base}/workflows/notes/runs?wait=true&continueFrom=${id1}`, {
        method: "POST",
        body: { text: "b" }
      })
      assert.strictEqual(second.status, 200, JSON.stringify(second.body))
      assert.deepStrictEqual(second.body.result.all, ["a", "b"])
      assert.deepStrictEqual(second.body.conversation, { id: id1, previous: id1 })
      const third = yield* request(`${base}/workflows/notes/runs?wait=true&continueFrom=${second.body.runId}`, {
        method: "POST",
        body: { text: "c" }
      })
      assert.deepStrictEqual(third.body.result.all, ["a", "b", "c"])
      yield* request(`${base}/workflows/notes/runs?wait=true`, { method: "POST", body: { text: "other" } })
      const listed = yield* request(`${base}/runs?conversation=${id1}`)
      assert.strictEqual(listed.status, 200)
      assert.sameMembers(
        listed.body.map((r: { runId: string }) => r.runId),
        [id1, second.body.runId, third.body.runId]
      )
    })
  )

  it.scoped("continueFrom an unknown run is 404; a run still waiting or of another workflow is 409", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const unknown = yield* request(`${base}/workflows/notes/runs?continueFrom=nope`, {
        method: "POST",
        body: { text: "a" }
      })
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.body._tag, "RunNotFound")
      const waiting = yield* request(`${base}/workflows/ask/runs?wait=true`, { method: "POST" })
      assert.strictEqual(waiting.body.status, "waiting")
      const still = yield* request(`${base}/workflows/ask/runs?continueFrom=${waiting.body.runId}`, { method: "POST" })
      assert.strictEqual(still.status, 409)
      assert.strictEqual(still.body._tag, "CannotContinue")
      assert.include(still.body.message, "is still waiting")
      const notes1 = yield* request(`${base}/workflows/notes/runs?wait=true`, { method: "POST", body: { text: "a" } })
      const other = yield* request(`${base}/workflows/ask/runs?continueFrom=${notes1.body.runId}`, { method: "POST" })
      assert.strictEqual(other.status, 409)
      assert.include(other.body.message, `is a run of workflow "notes", not "ask"`)
    })
  )
})

describe("Server: child workflows", () => {
  it.scoped("a child's prompt is in the parent's pending and answered by an event sent to the parent", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const started = yield* request(`${base}/workflows/boss/runs?wait=true`, { method: "POST" })
      assert.strictEqual(started.body.status, "waiting")
      const runId = started.body.runId
      const child = `${runId}/delegate@0/c0`
      assert.deepStrictEqual(started.body.pending, [
        {
          eventId: `${child}:approve`,
          requestId: `${child}:approve`,
          prompt: { _tag: "InputRequired", prompt: "approve?", requestId: `${child}:approve` },
          runId: child
        }
      ])
      const sent = yield* request(`${base}/runs/${runId}/events`, {
        method: "POST",
        body: { type: "HumanResponse", data: { response: "yes", requestId: `${child}:approve` } }
      })
      assert.strictEqual(sent.status, 202, JSON.stringify(sent.body))
      const done = yield* awaitStatus(base, runId, "completed")
      assert.strictEqual(done.body.result, "boss heard yes")
      // The child is durable in the server's store, under its parent.
      const childRun = yield* request(`${base}/runs/${encodeURIComponent(child)}`)
      assert.strictEqual(childRun.body.status, "completed")
      const all = yield* request(`${base}/runs?workflow=ask`)
      assert.strictEqual(all.body.find((r: { runId: string }) => r.runId === child)?.parentRunId, runId)
    })
  )
})

describe("TypedClient", () => {
  it.scoped("starts runs with typed input, decodes results and events with the workflow's schemas, continues", () =>
    Effect.gen(function* () {
      const base = yield* serve
      // `notes` by its schemas (with the progress event its step writes), `ask` as the workflow value itself.
      const runs = TypedClient.make(yield* WorkflowClient.make({ baseUrl: base }), [
        TypedClient.schemasOf(notes, { events: [Said] }),
        ask
      ])
      const first = yield* runs.notes.start({ text: "hi" }, { wait: true })
      const result = Option.getOrThrow(first.result)
      // Decoded by the output schema: a Date, not the string the server sent.
      assert.instanceOf(result.at, Date)
      assert.strictEqual(result.at.toISOString(), "2026-12-05T01:00:00.000Z")
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(runs.notes.events(first.runId)))
      const said = events.map((e) => e.event).find(Event.is(Said))
      assert.isDefined(said)
      assert.instanceOf(said!.at, Date)
      const second = yield* runs.notes.start({ text: "again" }, { wait: true, continueFrom: first.runId })
      assert.deepStrictEqual(Option.getOrThrow(second.result).all, ["hi", "again"])
      const conversation = yield* runs.notes.conversation(first.runId)
      assert.sameMembers(
        conversation.map((r) => r.runId),
        [first.runId, second.runId]
      )
      const asked = yield* runs.ask.start(undefined, { wait: true })
      assert.strictEqual(asked.status, "waiting")
      assert.isTrue(Option.isNone(asked.result))
    }).pipe(Effect.provide(NodeHttpClient.layer))
  )

  it("the input is checked at compile time", () => {
    const check = (runs: TypedClient.Clients<readonly [typeof notes]>) => {
      // @ts-expect-error `txt` is not the input's field (a typo does not compile)
      void runs.notes.start({ txt: "hi" })
      // @ts-expect-error there is no workflow named "nope"
      void runs.nope
      return runs.notes.start({ text: "hi" })
    }
    assert.isFunction(check)
  })
})
