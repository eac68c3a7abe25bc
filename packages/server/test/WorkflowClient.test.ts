import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { type InputRequired, RunStore } from "@eventflow/core"
import { WorkflowClient } from "@eventflow/server"
import { Chunk, Effect, Layer, Ref, Schedule, Stream } from "effect"
import { serveWithStore } from "./http.js"
import { approval, greet } from "./workflows.js"

const workflows = [greet, approval] as const

/** Starts the real server on 127.0.0.1, on a free port, in the test's scope; returns its base URL. */
const serve = Effect.flatMap(RunStore.makeMemory, (store) => serveWithStore(workflows, store))

const setup = Effect.flatMap(serve, (baseUrl) => WorkflowClient.make({ baseUrl })).pipe(
  Effect.provide(NodeHttpClient.layer)
)

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const ids = (events: ReadonlyArray<WorkflowClient.RunEvent>) => events.map((event) => event.id)

/** Reads the run's events until its first prompt (the run then waits for a person). */
const untilPrompt = (client: WorkflowClient.WorkflowClient, runId: string) =>
  collect(client.events(runId).pipe(Stream.takeUntil((event) => event.type === "InputRequired")))

/** The bytes of the first Server-Sent Event of a response, then the end of the body. */
const firstEventOnly = <E>(body: Stream.Stream<Uint8Array, E>): Stream.Stream<Uint8Array, E> =>
  body.pipe(
    Stream.decodeText(),
    Stream.scan("", (text, piece) => text + piece),
    Stream.filter((text) => text.includes("\n\n")),
    Stream.take(1),
    Stream.map((text) => text.slice(0, text.indexOf("\n\n") + 2)),
    Stream.encodeText
  )

