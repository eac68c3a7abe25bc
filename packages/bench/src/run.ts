/**
 * `pnpm bench`: runs every cell (implementation × scenario × repetition, plus the microbenchmarks) in a fresh
 * `node --expose-gc dist/cell.js` process, repetitions interleaved (repetition 1 of every cell, then 2, ...), and
 * prints one Markdown table of medians and ranges. Saves `.bench-results/latest.json` and `.bench-results/latest.md`
 * at the repository root.
 *
 * Then, unless `BENCH_ONLY` leaves it out, the server load test (`load`, see `serverLoad.ts`) runs once in this
 * process and prints its own small table: passes of 500 runs started by 50 concurrent clients (`BENCH_QUICK`: 50 by
 * 10), the clients in a separate process.
 *
 * Then, unless `BENCH_ONLY` leaves it out, the stores section (`stores`, see `storeBench.ts`): SQLite and
 * PostgreSQL journal stores side by side (append latency, runs/s), PostgreSQL on a throwaway local server.
 *
 * Then, unless `BENCH_ONLY` leaves it out, the cluster section (`cluster`, see `clusterBench.ts`): runs/s and hop
 * latency on the cluster engine with 1 and 2 runner processes beside the local engine on SQLite (skipped, and
 * printed as such, without PostgreSQL's server binaries).
 *
 * Environment: `BENCH_REPS` (default 5), `BENCH_ONLY=S1,S3,micro,load,stores` (scenario ids, microbenchmark ids,
 * `micro`, `load`, `stores` or `cluster`; `S6` selects both durable rows),
 * `BENCH_QUICK=1` (smaller sizes, for a sanity pass), `BENCH_TIMEOUT_MS` (per cell process, default 30000),
 * `BENCH_BASELINE=<another checkout>`: eventflow's cells also run from that checkout's built `packages/bench/dist/cell.js`
 * (`pnpm install && pnpm exec tsc -b` there first), interleaved with this one's, and the table gains a column for it
 * and the ratio `eventflow ÷ baseline`: before and after a change, measured in one run. `BENCH_IMPLS=eventflow,…`
 * runs only those implementations.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import {
  fullSizes,
  type ImplName,
  implNames,
  type MetricSpec,
  micros,
  quickSizes,
  runsScenario,
  type ScenarioSpec,
  scenarios,
  warmupBudgetMs,
  warmupRounds,
  warmupSizes
} from "./scenarios.js"
import { type ServerLoadPass, type ServerLoadResult, serverLoad } from "./serverLoad.js"
import { clusterBench, clusterTable } from "./clusterBench.js"
import { storeBench, storeTable } from "./storeBench.js"

const reps = Number(process.env.BENCH_REPS ?? 5)
const quick = process.env.BENCH_QUICK === "1"
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 30_000)
const only = process.env.BENCH_ONLY?.split(",")
  .map((s) => s.trim())
  .filter((s) => s.length > 0)
const sizes = quick ? quickSizes : fullSizes

const cellScript = fileURLToPath(new URL("./cell.js", import.meta.url))

/** `BENCH_BASELINE`: another checkout whose eventflow cells run beside this one's (see the header). */
const baseline = (() => {
  const root = process.env.BENCH_BASELINE
  if (root === undefined || root.trim() === "") return undefined
  const script = path.resolve(root, "packages/bench/dist/cell.js")
  if (!existsSync(script)) {
    console.error(
      `BENCH_BASELINE=${root}: ${script} does not exist; build that checkout first (pnpm install && pnpm exec tsc -b)`
    )
    process.exit(2)
  }
  let label = path.basename(path.resolve(root))
  try {
    label = execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
  } catch {
    // Not a git checkout: its folder's name.
  }
  return { script, label }
})()

/** The implementation name of the baseline's eventflow cells. */
const baselineImpl = "eventflow (baseline)"

