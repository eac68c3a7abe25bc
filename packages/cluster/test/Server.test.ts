import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { freePort, freshDatabase, spawnServer } from "./utils.js"

interface RunInfo {
  readonly runId: string
  readonly status: string
  readonly pending: ReadonlyArray<{ readonly requestId: string }>
  readonly result?: unknown
}

const json = <A>(url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, { ...init, headers: { "content-type": "application/json" } })
    return { status: response.status, body: (await response.json()) as A }
  })

/** The `data:` payloads of an SSE response until the stream ends (after the run's terminal event). */
const sseEvents = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers: { accept: "text/event-stream" } })
    const text = await response.text()
    return text
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => JSON.parse(line.slice(6)) as { readonly _tag: string })
  })

describe("WorkflowServer on the cluster engine, two server processes", () => {
  it.live(
    "a run started through one server is followed over SSE and answered through the other, and completes",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const [httpA, httpB] = [yield* freePort, yield* freePort]
        const a = yield* spawnServer(url, yield* freePort, httpA)
        const b = yield* spawnServer(url, yield* freePort, httpB)
        yield* a.ready
        yield* b.ready
        // On a failure, what the two server processes printed (a process that died says why).
        yield* Effect.addFinalizer((exit) =>
          exit._tag === "Failure"
            ? Effect.sync(() => console.error(`server A:\n${a.output()}\nserver B:\n${b.output()}`))
            : Effect.void
        )
        const started = yield* json<RunInfo>(`http://127.0.0.1:${httpA}/workflows/cluster-job/runs?wait=true`, {
          method: "POST",
          body: JSON.stringify({ width: 2, rounds: 1, workMillis: 0 })
        })
        expect(started.status).toBe(200)
        expect(started.body.status).toBe("waiting")
        const runId = started.body.runId
        const requestId = started.body.pending[0]!.requestId
        // Followed over SSE through server B (its runs' journal, from any process) while B answers.
        const events = yield* Effect.fork(sseEvents(`http://127.0.0.1:${httpB}/runs/${runId}/events`))
        const seenOnB = yield* json<RunInfo>(`http://127.0.0.1:${httpB}/runs/${runId}`)
        expect(seenOnB.body).toMatchObject({ runId, status: "waiting", pending: [{ requestId }] })
        const answered = yield* json(`http://127.0.0.1:${httpB}/runs/${runId}/events`, {
          method: "POST",
          body: JSON.stringify({ type: "HumanResponse", data: { response: "approved", requestId } })
        })
        expect(answered.status).toBe(202)
        const tags = (yield* events.await.pipe(Effect.flatten)).map((e) => e._tag)
        expect(tags.filter((t) => t === "InputRequired")).toHaveLength(1)
        expect(tags.at(-1)).toBe("StopEvent")
        // Server A sees the run completed with its result (it left the engine: read from the store on the journal).
        const done = yield* json<RunInfo>(`http://127.0.0.1:${httpA}/runs/${runId}`).pipe(
          Effect.filterOrFail((r) => r.body.status === "completed"),
          Effect.retry(Schedule.spaced("100 millis")),
          Effect.timeout("30 seconds")
        )
        expect(done.body).toMatchObject({ status: "completed", result: { rounds: 1, answers: ["approved"] } })
      }).pipe(Effect.scoped),
    120_000
  )
})