describe("WorkflowClient", () => {
  it.scoped("starts a run with the typed client and reads its events to the terminal StopEvent", () =>
    Effect.gen(function* () {
      const client = yield* setup
      const started = yield* client.eventflow.startRun({
        path: { name: "greet" },
        payload: { name: "Ada" },
        urlParams: {}
      })
      const events = yield* collect(client.events(started.runId))
      assert.deepStrictEqual(
        ids(events),
        events.map((_, k) => k)
      )
      const last = events[events.length - 1]
      assert.strictEqual(last.type, "StopEvent")
      assert.deepStrictEqual(last.data, { _tag: "StopEvent", result: "hello Ada" })
      const run = yield* client.eventflow.getRun({ path: { id: started.runId } })
      assert.strictEqual(run.status, "completed")
      assert.strictEqual(run.result, "hello Ada")
    })
  )

  it.scoped("typed errors: an unknown workflow is WorkflowNotFound, an unknown run is RunNotFound", () =>
    Effect.gen(function* () {
      const client = yield* setup
      const noWorkflow = yield* Effect.flip(
        client.eventflow.startRun({ path: { name: "nope" }, payload: {}, urlParams: {} })
      )
      assert.strictEqual(noWorkflow._tag, "WorkflowNotFound")
      const noRun = yield* Effect.flip(client.eventflow.getRun({ path: { id: "missing" } }))
      assert.strictEqual(noRun._tag, "RunNotFound")
      const noEvents = yield* Effect.flip(collect(client.events("missing")))
      assert.strictEqual(noEvents._tag, "ResponseError")
    })
  )

  it.scoped("HITL round trip: the prompt arrives on the stream, the answer is sent, the run completes", () =>
    Effect.gen(function* () {
      const client = yield* setup
      const { runId } = yield* client.eventflow.startRun({
        path: { name: "approval" },
        payload: { item: "invoice" },
        urlParams: {}
      })
      const beforeAnswer = yield* untilPrompt(client, runId)
      const prompt = beforeAnswer[beforeAnswer.length - 1]
      assert.strictEqual((prompt.data as InputRequired).prompt, "approve invoice?")
      const waiting = yield* client.eventflow.getRun({ path: { id: runId } })
      assert.strictEqual(waiting.status, "waiting")
      assert.strictEqual(waiting.pending.length, 1)

      const sent = yield* client.eventflow.sendEvent({
        path: { id: runId },
        payload: { type: "HumanResponse", data: { response: "yes" } }
      })
      assert.deepStrictEqual(sent, { accepted: true })
      const events = yield* collect(client.events(runId))
      assert.deepStrictEqual(events[events.length - 1].data, { _tag: "StopEvent", result: "invoice: yes" })
      const done = yield* client.eventflow.getRun({ path: { id: runId } })
      assert.strictEqual(done.status, "completed")
      assert.strictEqual(done.result, "invoice: yes")

      const late = yield* Effect.flip(
        client.eventflow.sendEvent({
          path: { id: runId },
          payload: { type: "HumanResponse", data: { response: "no" } }
        })
      )
      assert.strictEqual(late._tag, "RunNotActive")
    })
  )

  it.scoped("resubscribing in the middle of a run with the last offset yields exactly the missing events", () =>
    Effect.gen(function* () {
      const client = yield* setup
      const { runId } = yield* client.eventflow.startRun({
        path: { name: "approval" },
        payload: { item: "x" },
        urlParams: {}
      })
      const first = yield* untilPrompt(client, runId)
      const lastEventId = first[first.length - 1].id
      yield* client.eventflow.sendEvent({
        path: { id: runId },
        payload: { type: "HumanResponse", data: { response: "ok" } }
      })
      const rest = yield* collect(client.events(runId, { lastEventId }))
      assert.isAbove(rest.length, 0)
      assert.strictEqual(rest[0].id, lastEventId + 1)
      const all = yield* collect(client.events(runId))
      assert.deepStrictEqual([...first, ...rest], all)
    })
  )

  it.scoped("a connection cut before the terminal event is reopened with Last-Event-ID: no loss, no duplicates", () =>
    Effect.gen(function* () {
      const baseUrl = yield* serve
      const connections = yield* Ref.make<ReadonlyArray<string | undefined>>([])
      // The first events connection of each subscription delivers only its first event (id 0), then ends as a
      // dropped socket would.
      const cutting = Layer.effect(
        HttpClient.HttpClient,
        Effect.map(HttpClient.HttpClient, (http) =>
          HttpClient.transform(http, (response, request) =>
            Effect.gen(function* () {
              const res = yield* response
              if (!request.url.endsWith("/events")) return res
              const previous = yield* Ref.getAndUpdate(connections, (c) => [...c, request.headers["last-event-id"]])
              if (previous.length > 0) return res
              return new Proxy(res, {
                get: (target, key) =>
                  key === "stream" ? firstEventOnly(target.stream) : Reflect.get(target, key, target)
              }) as HttpClientResponse.HttpClientResponse
            })
          )
        )
      ).pipe(Layer.provide(NodeHttpClient.layer))
      const client = yield* WorkflowClient.make({ baseUrl }).pipe(Effect.provide(cutting))
      const { runId } = yield* client.eventflow.startRun({
        path: { name: "approval" },
        payload: { item: "y" },
        urlParams: {}
      })

      // The run waits for a person: the first connection is cut while the run is in the middle.
      const beforeAnswer = yield* collect(
        client
          .events(runId, { reconnect: Schedule.recurs(5) })
          .pipe(Stream.takeUntil((event) => event.type === "InputRequired"))
      )
      yield* client.eventflow.sendEvent({
        path: { id: runId },
        payload: { type: "HumanResponse", data: { response: "fine" } }
      })
      yield* Ref.set(connections, [])
      const resumed = yield* collect(client.events(runId, { reconnect: Schedule.recurs(5) }))
      const seen = yield* Ref.get(connections)
      assert.strictEqual(seen.length, 2)
      assert.strictEqual(seen[0], undefined)
      assert.strictEqual(seen[1], "0")

      const plain = yield* WorkflowClient.make({ baseUrl }).pipe(Effect.provide(NodeHttpClient.layer))
      const reference = yield* collect(plain.events(runId))
      assert.deepStrictEqual(resumed, reference)
      assert.deepStrictEqual(
        ids(resumed),
        resumed.map((_, k) => k)
      )
      assert.deepStrictEqual(beforeAnswer, reference.slice(0, beforeAnswer.length))
      assert.strictEqual(reference[reference.length - 1].type, "StopEvent")
    })
  )
})
