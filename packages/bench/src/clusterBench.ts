/**
 * The cluster section of `pnpm bench` (`cluster`): runs/s and hop latency of durable runs on the cluster engine
 * (`@eventflow/cluster`) with 1 and 2 runner processes, beside the local engine on SQLite, in one run on one machine.
 *
 * - runs/s: `runs` runs of a three-step workflow (`bench-three`), 20 at a time, started and awaited by the bench
 *   process (a client of the cluster: the runner processes host the runs and journal them to PostgreSQL).
 * - hop latency: one run of a loop of `hops` hops (`bench-hops`): each hop is one durable checkpoint; the gap between
 *   two hops is measured in the process that hosts the run; p50 / p99 ms.
 *
 * Each cluster configuration gets a throwaway PostgreSQL server of its own (`PgTestServer`, fsync=on,
 * synchronous_commit=off as in the stores section) and fresh runner processes (`dist/clusterRunner.js`). Without
 * PostgreSQL's server binaries the section is skipped and says so.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createServer } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { ClusterEngine } from "@eventflow/cluster"
import { Workflow } from "@eventflow/core"
import { PgJournalStore, PgTestServer } from "@eventflow/postgres"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Deferred, Effect, Exit, FiberId, Layer, Schedule } from "effect"
import { hops, three } from "./clusterWorkflows.js"

const CONCURRENCY = 20

export interface ClusterBenchOptions {
  readonly runs: number
  readonly hops: number
}

export interface ClusterRow {
  readonly engine: string
  readonly runsPerSecond: number
  readonly hopP50Ms: number
  readonly hopP99Ms: number
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

const runnerScript = fileURLToPath(new URL("./clusterRunner.js", import.meta.url))

/** A runner process on `url`, killed (SIGKILL) with the scope; succeeds once it hosts runs. */
const runner = (url: string) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [runnerScript, url, String(port)], { stdio: ["ignore", "pipe", "pipe"] })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    const ready = Deferred.unsafeMake<void>(FiberId.none)
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8")
      if (out.includes("ready")) Deferred.unsafeDone(ready, Exit.void)
    })
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    child.on("exit", (code) =>
      Deferred.unsafeDone(ready, Exit.die(new Error(`cluster runner exited (${code}): ${out}`)))
    )
    yield* Deferred.await(ready)
  })

/** Waits until `n` runner connections hold the 300 shard locks (advisory locks) of the database. */
const shardsHeldBy = (n: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql
      .unsafe<{ runners: number; shards: number }>(
        `SELECT count(DISTINCT pid)::int AS runners, count(*)::int AS shards FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objid BETWEEN 1000001 AND 1000300
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
      )
      .pipe(
        Effect.orDie,
        Effect.repeat({
          until: (rows) => rows[0]!.runners === n && rows[0]!.shards === 300,
          schedule: Schedule.spaced("200 millis")
        }),
        Effect.timeoutFail({
          duration: "90 seconds",
          onTimeout: () => new Error(`${n} runners did not take the shards`)
        })
      )
  )

/** runs/s of `bench-three` and the hop gaps of one `bench-hops` run, on the engine in context. */
const measure = (options: ClusterBenchOptions) =>
  Effect.gen(function* () {
    // Warm-up: the first runs register the entities, open pools and compile.
    yield* Effect.forEach(
      Array.from({ length: CONCURRENCY }, (_, i) => i),
      (i) => Workflow.run(three, i, { durable: true }),
      {
        concurrency: CONCURRENCY,
        discard: true
      }
    )
    const t0 = performance.now()
    const results = yield* Effect.forEach(
      Array.from({ length: options.runs }, (_, i) => i),
      (i) => Workflow.run(three, i, { durable: true }),
      { concurrency: CONCURRENCY }
    )
    const runsPerSecond = options.runs / ((performance.now() - t0) / 1000)
    if (results.some((r, i) => r !== i + 2)) return yield* Effect.die(new Error("a run returned a wrong result"))
    const gaps = yield* Workflow.run(hops, options.hops, { durable: true })
    if (gaps.length !== options.hops) return yield* Effect.die(new Error(`${gaps.length} hops of ${options.hops}`))
    return { runsPerSecond, hopP50Ms: percentile(gaps, 50), hopP99Ms: percentile(gaps, 99) }
  })

const cluster = (runners: number, options: ClusterBenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* PgTestServer.make({
        settings: { fsync: "on", synchronous_commit: "off", full_page_writes: "on" }
      })
      const client = PgJournalStore.clientLayer({ url: server.url, maxConnections: 2 })
      for (let i = 0; i < runners; i++) yield* runner(server.url)
      yield* Effect.provide(shardsHeldBy(runners), client)
      const result = yield* measure(options).pipe(
        Effect.provide(ClusterEngine.layer({ workflows: [three, hops], postgres: { url: server.url } }))
      )
      return {
        engine: `cluster, ${runners} runner${runners > 1 ? "s" : ""} (PostgreSQL)`,
        ...result
      } satisfies ClusterRow
    })
  )

const local = (options: ClusterBenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-cluster-bench-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const result = yield* measure(options).pipe(
        Effect.provide(SqliteRunStore.layer({ filename: path.join(dir, "runs.db") }))
      )
      return { engine: "local engine (SQLite file)", ...result } satisfies ClusterRow
    })
  )

/** The rows of the section, or `skipped` with the reason when PostgreSQL's server binaries are missing. */
export const clusterBench = (
  options: ClusterBenchOptions
): Effect.Effect<{ readonly rows: ReadonlyArray<ClusterRow> } | { readonly skipped: string }, unknown> =>
  Effect.gen(function* () {
    const missing = yield* Effect.scoped(PgTestServer.make()).pipe(
      Effect.as(undefined),
      Effect.catchTag("PgTestServerError", (error) => Effect.succeed(error.message))
    )
    if (missing !== undefined) return { skipped: missing }
    const rows = [yield* local(options), yield* cluster(1, options), yield* cluster(2, options)]
    return { rows }
  }).pipe(Effect.provide(Layer.empty))

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))

export const clusterTable = (
  result: { readonly rows: ReadonlyArray<ClusterRow> } | { readonly skipped: string },
  options: ClusterBenchOptions
): string =>
  "skipped" in result
    ? `Cluster: SKIPPED (no PostgreSQL server binaries: ${result.skipped})`
    : [
        `Cluster (one run; durable runs; runs/s: ${options.runs} runs of 3 steps, ${CONCURRENCY} at a time, started and ` +
          `awaited by this process; hop latency: one run of ${options.hops} hops, the gap between two hops measured ` +
          "where the run is hosted):",
        "",
        "| Engine | Runs/s | Hop p50 | Hop p99 |",
        "| --- | --- | --- | --- |",
        ...result.rows.map(
          (r) => `| ${r.engine} | ${fmt(r.runsPerSecond)} | ${r.hopP50Ms.toFixed(2)} ms | ${r.hopP99Ms.toFixed(2)} ms |`
        )
      ].join("\n")
