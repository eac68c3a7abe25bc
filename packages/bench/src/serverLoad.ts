/**
 * Load test of `@eventflow/server`: the server runs in this process on 127.0.0.1 (a free port) with an in-memory
 * `RunStore`; `clients` concurrent clients start `runs` runs of a one-step workflow with `?wait=true` over real HTTP.
 * Every answer is checked (status `completed`, the expected result), and `GET /runs` must list every run as
 * completed (none lost). Reports the latency percentiles of the requests and the throughput.
 */
import type { HttpServer as HttpServerService } from "@effect/platform"
import * as HttpServer from "@effect/platform/HttpServer"
import { defineWorkflow, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Context, Effect, Layer, Schema } from "effect"

const double = defineWorkflow({
  name: "double",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Number
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: start.input.n * 2 })), { emits: [StopEvent] })

export interface ServerLoadOptions {
  readonly runs: number
  readonly clients: number
}

export interface ServerLoadResult {
  readonly runs: number
  readonly clients: number
  /** Runs answered `completed` with the expected result. */
  readonly completed: number
  /** Runs listed as completed by `GET /runs` afterwards. */
  readonly listed: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly runsPerSecond: number
}

/** The value at quantile `q` (nearest rank) of sorted values. */
const percentile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]

const load = async (base: string, { clients, runs }: ServerLoadOptions) => {
  const latencies: Array<number> = []
  let next = 0
  let completed = 0
  const failures: Array<string> = []
  const client = async () => {
    while (next < runs) {
      const n = next++
      const started = performance.now()
      const response = await fetch(`${base}/workflows/double/runs?wait=true`, {
        method: "POST",
        body: JSON.stringify({ n }),
        headers: { "content-type": "application/json" }
      })
      const body = (await response.json()) as { readonly status?: unknown; readonly result?: unknown }
      latencies.push(performance.now() - started)
      if (response.status === 200 && body.status === "completed" && body.result === n * 2) completed++
      else failures.push(`run ${n}: HTTP ${response.status} ${JSON.stringify(body)}`)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: clients }, client))
  const elapsedMs = performance.now() - started
  const listed = (await (await fetch(`${base}/runs?workflow=double&status=completed&limit=1000`)).json()) as Array<{
    readonly runId: string
  }>
  return { latencies, completed, failures, elapsedMs, listed: listed.length }
}

/**
 * Runs the load test. Fails when a run is lost or answers wrongly. `runs` must be at most 1000 (the page size of
 * `GET /runs`).
 */
export const serverLoad = (options: ServerLoadOptions): Effect.Effect<ServerLoadResult, Error> =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(
        WorkflowServer.layer({ workflows: [double], port: 0, token: "" }).pipe(Layer.provide(RunStore.layerMemory))
      )
      const address = Context.get(context, HttpServer.HttpServer).address as HttpServerService.TcpAddress
      const outcome = yield* Effect.promise(() => load(`http://127.0.0.1:${address.port}`, options))
      if (outcome.failures.length > 0 || outcome.completed !== options.runs || outcome.listed !== options.runs) {
        return yield* Effect.fail(
          new Error(
            `server load: ${outcome.completed}/${options.runs} runs completed, ${outcome.listed} listed; ` +
              outcome.failures.slice(0, 3).join("; ")
          )
        )
      }
      const sorted = [...outcome.latencies].sort((a, b) => a - b)
      return {
        runs: options.runs,
        clients: options.clients,
        completed: outcome.completed,
        listed: outcome.listed,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        runsPerSecond: (options.runs / outcome.elapsedMs) * 1000
      }
    })
  )
