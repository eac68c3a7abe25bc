/**
 * The stores side by side (`pnpm bench` section `stores`): the SQLite journal store on a file and the PostgreSQL one
 * on a throwaway local server (`PgTestServer`, started here and stopped after), in one run on one machine.
 *
 * - append latency: one writer appends one `InvocationCompleted` per append (its own transaction) to one run, as a
 *   durable loop does; p50 / p99 µs per append.
 * - journal runs/s: runs whose journal is `RunStarted`, 8 hops and `RunEnded` (10 appends each), 20 runs at a time.
 * - fenced append: the same as append latency through `claim` / `appendFenced`.
 * - durable runs/s: today's engine running a three-step workflow with `durable: true` on the `RunStore` of each
 *   (a checkpoint per step), 20 runs at a time.
 *
 * PostgreSQL runs with `fsync=on` and `synchronous_commit=off`, the counterpart of SQLite's WAL with
 * `synchronous=NORMAL` (a commit is not flushed to disk before it returns; a crash of the machine, not of the
 * process, can lose the last commits).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  defineWorkflow,
  Event,
  Journal,
  JournalStore,
  type RunStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { PgJournalStore, PgRunStore, PgTestServer } from "@eventflow/postgres"
import { SqliteJournalStore, SqliteRunStore } from "@eventflow/sqlite"
import { Effect, type Layer, Schema } from "effect"

const started = (runId: string): Journal.Entry => ({
  _tag: "RunStarted",
  id: Journal.ids.runStarted,
  version: Journal.version,
  runId,
  workflow: "loop",
  signature: "0".repeat(56),
  input: { topic: "a durable loop" },
  state: { n: 0 },
  options: { trace: false }
})

const hop = (i: number): Journal.Entry => {
  const eventId = i === 0 ? "0" : `~hop${i}`
  return {
    _tag: "InvocationCompleted",
    id: Journal.ids.invocationCompleted("loop", eventId),
    step: "loop",
    eventId,
    tag: i === 0 ? "StartEvent" : "Ping",
    attempts: 1,
    events: [{ id: `~hop${i + 1}`, event: { _tag: "Ping", n: i + 1 } }],
    sends: [],
    writes: [{ index: 0, event: { _tag: "Progress", text: `hop ${i} of the loop, a token or two`, n: i } }],
    state: { n: i + 1 }
  }
}

const ended: Journal.Entry = { _tag: "RunEnded", id: Journal.ids.runEnded, status: "completed", result: { n: 8 } }

const Middle = Event.define("Middle", { n: Schema.Number })
const Last = Event.define("Last", { n: Schema.Number })

const threeSteps = defineWorkflow({
  name: "three-steps",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Number
})
  .step(StartEvent, (start) => Effect.succeed(Middle.make({ n: start.input.n + 1 })), { name: "a", emits: [Middle] })
  .step(Middle, (e) => Effect.succeed(Last.make({ n: e.n + 1 })), { name: "b", emits: [Last] })
  .step(Last, (e) => Effect.succeed(StopEvent.make({ result: e.n + 1 })), { name: "c", emits: [StopEvent] })

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

export interface StoreRow {
  readonly store: string
  readonly appendP50Us: number
  readonly appendP99Us: number
  readonly fencedP50Us: number
  readonly journalRunsPerSecond: number
  readonly durableRunsPerSecond: number
}

export interface StoreBenchOptions {
  readonly appends: number
  readonly runs: number
}

const CONCURRENCY = 20

const measure = (
  name: string,
  journal: Layer.Layer<JournalStore.JournalStore, unknown>,
  runStore: Layer.Layer<RunStore.RunStore, unknown>,
  options: StoreBenchOptions
) =>
  Effect.gen(function* () {
    const { appendTimes, fencedTimes, journalRunsPerSecond } = yield* Effect.gen(function* () {
      const store = yield* JournalStore.JournalStore
      // Warm-up: a run of its own.
      yield* store.append("warm-up", [started("warm-up")])
      for (let i = 0; i < 50; i++) yield* store.append("warm-up", [hop(i)])
      const appendTimes: Array<number> = []
      yield* store.append("latency", [started("latency")])
      for (let i = 0; i < options.appends; i++) {
        const t0 = performance.now()
        yield* store.append("latency", [hop(i)])
        appendTimes.push((performance.now() - t0) * 1000)
      }
      const writer = yield* JournalStore.claimWriter(store, "fenced")
      const fencedTimes: Array<number> = []
      yield* writer.append([started("fenced")])
      for (let i = 0; i < options.appends; i++) {
        const t0 = performance.now()
        yield* writer.append([hop(i)])
        fencedTimes.push((performance.now() - t0) * 1000)
      }
      const t0 = performance.now()
      yield* Effect.forEach(
        Array.from({ length: options.runs }, (_, r) => `run-${r}`),
        (runId) =>
          Effect.gen(function* () {
            yield* store.append(runId, [started(runId)])
            for (let i = 0; i < 8; i++) yield* store.append(runId, [hop(i)])
            yield* store.append(runId, [ended])
          }),
        { concurrency: CONCURRENCY, discard: true }
      )
      const journalRunsPerSecond = options.runs / ((performance.now() - t0) / 1000)
      const ends = (yield* store.list({ status: ["completed"] })).length
      if (ends !== options.runs) return yield* Effect.die(new Error(`${name}: ${ends} of ${options.runs} runs ended`))
      return { appendTimes, fencedTimes, journalRunsPerSecond }
    }).pipe(Effect.provide(journal))
    const durableRunsPerSecond = yield* Effect.gen(function* () {
      const runOne = (n: number) =>
        Workflow.run(threeSteps, { n }, { durable: true }).pipe(
          Effect.flatMap((result) =>
            result === n + 3 ? Effect.void : Effect.die(new Error(`${name}: run ${n} returned ${result}`))
          )
        )
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, n) => n),
        runOne,
        { concurrency: CONCURRENCY }
      )
      const t0 = performance.now()
      yield* Effect.forEach(
        Array.from({ length: options.runs }, (_, n) => n),
        runOne,
        { concurrency: CONCURRENCY, discard: true }
      )
      return options.runs / ((performance.now() - t0) / 1000)
    }).pipe(Effect.provide(runStore))
    return {
      store: name,
      appendP50Us: percentile(appendTimes, 50),
      appendP99Us: percentile(appendTimes, 99),
      fencedP50Us: percentile(fencedTimes, 50),
      journalRunsPerSecond,
      durableRunsPerSecond
    } satisfies StoreRow
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-store-bench-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Measures both stores, SQLite first, each on a new file / database. */
export const storeBench = (options: StoreBenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* tempDir
      const sqliteFile = path.join(dir, "runs.db")
      const sqlite = yield* measure(
        "SQLite (file, WAL)",
        SqliteJournalStore.layer({ filename: sqliteFile }),
        SqliteRunStore.layer({ filename: sqliteFile }),
        options
      )
      const server = yield* PgTestServer.make({
        settings: { fsync: "on", synchronous_commit: "off", full_page_writes: "on" }
      })
      const postgres = yield* measure(
        "PostgreSQL 127.0.0.1",
        PgJournalStore.layer({ url: server.url }),
        PgRunStore.layer({ url: server.url }),
        options
      )
      return [sqlite, postgres] as const
    })
  )

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))

export const storeTable = (rows: ReadonlyArray<StoreRow>, options: StoreBenchOptions): string =>
  [
    "Stores (one run; the journal store and the `RunStore` of each, on this machine; PostgreSQL is a local server " +
      "with fsync=on, synchronous_commit=off, like SQLite's WAL with synchronous=NORMAL; " +
      `${options.appends} sequential appends for latency; ${options.runs} runs, ${CONCURRENCY} at a time, for runs/s):`,
    "",
    "| Store | Append p50 | Append p99 | Fenced append p50 | Journal runs/s (10 appends each) | Durable runs/s (3 steps, today's engine) |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.store} | ${fmt(r.appendP50Us)} µs | ${fmt(r.appendP99Us)} µs | ${fmt(r.fencedP50Us)} µs | ` +
        `${fmt(r.journalRunsPerSecond)} | ${fmt(r.durableRunsPerSecond)} |`
    )
  ].join("\n")