/** A baseline's cell of a scenario it predates: "n/a" in the table, not a failure. */
const isUnknownToBaseline = (result: {
  readonly impl: string
  readonly status: string
  readonly message?: string | undefined
}): boolean =>
  result.impl === baselineImpl && result.status === "error" && /unknown scenario/.test(result.message ?? "")
const resultsDir = fileURLToPath(new URL("../../../.bench-results/", import.meta.url))

type Status = "ok" | "timeout" | "error"

interface CellResult {
  readonly rep: number
  readonly impl: string
  readonly scenario: string
  readonly status: Status
  readonly metrics?: Record<string, number>
  readonly message?: string
  /** Wall time of the whole cell process (start-up, warm-up and measurement). */
  readonly processMs: number
}

interface Cell {
  readonly impl: string
  readonly scenario: string
}

const selected = (id: string, group?: string) =>
  only === undefined || only.includes(id) || (group !== undefined && only.includes(group))

const impls = process.env.BENCH_IMPLS?.split(",")
  .map((s) => s.trim())
  .filter((s) => s.length > 0)

const scenarioCells: Array<Cell> = scenarios
  .filter((s) => selected(s.id, s.group))
  .flatMap((s) =>
    implNames
      .filter((impl) => runsScenario(s, impl) && (impls === undefined || impls.includes(impl)))
      .map((impl) => ({ impl, scenario: s.id }))
  )
const microCells: Array<Cell> = micros
  .filter((m) => selected(m.id, "micro"))
  .map((m) => ({ impl: "micro", scenario: m.id }))
// Each of eventflow's cells is followed by the same cell of the baseline, so that the two alternate.
const withBaseline: Array<Cell> = scenarioCells.flatMap((cell) =>
  baseline !== undefined && cell.impl === "eventflow" ? [cell, { ...cell, impl: baselineImpl }] : [cell]
)
const cells = [...withBaseline, ...microCells]

const runCell = (cell: Cell, rep: number): Promise<CellResult> =>
  new Promise((resolve) => {
    const started = performance.now()
    const isBaseline = cell.impl === baselineImpl
    const script = isBaseline && baseline !== undefined ? baseline.script : cellScript
    const child = spawn(
      process.execPath,
      ["--expose-gc", script, isBaseline ? "eventflow" : cell.impl, cell.scenario],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: process.env
      }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
    })
    child.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      const base = { rep, impl: cell.impl, scenario: cell.scenario, processMs: performance.now() - started }
      if (timedOut) return resolve({ ...base, status: "timeout" })
      const line = stdout.trim().split("\n").pop() ?? ""
      if (code !== 0) return resolve({ ...base, status: "error", message: stderr.trim() || `exit code ${code}` })
      try {
        resolve({ ...base, status: "ok", metrics: JSON.parse(line).metrics })
      } catch {
        resolve({ ...base, status: "error", message: `unreadable output: ${line}` })
      }
    })
  })

// -----------------------------------------------------------------------------
// Formatting
// -----------------------------------------------------------------------------

const fmt = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US")
  return String(Number(x.toPrecision(3)))
}

const fmtRatio = (x: number): string => (Number.isFinite(x) ? `${Number(x.toPrecision(3))}×` : "–")

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
  readonly timeouts: number
  readonly errors: number
  /** Every failure said "unknown scenario" (a baseline that predates it). */
  readonly unknown: boolean
}

const summarize = (results: ReadonlyArray<CellResult>, cell: Cell, key: string): Summary | undefined => {
  const mine = results.filter((r) => r.impl === cell.impl && r.scenario === cell.scenario)
  if (mine.length === 0) return undefined
  const values = mine.flatMap((r) => (r.status === "ok" && r.metrics?.[key] !== undefined ? [r.metrics[key]] : []))
  return {
    median: values.length > 0 ? median(values) : Number.NaN,
    min: values.length > 0 ? Math.min(...values) : Number.NaN,
    max: values.length > 0 ? Math.max(...values) : Number.NaN,
    n: values.length,
    timeouts: mine.filter((r) => r.status === "timeout").length,
    errors: mine.filter((r) => r.status === "error").length,
    unknown: mine.every(isUnknownToBaseline)
  }
}

