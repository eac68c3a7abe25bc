/**
 * Load test of `@eventflow/server`: the server runs in this process on 127.0.0.1 (a free port) with an in-memory
 * `RunStore`; a separate load-generator process (`loadClient.ts`) runs `clients` concurrent clients over a
 * keep-alive pool of `clients` connections, which start runs of a one-step workflow with `?wait=true` over real
 * HTTP. A warm-up pass of as many runs (not measured) comes first, then three measured passes. Every answer is checked (status `completed`, the expected
 * result), and `GET /runs` must list every run as completed (none lost). Reports latency percentiles and throughput.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { HttpServer as HttpServerService } from "@effect/platform"
import * as HttpServer from "@effect/platform/HttpServer"
import { defineWorkflow, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Context, Effect, Layer, Schema } from "effect"
import type { LoadClientOutput } from "./loadClient.js"

const double = defineWorkflow({
  name: "double",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Number
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: start.input.n * 2 })), { emits: [StopEvent] })

export interface ServerLoadOptions {
  readonly runs: number
  readonly clients: number
  /** Measured passes of `runs` runs each (after one warm-up pass of as many runs). Default 3. */
  readonly passes?: number | undefined
}

/** The measurements of one pass. */
export interface ServerLoadPass {
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly runsPerSecond: number
}

export interface ServerLoadResult {
  readonly runs: number
  readonly clients: number
  /** Runs answered `completed` with the expected result, over all measured passes. */
  readonly completed: number
  /** Runs of the measured passes listed as completed by `GET /runs` afterwards. */
  readonly listed: number
  /** Runs started (and checked) before the measured ones, to warm the server up. */
  readonly warmup: number
  /** Each measured pass, in order. */
  readonly passes: ReadonlyArray<ServerLoadPass>
  /** The pass with the median throughput. */
  readonly median: ServerLoadPass
}

/** The value at quantile `q` (nearest rank) of sorted values. */
const percentile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]

/** Whether this module runs from its TypeScript source (tests), or compiled (`pnpm bench`). */
const fromSource = import.meta.url.endsWith(".ts")
const clientScript = fileURLToPath(new URL(fromSource ? "./loadClient.ts" : "./loadClient.js", import.meta.url))

/** Runs the load generator in its own process; fails if it fails or prints no result. */
const runClient = (base: string, runs: number, clients: number, first: number) =>
  Effect.async<LoadClientOutput, Error>((resume) => {
    const child = spawn(
      process.execPath,
      [...(fromSource ? ["--import", "tsx"] : []), clientScript, base, String(runs), String(clients), String(first)],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk
    })
    child.on("error", (error) => resume(Effect.fail(error)))
    child.on("exit", (code) => {
      try {
        if (code !== 0) throw new Error(`exit code ${code}`)
        resume(Effect.succeed(JSON.parse(out) as LoadClientOutput))
      } catch (error) {
        resume(Effect.fail(new Error(`the load generator failed (${String(error)}): ${err || out}`)))
      }
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Counts the runs `GET /runs` lists as completed, page by page. */
const listedCompleted = (base: string) =>
  Effect.promise(async () => {
    let count = 0
    for (;;) {
      const response = await fetch(`${base}/runs?workflow=double&status=completed&limit=1000&offset=${count}`)
      const page = (await response.json()) as ReadonlyArray<unknown>
      count += page.length
      if (page.length < 1000) return count
    }
  })

const summarize = (output: LoadClientOutput, runs: number): ServerLoadPass => {
  const sorted = [...output.latencies].sort((a, b) => a - b)
  return {
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    runsPerSecond: (runs / output.elapsedMs) * 1000
  }
}

/** Runs the load test. Fails when a run is lost or answers wrongly. */
export const serverLoad = (options: ServerLoadOptions): Effect.Effect<ServerLoadResult, Error> =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(
        WorkflowServer.layerWithStore({ workflows: [double], port: 0, token: "" }).pipe(
          Layer.provide(RunStore.layerMemory)
        )
      )
      const address = Context.get(context, HttpServer.HttpServer).address as HttpServerService.TcpAddress
      const base = `http://127.0.0.1:${address.port}`
      const { runs, clients } = options
      const warmup = runs
      const warm = yield* runClient(base, warmup, clients, 0)
      const outputs: Array<LoadClientOutput> = []
      for (let pass = 0; pass < (options.passes ?? 3); pass++) {
        outputs.push(yield* runClient(base, runs, clients, warmup + pass * runs))
      }
      const measuredRuns = outputs.length * runs
      const failures = [warm, ...outputs].flatMap((output) => output.failures)
      const completed = outputs.reduce((sum, output) => sum + output.completed, 0)
      const listed = (yield* listedCompleted(base)) - warm.completed
      if (failures.length > 0 || completed !== measuredRuns || listed !== measuredRuns) {
        return yield* Effect.fail(
          new Error(
            `server load: ${completed}/${measuredRuns} runs completed, ${listed}/${measuredRuns} listed; ` +
              failures.slice(0, 3).join("; ")
          )
        )
      }
      const passes = outputs.map((output) => summarize(output, runs))
      const byThroughput = [...passes].sort((a, b) => a.runsPerSecond - b.runsPerSecond)
      return {
        runs,
        clients,
        warmup,
        completed,
        listed,
        passes,
        median: byThroughput[Math.floor((byThroughput.length - 1) / 2)]
      }
    })
  )
