import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber } from "effect"
import { freshDatabase, spawnFixture } from "./utils.js"

/** A server process of `fixtures/pg-server.ts` on `store` (its args), SIGKILLed when the scope closes: its URL. */
const spawnServer = (store: ReadonlyArray<string>) =>
  Effect.flatMap(spawnFixture("pg-server.ts", store), (child) =>
    Effect.map(child.line, (line) => `http://127.0.0.1:${(JSON.parse(line) as { readonly port: number }).port}`)
  )

const request = (base: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    return { status: response.status, body: (await response.json()) as any }
  })

/** One Server-Sent Event as a client reads it. */
interface Received {
  readonly id: string
  readonly event: string
  readonly data: unknown
}

/**
 * Reads a run's SSE to its end (the connection closes after the terminal event), from the start or after
 * `lastEventId`; `onEvent` sees each event as it arrives.
 */
const events = (base: string, runId: string, lastEventId?: string, onEvent?: (event: Received) => void) =>
  Effect.promise(async (signal) => {
    const response = await fetch(`${base}/runs/${runId}/events`, {
      signal,
      headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId }
    })
    if (response.status !== 200) throw new Error(`GET /runs/${runId}/events: ${response.status}`)
    const received: Array<Received> = []
    const decoder = new TextDecoder()
    let buffer = ""
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end = buffer.indexOf("\n\n")
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        end = buffer.indexOf("\n\n")
        const fields = new Map<string, string>()
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue
          const colon = line.indexOf(": ")
          fields.set(line.slice(0, colon), line.slice(colon + 2))
        }
        if (!fields.has("id")) continue
        const event = { id: fields.get("id")!, event: fields.get("event")!, data: JSON.parse(fields.get("data")!) }
        received.push(event)
        onEvent?.(event)
      }
    }
    return received
  })

/**
 * The scenario on two server processes sharing `store`: a run started through A is followed over SSE through A,
 * through B from the start and through B from a `Last-Event-ID` in the middle; while it waits for a person, B
 * answers its status and refuses a send (the run is hosted by A); the person answers through A; every follower
 * reads to the end.
 */
const acrossServers = (store: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const [a, b] = yield* Effect.all([spawnServer(store), spawnServer(store)], { concurrency: 2 })
    const started = yield* request(a, "POST", "/workflows/relay/runs", { hops: 4 })
    assert.strictEqual(started.status, 200, JSON.stringify(started.body))
    const runId: string = started.body.runId
    const prompted = yield* Deferred.make<void>()
    const viaA = yield* Effect.fork(events(a, runId))
    const viaB = yield* Effect.fork(
      events(b, runId, undefined, (event) => {
        if (event.event === "InputRequired") Deferred.unsafeDone(prompted, Effect.void)
      }).pipe(
        // Ended (or failed) before the prompt: fail the wait below instead of hanging (a no-op after the prompt).
        Effect.onExit((exit) =>
          Deferred.die(
            prompted,
            new Error(
              Exit.isSuccess(exit)
                ? `B's event stream ended before the prompt, after: ${exit.value.map((e) => e.event).join(", ")}`
                : `B's event stream failed before the prompt: ${Cause.pretty(exit.cause)}`
            )
          )
        )
      )
    )
    yield* Deferred.await(prompted)

    // B does not host the run: it reads its status from the store, and refuses a send, saying why.
    const status = yield* request(b, "GET", `/runs/${runId}`)
    assert.strictEqual(status.status, 200, JSON.stringify(status.body))
    assert.strictEqual(status.body.status, "waiting")
    assert.deepStrictEqual(
      status.body.pending.map((p: any) => p.prompt.prompt),
      ["go on?"]
    )
    const refused = yield* request(b, "POST", `/runs/${runId}/events`, {
      type: "HumanResponse",
      data: { response: "from b" }
    })
    assert.strictEqual(refused.status, 409)
    assert.include(refused.body.message, "hosted by another process")
    const fromMiddle = yield* Effect.fork(events(b, runId, "2"))

    const answered = yield* request(a, "POST", `/runs/${runId}/events`, {
      type: "HumanResponse",
      data: { response: "yes" }
    })
    assert.strictEqual(answered.status, 202, JSON.stringify(answered.body))
    const seenByA = yield* Fiber.join(viaA)
    const seenByB = yield* Fiber.join(viaB)
    const seenFromMiddle = yield* Fiber.join(fromMiddle)

    assert.strictEqual(seenByA.at(-1)?.event, "StopEvent")
    assert.deepStrictEqual(seenByA.at(-1)?.data, { _tag: "StopEvent", result: "done: yes" })
    assert.deepStrictEqual(
      seenByA.map((e) => e.id),
      seenByA.map((_, i) => String(i))
    )
    assert.deepStrictEqual(
      seenByA.filter((e) => e.event === "Progress").map((e) => [(e.data as any).phase, (e.data as any).i]),
      [
        [1, 0],
        [1, 1],
        [1, 2],
        [1, 3],
        [2, 0],
        [2, 1],
        [2, 2],
        [2, 3]
      ]
    )
    assert.deepStrictEqual(seenByB, seenByA)
    assert.deepStrictEqual(seenFromMiddle, seenByA.slice(3))
    const ended = yield* request(b, "GET", `/runs/${runId}`)
    assert.strictEqual(ended.body.status, "completed")
  }).pipe(Effect.scoped)

describe("server processes sharing a store", () => {
  it.live(
    "PostgreSQL: a run started through server A is followed over SSE through server B (from 0 and from a Last-Event-ID) with A's ids, to the end, answered through A",
    () => Effect.flatMap(freshDatabase, ({ url }) => acrossServers([url])).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "SQLite file: a run started through server A is followed over SSE through server B (from 0 and from a Last-Event-ID) with A's ids, to the end, answered through A",
    () =>
      Effect.acquireUseRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "eventflow-shared-"))),
        (dir) => acrossServers(["--sqlite", join(dir, "runs.db")]),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ),
    180_000
  )
})