const fmtSummary = (s: Summary | undefined): string => {
  if (s === undefined) return "–"
  if (s.errors > 0) return s.unknown ? "n/a (not in baseline)" : `FAILED (${s.errors})`
  if (s.n === 0) return s.timeouts > 0 ? `timeout (> ${timeoutMs / 1000} s)` : "–"
  const range = s.n > 1 ? ` (${fmt(s.min)}–${fmt(s.max)})` : ""
  const partial = s.timeouts > 0 ? `, ${s.timeouts} timeout` : ""
  return `${fmt(s.median)}${range}${partial}`
}

/** A comparable cost: the value itself for costs, its inverse for rates. */
const cost = (metric: MetricSpec, s: Summary | undefined): number =>
  s === undefined || s.n === 0 || s.errors > 0 ? Number.NaN : metric.kind === "cost" ? s.median : 1 / s.median

const scenarioRows = (results: ReadonlyArray<CellResult>, spec: ScenarioSpec): Array<string> =>
  spec.metrics.map((metric) => {
    const byImpl = Object.fromEntries(
      implNames.map((impl) => [impl, summarize(results, { impl, scenario: spec.id }, metric.key)])
    ) as Record<ImplName, Summary | undefined>
    const ef = cost(metric, byImpl.eventflow)
    const wc = cost(metric, byImpl["workflow-core"])
    const raw = cost(metric, byImpl["raw-effect"])
    // A ratio with a not-applicable implementation is NaN, printed as "–".
    const cols = implNames.map((impl) => spec.notApplicable?.[impl] ?? fmtSummary(byImpl[impl]))
    const base =
      baseline === undefined
        ? ""
        : (() => {
            const s = summarize(results, { impl: baselineImpl, scenario: spec.id }, metric.key)
            return ` ${fmtSummary(s)} | ${fmtRatio(ef / cost(metric, s))} |`
          })()
    return `| ${spec.title} | ${metric.label} | ${cols.join(" | ")} | ${fmtRatio(ef / raw)} | ${fmtRatio(wc / ef)} |${base}`
  })

const sizeNote = (id: keyof typeof fullSizes): string => `${id} ${sizes[id].toLocaleString("en-US")}`

