import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { listen, openSse, request } from "./http.js"
import { approval } from "./workflows.js"
import { type Duration, Effect, Layer, TestClock } from "effect"

const serve = (options: { readonly heartbeat?: Duration.DurationInput }) =>
  listen(
    WorkflowServer.layerWithStore({ workflows: [approval], port: 0, ...options }).pipe(
      Layer.provide(RunStore.layerMemory)
    )
  )

const post = (url: string, body: unknown) => request(url, { method: "POST", body })

const open = (url: string) => openSse(url)

/** The events of an SSE text (comment lines such as heartbeats are not events). */
const parseEvents = (text: string) =>
  text
    .split("\n\n")
    .map((block) => block.split("\n").filter((line) => line !== "" && !line.startsWith(":")))
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const fields = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]))
      return { id: fields.get("id"), event: fields.get("event"), data: JSON.parse(fields.get("data") ?? "null") }
    })

describe("GET /runs/{id}/events heartbeats and consumers", () => {
  it.scoped("sends a `: heartbeat` comment every `heartbeat` while the run is idle; events are unaffected", () =>
    Effect.gen(function* () {
      const base = yield* serve({ heartbeat: "2 seconds" })
      const started = yield* post(`${base}/workflows/approval/runs`, { item: "tea" })
      const runId: string = started.body.runId
      const stream = yield* open(`${base}/runs/${runId}/events`)
      assert.strictEqual(stream.status, 200)
      yield* Effect.promise(() => stream.readUntil("event: InputRequired"))
      yield* TestClock.adjust("2 seconds")
      const beforeAnswer = yield* Effect.promise(() => stream.readUntil(": heartbeat\n\n"))
      assert.include(beforeAnswer, "event: InputRequired")
      assert.include(beforeAnswer, ": heartbeat\n\n")
      const sent = yield* post(`${base}/runs/${runId}/events`, {
        type: "HumanResponse",
        data: { response: "yes" }
      })
      assert.strictEqual(sent.status, 202)
      const all = yield* Effect.promise(() => stream.readAll())
      const events = parseEvents(all)
      assert.deepStrictEqual(
        events.map((e) => [e.id, e.event]),
        [
          ["0", "InputRequired"],
          ["1", "StopEvent"]
        ]
      )
      assert.strictEqual(events[1].data.result, "tea: yes")
    })
  )

  it.scoped("by default the first heartbeat comes after 15 seconds (on the clock), not before", () =>
    Effect.gen(function* () {
      const base = yield* serve({})
      const quiet = yield* post(`${base}/workflows/approval/runs`, { item: "tea" })
      const quietStream = yield* open(`${base}/runs/${quiet.body.runId}/events`)
      yield* Effect.promise(() => quietStream.readUntil("event: InputRequired"))
      yield* TestClock.adjust("14 seconds")
      yield* post(`${base}/runs/${quiet.body.runId}/events`, { type: "HumanResponse", data: { response: "no" } })
      const quietText = yield* Effect.promise(() => quietStream.readAll())
      assert.notInclude(quietText, ": heartbeat")
      assert.strictEqual(parseEvents(quietText).length, 2)

      const idle = yield* post(`${base}/workflows/approval/runs`, { item: "coffee" })
      const idleStream = yield* open(`${base}/runs/${idle.body.runId}/events`)
      yield* Effect.promise(() => idleStream.readUntil("event: InputRequired"))
      yield* TestClock.adjust("15 seconds")
      const idleText = yield* Effect.promise(() => idleStream.readUntil(": heartbeat\n\n"))
      assert.include(idleText, ": heartbeat\n\n")
      yield* post(`${base}/runs/${idle.body.runId}/events`, { type: "HumanResponse", data: { response: "yes" } })
      assert.strictEqual(parseEvents(yield* Effect.promise(() => idleStream.readAll())).length, 2)
    })
  )

  it.scoped("several consumers of the same run each receive every event exactly once", () =>
    Effect.gen(function* () {
      const base = yield* serve({})
      const started = yield* post(`${base}/workflows/approval/runs`, { item: "cake" })
      const runId: string = started.body.runId
      const consumers = yield* Effect.all(
        Array.from({ length: 4 }, () => open(`${base}/runs/${runId}/events`)),
        { concurrency: "unbounded" }
      )
      // Every consumer is connected and has seen the prompt before the run goes on.
      for (const consumer of consumers) {
        yield* Effect.promise(() => consumer.readUntil("event: InputRequired"))
      }
      const sent = yield* post(`${base}/runs/${runId}/events`, { type: "HumanResponse", data: { response: "yes" } })
      assert.strictEqual(sent.status, 202)
      const texts = yield* Effect.all(
        consumers.map((consumer) => Effect.promise(() => consumer.readAll())),
        { concurrency: "unbounded" }
      )
      for (const text of texts) {
        const events = parseEvents(text)
        assert.deepStrictEqual(
          events.map((e) => [e.id, e.event]),
          [
            ["0", "InputRequired"],
            ["1", "StopEvent"]
          ]
        )
        assert.strictEqual(events[0].data.prompt, "approve cake?")
        assert.strictEqual(events[1].data.result, "cake: yes")
      }
    })
  )
})
