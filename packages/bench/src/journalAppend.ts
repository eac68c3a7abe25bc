/**
 * Append cost of the SQLite journal store, per entry, for journals of 100 and of 10,000 entries: each hop of a
 * durable loop appends one `InvocationCompleted` (one returned event, one `ctx.write`, the state) in its own
 * transaction, as the journal engine will. Next to it, for the same hops, today's checkpoint: `RunStore.save` of a
 * snapshot whose published log grows by one event per hop.
 *
 *   node --conditions=source --import tsx packages/bench/src/journalAppend.ts
 *
 * Prints one line per measurement: µs per append (median of 5 rounds, each on a new file) and the file size.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Journal, JournalStore, RunStore, type Snapshot } from "@eventflow/core"
import { SqliteJournalStore, SqliteRunStore } from "@eventflow/sqlite"
import { Effect } from "effect"

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
    at: 1_700_000_000_000 + i,
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

const snapshotAt = (runId: string, i: number, published: Array<unknown>): Snapshot.Snapshot => ({
  version: 1,
  workflow: "loop",
  runId,
  status: "running",
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000 + i,
  state: { n: i + 1 },
  external: 0,
  queued: [],
  inFlight: [
    {
      step: "loop",
      eventId: `~hop${i + 1}`,
      event: { _tag: "Ping", n: i + 1 },
      attempts: 0,
      emitted: 0,
      writes: 0,
      waits: 0,
      answers: [],
      collects: []
    }
  ],
  collected: [],
  waiters: [],
  pending: [],
  unclaimed: [],
  published
})

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

interface Round {
  /** µs per append over the whole round. */
  readonly us: number
  /** µs per append over the first and the last 100 appends of the round. */
  readonly first: number
  readonly last: number
  /** The file's size after the store is closed (WAL checkpointed). */
  readonly bytes: number
}

const withFile = (body: (filename: string) => Effect.Effect<Array<number>, unknown>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-journal-bench-"))),
    (dir) => {
      const filename = path.join(dir, "runs.db")
      return Effect.map(body(filename), (times): Round => {
        const per = (xs: ReadonlyArray<number>) => (xs.reduce((a, b) => a + b, 0) * 1000) / xs.length
        return {
          us: per(times),
          first: per(times.slice(0, 100)),
          last: per(times.slice(-100)),
          bytes: fs.statSync(filename).size
        }
      })
    },
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Runs `append` for hops 0 to n - 1 and returns the time of each, in ms. */
const timed = <E, R>(n: number, append: (i: number) => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function* () {
    const times: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      yield* append(i)
      times.push(performance.now() - t0)
    }
    return times
  })

const journalRound = (hops: number) =>
  withFile((filename) =>
    Effect.gen(function* () {
      const store = yield* JournalStore.JournalStore
      yield* store.append("run", [started("run")])
      return yield* timed(hops, (i) => store.append("run", [hop(i)]))
    }).pipe(Effect.provide(SqliteJournalStore.layer({ filename })))
  )

const snapshotRound = (hops: number) =>
  withFile((filename) =>
    Effect.gen(function* () {
      const store = yield* RunStore.RunStore
      const published: Array<unknown> = []
      return yield* timed(hops, (i) => {
        published.push({ _tag: "Progress", text: `hop ${i} of the loop, a token or two`, n: i })
        return store.save(snapshotAt("run", i, published))
      })
    }).pipe(Effect.provide(SqliteRunStore.layer({ filename })))
  )

const fmt = (n: number) => n.toFixed(0).padStart(6)

const report = (name: string, hops: number, rounds: ReadonlyArray<Round>) => {
  const us = rounds.map((r) => r.us)
  process.stdout.write(
    `${name.padEnd(22)} ${String(hops).padStart(6)} appends: median ${fmt(median(us))} µs, min ${fmt(Math.min(...us))} µs` +
      ` per append; first 100 ${fmt(median(rounds.map((r) => r.first)))} µs, last 100 ${fmt(
        median(rounds.map((r) => r.last))
      )} µs; file ${(median(rounds.map((r) => r.bytes)) / 1024).toFixed(0)} KiB\n`
  )
  return median(us)
}

const program = Effect.gen(function* () {
  yield* journalRound(200) // warm-up
  // Rounds of both sizes alternate, so that the load of a shared machine weighs on both alike.
  const small: Array<Round> = []
  const large: Array<Round> = []
  const snapSmall: Array<Round> = []
  const snapLarge: Array<Round> = []
  for (let r = 0; r < 5; r++) {
    small.push(yield* journalRound(100))
    large.push(yield* journalRound(10_000))
    snapSmall.push(yield* snapshotRound(100))
    snapLarge.push(yield* snapshotRound(2_000))
  }
  const a = report("journal append", 100, small)
  const b = report("journal append", 10_000, large)
  process.stdout.write(`journal: µs per append at 10,000 / at 100 = ${(b / a).toFixed(2)}\n`)
  const c = report("snapshot save (today)", 100, snapSmall)
  const d = report("snapshot save (today)", 2_000, snapLarge)
  process.stdout.write(`snapshot: µs per save at 2,000 / at 100 = ${(d / c).toFixed(2)}\n`)
})

Effect.runPromise(program).catch((error) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
