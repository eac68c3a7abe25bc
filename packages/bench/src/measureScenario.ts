/**
 * Measures one scenario of one implementation in the current process: a warm-up at a small size (checked), a full
 * garbage collection, then the measured call (checked), turned into the metrics of {@link scenarios}.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fullGc, heapUsed, now, RssPeak } from "./measure.js"
import {
  chainLength,
  checks,
  durableLoopShort,
  type Implementation,
  type ScenarioId,
  type Sizes,
  WrongResultError,
  warmupBudgetMs,
  warmupRounds,
  warmupSizes
} from "./scenarios.js"

export type Metrics = Record<string, number>

const perSecond = (count: number, ms: number): number => count / (ms / 1000)

/** A fresh SQLite file for each durable round, in a temporary directory of the cell. */
type NextFile = () => string

const once = async (impl: Implementation, id: ScenarioId, size: number, nextFile: NextFile): Promise<Metrics> => {
  switch (id) {
    case "S1": {
      const start = now()
      const results = await impl.chain(size)
      const ms = now() - start
      checks.chain(results, size)
      return { runsPerSec: perSecond(size, ms), usPerHop: (ms * 1000) / (size * chainLength) }
    }
    case "S1t": {
      if (impl.tracedChain === undefined) throw new Error(`${impl.name} has no telemetry`)
      const start = now()
      const { results, spans } = await impl.tracedChain(size)
      const ms = now() - start
      checks.chain(results, size)
      // Per run: the root, the caller's Workflow.run span and one span per step.
      const expected = size * (chainLength + 2)
      if (spans !== expected) throw new WrongResultError("S1t chain", `${spans} spans exported, expected ${expected}`)
      return { runsPerSec: perSecond(size, ms), usPerHop: (ms * 1000) / (size * chainLength) }
    }
    case "S2": {
      const start = now()
      const result = await impl.fanOut(size)
      const ms = now() - start
      checks.fanOut(result, size)
      return { wallMs: ms, eventsPerSec: perSecond(size, ms) }
    }
    case "S3":
    case "S3s": {
      const start = now()
      const n = await impl.loop(size)
      const ms = now() - start
      checks.loop(n, size)
      return { hopsPerSec: perSecond(size, ms), usPerHop: (ms * 1000) / size }
    }
    case "S4": {
      fullGc()
      const baseline = process.memoryUsage.rss()
      const peak = new RssPeak()
      const start = now()
      const results = await impl.concurrent(size)
      const ms = now() - start
      const peakRss = peak.stop()
      checks.concurrent(results, size)
      return { wallMs: ms, runsPerSec: perSecond(size, ms), peakRssMb: (peakRss - baseline) / 2 ** 20 }
    }
    case "S5":
    case "S5e":
    case "S5f":
    case "S5m": {
      fullGc()
      const baseline = heapUsed()
      let waitingAt = Number.NaN
      let resumedAt = Number.NaN
      let heapWaiting = Number.NaN
      const start = now()
      const measured =
        id === "S5"
          ? impl.suspended
          : id === "S5e"
            ? impl.suspendedFollowed
            : id === "S5f"
              ? impl.suspendedFollowedCallback
              : impl.suspendedFollowedShared
      if (measured === undefined) throw new Error(`${impl.name} has no follow callback API`)
      const results = await measured(size, () => {
        waitingAt = now()
        fullGc()
        heapWaiting = heapUsed()
        resumedAt = now()
      })
      const end = now()
      checks.suspended(results, size)
      if (Number.isNaN(waitingAt)) throw new WrongResultError("S5 suspended", "onAllWaiting was never called")
      return {
        kbPerRun: (heapWaiting - baseline) / size / 1024,
        waitingMs: waitingAt - start,
        finishMs: end - resumedAt
      }
    }
    case "S6":
    case "S6nt": {
      if (impl.durableChain === undefined) throw new Error(`${impl.name} has no durable runs`)
      const filename = nextFile()
      const start = now()
      const results = await impl.durableChain(size, filename, { trace: id === "S6" })
      const ms = now() - start
      checks.durableChain(results, size)
      return { runsPerSec: perSecond(size, ms), usPerHop: (ms * 1000) / (size * chainLength) }
    }
    case "S6L": {
      if (impl.durableLoop === undefined) throw new Error(`${impl.name} has no durable runs`)
      const filename = nextFile()
      const shortHops = Math.min(durableLoopShort, size)
      const size0 = () => {
        let bytes = 0
        for (const file of [filename, `${filename}-wal`]) if (existsSync(file)) bytes += statSync(file).size
        return bytes
      }
      const [short, long] = await impl.durableLoop([shortHops, size], filename)
      checks.durableLoop(short.result, shortHops)
      checks.durableLoop(long.result, size)
      const usShort = (short.ms * 1000) / shortHops
      const usLong = (long.ms * 1000) / size
      return {
        usPerHopShort: usShort,
        usPerHopLong: usLong,
        flatness: usLong / usShort,
        bytesPerHop: size0() / (size + shortHops)
      }
    }
  }
}

/**
 * Warms up (rounds at {@link warmupSizes}, checked, until {@link warmupRounds} rounds or {@link warmupBudgetMs}
 * have passed), collects garbage, then measures at `sizes`. The JIT needs tens of thousands of hops before the cost
 * per hop settles; without the warm-up a short scenario would mostly measure compilation.
 *
 * The durable scenarios (S6) write every round to a new SQLite file in a fresh temporary directory, removed at the
 * end, so the measured round starts on an empty file.
 */
export const measureScenario = async (impl: Implementation, id: ScenarioId, sizes: Sizes): Promise<Metrics> => {
  let dir: string | undefined
  let files = 0
  const nextFile = () => {
    dir ??= mkdtempSync(join(tmpdir(), "eventflow-bench-"))
    return join(dir, `runs-${files++}.db`)
  }
  try {
    const start = now()
    for (let round = 0; round < warmupRounds && now() - start < warmupBudgetMs; round++) {
      await once(impl, id, Math.min(warmupSizes[id], sizes[id]), nextFile)
    }
    fullGc()
    return await once(impl, id, sizes[id], nextFile)
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
}