const report = (results: ReadonlyArray<CellResult>, totalMs: number): string => {
  const cpus = os.cpus()
  const lines: Array<string> = []
  const cpu = cpus[0]?.model.replace(/\s+/g, " ").trim() ?? "?"
  lines.push(
    `Command: \`pnpm bench\`${quick ? " (BENCH_QUICK=1)" : ""}. Node ${process.version}, ${cpu} × ${cpus.length} ` +
      `cores, ${os.platform()}; ${reps} repetitions, interleaved; every cell in a fresh ` +
      `\`node --expose-gc\` process (timeout ${timeoutMs / 1000} s); ${new Date().toISOString().slice(0, 10)}; ` +
      `total ${(totalMs / 1000).toFixed(0)} s.`
  )
  lines.push(
    `Before measuring, each cell warms up: up to ${warmupRounds} checked rounds at ` +
      `${(Object.keys(warmupSizes) as Array<keyof typeof fullSizes>).map((id) => `${id} ${warmupSizes[id].toLocaleString("en-US")}`).join(", ")} ` +
      `(capped at the measured size), none started after ${warmupBudgetMs / 1000} s; then a full GC.`
  )
  lines.push(
    `Sizes: ${(Object.keys(sizes) as Array<keyof typeof fullSizes>).map(sizeNote).join(", ")} ` +
      `(S1, S4, S5, S6: runs; S2: work events; S3: hops). Values: median (min–max). S6 checkpoints every run to a ` +
      `SQLite file (\`@eventflow/sqlite\`) in a fresh temporary directory; its time includes opening the file (once per round of runs).`
  )
  lines.push("")
  const baseHeader = baseline === undefined ? "" : ` eventflow at baseline ${baseline.label} | eventflow ÷ baseline |`
  lines.push(
    `| Scenario | Metric | eventflow | workflow-core | raw-effect | eventflow ÷ raw-effect | workflow-core ÷ eventflow |${baseHeader}`
  )
  lines.push(`| --- | --- | --- | --- | --- | --- | --- |${baseline === undefined ? "" : " --- | --- |"}`)
  for (const spec of scenarios) {
    if (selected(spec.id, spec.group)) lines.push(...scenarioRows(results, spec))
  }
  lines.push("")
  lines.push(
    "Ratios compare costs (time or memory; the inverse of a rate) of the medians: `eventflow ÷ raw-effect` is how " +
      "many times the hand-written floor Eventflow costs, `workflow-core ÷ eventflow` how many times more " +
      "workflow-core costs than Eventflow." +
      (baseline === undefined
        ? ""
        : ` \`eventflow ÷ baseline\` is this checkout's eventflow against the same cells built from ${baseline.label} ` +
          "(`BENCH_BASELINE`), run interleaved in this run: below 1 is faster than the baseline.")
  )
  const microSpecs = micros.filter((m) => selected(m.id, "micro"))
  if (microSpecs.length > 0) {
    lines.push("")
    lines.push("Microbenchmarks:")
    lines.push("")
    lines.push("| Microbenchmark | Metric | median (min–max) |")
    lines.push("| --- | --- | --- |")
    for (const spec of microSpecs) {
      for (const metric of spec.metrics) {
        const s = summarize(results, { impl: "micro", scenario: spec.id }, metric.key)
        lines.push(`| ${spec.title} | ${metric.label} | ${fmtSummary(s)} |`)
      }
    }
  }
  const failures = results.filter((r) => r.status === "error" && !isUnknownToBaseline(r))
  if (failures.length > 0) {
    lines.push("")
    lines.push("Failed cells:")
    lines.push("")
    for (const f of failures) lines.push(`- rep ${f.rep} ${f.impl} ${f.scenario}: ${f.message?.split("\n")[0]}`)
  }
  return lines.join("\n")
}

// -----------------------------------------------------------------------------
// Main
// -----------------------------------------------------------------------------

const loadTable = (result: ServerLoadResult): string => {
  const range = (f: (pass: ServerLoadPass) => number) => {
    const values = result.passes.map(f)
    return values.length > 1 ? ` (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})` : ""
  }
  const m = result.median
  return [
    "Server load (`@eventflow/server` on 127.0.0.1 with an in-memory `RunStore`, a one-step workflow started with " +
      "`POST /workflows/{name}/runs?wait=true`; the clients run in a separate process over a keep-alive pool of " +
      `one connection each; ${result.warmup} warm-up runs, then ${result.passes.length} measured passes, the pass ` +
      "of median throughput shown with the range over passes; every run checked):",
    "",
    "| Runs per pass | Clients | Completed | p50 latency | p90 latency | p99 latency | max | Runs/s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${result.runs} | ${result.clients} | ${result.completed} | ${fmt(m.p50Ms)} ms${range((p) => p.p50Ms)} | ` +
      `${fmt(m.p90Ms)} ms | ${fmt(m.p99Ms)} ms${range((p) => p.p99Ms)} | ${fmt(m.maxMs)} ms | ` +
      `${fmt(m.runsPerSecond)}${range((p) => p.runsPerSecond)} |`
  ].join("\n")
}

const main = async () => {
  const started = performance.now()
  const results: Array<CellResult> = []
  const timedOut = new Set<string>()
  console.log(`Running ${cells.length} cells × ${reps} repetitions (timeout ${timeoutMs / 1000} s per cell)`)
  for (let rep = 1; rep <= reps; rep++) {
    for (const cell of cells) {
      const key = `${cell.impl} ${cell.scenario}`
      // A cell that timed out once is not run again: it would only time out again.
      if (timedOut.has(key)) {
        const earlier = results.find((r) => r.impl === cell.impl && r.scenario === cell.scenario)
        results.push(
          earlier !== undefined && isUnknownToBaseline(earlier)
            ? { ...earlier, rep, processMs: 0 }
            : { rep, impl: cell.impl, scenario: cell.scenario, status: "timeout", processMs: 0 }
        )
        continue
      }
      const result = await runCell(cell, rep)
      results.push(result)
      // A cell that timed out is not run again, nor a baseline's that does not know the scenario.
      if (result.status === "timeout" || isUnknownToBaseline(result)) timedOut.add(key)
      const detail =
        result.status === "ok"
          ? Object.entries(result.metrics ?? {})
              .map(([k, v]) => `${k}=${fmt(v)}`)
              .join(" ")
          : result.status === "timeout"
            ? `timeout (> ${timeoutMs / 1000} s)`
            : `FAILED: ${result.message}`
      console.log(`[rep ${rep}/${reps}] ${key}: ${detail} (${(result.processMs / 1000).toFixed(1)} s)`)
    }
  }
  const totalMs = performance.now() - started
  let table = report(results, totalMs)
  let loadFailed = false
  if (selected("load")) {
    const size = quick ? { runs: 50, clients: 10 } : { runs: 500, clients: 50 }
    console.log(`Server load: ${size.runs} runs by ${size.clients} concurrent clients`)
    try {
      table += `\n\n${loadTable(await Effect.runPromise(serverLoad(size)))}`
    } catch (error) {
      loadFailed = true
      table += `\n\nServer load FAILED: ${error instanceof Error ? error.message : String(error)}`
    }
  }
  if (selected("stores")) {
    const size = quick ? { appends: 200, runs: 50 } : { appends: 1_000, runs: 200 }
    console.log(`Stores: SQLite and PostgreSQL, ${size.appends} appends, ${size.runs} runs`)
    try {
      table += `\n\n${storeTable(await Effect.runPromise(storeBench(size)), size)}`
    } catch (error) {
      loadFailed = true
      table += `\n\nStores FAILED: ${error instanceof Error ? error.message : String(error)}`
    }
  }
  if (selected("cluster")) {
    const size = quick ? { runs: 50, hops: 50 } : { runs: 200, hops: 100 }
    console.log(`Cluster: the local engine, then 1 and 2 runner processes, ${size.runs} runs, ${size.hops} hops`)
    try {
      table += `\n\n${clusterTable(await Effect.runPromise(clusterBench(size)), size)}`
    } catch (error) {
      loadFailed = true
      table += `\n\nCluster FAILED: ${error instanceof Error ? error.message : String(error)}`
    }
  }
  console.log("")
  console.log(table)
  mkdirSync(resultsDir, { recursive: true })
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    platform: os.platform(),
    cpu: os.cpus()[0]?.model.replace(/\s+/g, " ").trim(),
    cores: os.cpus().length,
    reps,
    quick,
    timeoutMs,
    sizes,
    warmupSizes,
    warmupRounds,
    warmupBudgetMs,
    totalMs,
    results
  }
  writeFileSync(`${resultsDir}latest.json`, `${JSON.stringify(json, null, 2)}\n`)
  writeFileSync(`${resultsDir}latest.md`, `${table}\n`)
  console.log(`\nSaved .bench-results/latest.json and .bench-results/latest.md`)
  if (results.some((r) => r.status === "error" && !isUnknownToBaseline(r)) || loadFailed) {
    console.error("Some cells failed (wrong result or crash): see above.")
    process.exit(1)
  }
}

main()
