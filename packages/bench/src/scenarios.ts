/**
 * The workloads of issue 4, shared by the three implementations: what each scenario function takes and returns,
 * the sizes, the result checks and the metrics the runner prints.
 *
 * Every implementation returns the raw results of its runs and the harness checks them here, with the same
 * code for all three, so an implementation that drops, duplicates or misroutes an event fails loudly.
 */

/** The implementations compared, in table order. */
export const implNames = ["eventflow", "workflow-core", "raw-effect"] as const

export type ImplName = (typeof implNames)[number]

/** The outcome of S2: how many results the collector joined and the sum of their `v`. */
export interface FanInResult {
  readonly count: number
  readonly sum: number
}

/**
 * One implementation of every workload. Each function performs the whole workload and resolves with its raw
 * results; the caller times it and checks the results with {@link checks}.
 */
export interface Implementation {
  readonly name: ImplName
  /**
   * S1: `runs` runs of a 10-step linear workflow, one after another. Run `i` starts with `n = i`; step k turns
   * `E_k {n}` into `E_{k+1} {n+1}`, the last step stops with `n + 1`. Resolves with the result of every run.
   */
  chain(runs: number): Promise<ReadonlyArray<number>>
  /**
   * S2: one run; the start step emits `n` work events `{i}`, a worker step turns each into `{i, v: 2i}`, a
   * collector stops after the n-th with the number of results it joined and the sum of their `v`.
   */
  fanOut(n: number): Promise<FanInResult>
  /** S3: one run bouncing between two steps; each hop adds 1 to `n`; stops with `n` after `hops` hops. */
  loop(hops: number): Promise<number>
  /**
   * S4: `runs` runs of a 3-step chain started at once. The first step of every run waits for one shared gate that
   * opens when the first steps of all runs have started. Run `i` starts with `n = i` and stops with `i + 3`.
   */
  concurrent(runs: number): Promise<ReadonlyArray<number>>
  /**
   * S5: `runs` runs that each keep their input `i` in the run's state and then wait for a human response from
   * outside. `onAllWaiting` is called (synchronously, once) when every run is waiting; after it returns, the
   * implementation delivers the response `"ok"` to every run. Run `i` stops with `` `${i}:ok` ``.
   */
  suspended(runs: number, onAllWaiting: () => void): Promise<ReadonlyArray<string>>
  /**
   * S5e: S5's runs, each followed by its caller as the README teaches (Eventflow: a fiber per run consuming
   * `handle.events()`, still following when all runs wait; workflow-core: its stream read with `for await`, as in
   * S5). `onAllWaiting` is called once every caller has seen its run's prompt; then each run is answered `"ok"`.
   * raw-effect is the floor the issue names: a fiber and a `Deferred` per run, no stream.
   */
  suspendedFollowed(runs: number, onAllWaiting: () => void): Promise<ReadonlyArray<string>>
  /**
   * S5f: S5e with each run followed through a callback instead of a stream consumer (Eventflow: a fiber per run in
   * `handle.follow(f)`). `undefined` for an implementation without such an API.
   */
  /**
   * S5m: S5e with all runs followed by one multiplexer (Eventflow: one `Follower`, one fiber for all runs).
   * `undefined` for an implementation without one.
   */
  readonly suspendedFollowedShared?:
    | ((runs: number, onAllWaiting: () => void) => Promise<ReadonlyArray<string>>)
    | undefined
  readonly suspendedFollowedCallback?:
    | ((runs: number, onAllWaiting: () => void) => Promise<ReadonlyArray<string>>)
    | undefined
  /**
   * S6: S1's chain, `runs` runs one after another, each durable: checkpointed to a SQLite file at `filename`,
   * opened for the call and closed at its end. `trace: false` runs without trace events. Resolves with the result
   * of every run, like {@link chain}. `undefined` for an implementation without durable runs.
   */
  /**
   * S1t: S1 with telemetry on (`Telemetry.layer` of `@eventflow/telemetry`, spans to an in-memory exporter as they
   * end). Resolves like {@link chain}, with the number of spans exported. `undefined` without telemetry.
   */
  readonly tracedChain?:
    | ((runs: number) => Promise<{ readonly results: ReadonlyArray<number>; readonly spans: number }>)
    | undefined
  readonly durableChain?:
    | ((runs: number, filename: string, options: { readonly trace: boolean }) => Promise<ReadonlyArray<number>>)
    | undefined
  /**
   * S6L: durable runs of loops of `hops[i]` hops with one `ctx.write` per hop, one after another on one SQLite file
   * at `filename` (opened once). Resolves with each run's number of hops and milliseconds. `undefined` for an
   * implementation without durable runs.
   */
  readonly durableLoop?:
    | ((
        hops: ReadonlyArray<number>,
        filename: string
      ) => Promise<ReadonlyArray<{ readonly result: number; readonly ms: number }>>)
    | undefined
}

/** The scenario ids, in table order. */
export const scenarioIds = [
  "S1",
  "S1t",
  "S2",
  "S3",
  "S3s",
  "S4",
  "S5",
  "S5e",
  "S5f",
  "S5m",
  "S6",
  "S6nt",
  "S6L"
] as const

export type ScenarioId = (typeof scenarioIds)[number]

/** Sizes of a full run, of a quick sanity pass (`BENCH_QUICK=1`), and of one warm-up round. */
export interface Sizes {
  readonly S1: number
  readonly S1t: number
  readonly S2: number
  readonly S3: number
  readonly S3s: number
  readonly S4: number
  readonly S5: number
  readonly S5e: number
  readonly S5f: number
  readonly S5m: number
  readonly S6: number
  readonly S6nt: number
  /** The long loop's hops (its short loop has {@link durableLoopShort}). */
  readonly S6L: number
}

export const fullSizes: Sizes = {
  S1: 10_000,
  // Per-run and per-hop metrics, comparable with S1's; fewer runs keep the cell within its timeout (spans cost).
  S1t: 2_000,
  S2: 10_000,
  S3: 100_000,
  S3s: 10_000,
  S4: 10_000,
  S5: 10_000,
  S5e: 10_000,
  S5f: 10_000,
  S5m: 10_000,
  S6: 1_000,
  S6nt: 1_000,
  S6L: 10_000
}

export const quickSizes: Sizes = {
  S1: 1_000,
  S1t: 200,
  S2: 1_000,
  S3: 10_000,
  S3s: 1_000,
  S4: 1_000,
  S5: 1_000,
  S5e: 1_000,
  S5f: 1_000,
  S5m: 1_000,
  S6: 100,
  S6nt: 100,
  S6L: 1_000
}

export const warmupSizes: Sizes = {
  S1: 1_000,
  S1t: 200,
  S2: 2_000,
  S3: 10_000,
  S3s: 10_000,
  S4: 1_000,
  S5: 1_000,
  S5e: 1_000,
  S5f: 1_000,
  S5m: 1_000,
  S6: 100,
  S6nt: 100,
  S6L: 100
}

/** Warm-up rounds before a measurement: at most this many, and none started after {@link warmupBudgetMs}. */
export const warmupRounds = 5

export const warmupBudgetMs = 1_500

/** Hops of S6L's short loop, the baseline of its flatness ratio. */
export const durableLoopShort = 100

/** Step-hops of one S1 run. */
export const chainLength = 10

/** Steps of one S4 run. */
export const concurrentLength = 3

export const humanResponse = "ok"

/** Thrown when a scenario returns a wrong result. */
export class WrongResultError extends Error {
  constructor(scenario: string, detail: string) {
    super(`${scenario}: wrong result: ${detail}`)
    this.name = "WrongResultError"
  }
}

const checkEach = <A>(scenario: string, results: ReadonlyArray<A>, runs: number, expected: (i: number) => A) => {
  if (results.length !== runs) throw new WrongResultError(scenario, `${results.length} results for ${runs} runs`)
  for (let i = 0; i < runs; i++) {
    if (results[i] !== expected(i)) {
      throw new WrongResultError(scenario, `run ${i} returned ${String(results[i])}, expected ${String(expected(i))}`)
    }
  }
}

/** The result checks, one per workload; each throws {@link WrongResultError} on a wrong result. */
export const checks = {
  chain: (results: ReadonlyArray<number>, runs: number): void =>
    checkEach("S1 chain", results, runs, (i) => i + chainLength),
  fanOut: (result: FanInResult, n: number): void => {
    const sum = n * (n - 1)
    if (result.count !== n || result.sum !== sum) {
      throw new WrongResultError(
        "S2 fan-out",
        `joined ${result.count} results with sum ${result.sum}, expected ${n} with sum ${sum}`
      )
    }
  },
  loop: (n: number, hops: number): void => {
    if (n !== hops) throw new WrongResultError("S3 loop", `final n ${n}, expected ${hops}`)
  },
  concurrent: (results: ReadonlyArray<number>, runs: number): void =>
    checkEach("S4 concurrent", results, runs, (i) => i + concurrentLength),
  suspended: (results: ReadonlyArray<string>, runs: number): void =>
    checkEach("S5 suspended", results, runs, (i) => `${i}:${humanResponse}`),
  durableChain: (results: ReadonlyArray<number>, runs: number): void =>
    checkEach("S6 durable", results, runs, (i) => i + chainLength),
  durableLoop: (n: number, hops: number): void => {
    if (n !== hops) throw new WrongResultError("S6L durable loop", `final n ${n}, expected ${hops}`)
  }
}

/** How a metric compares: `cost` (lower is better: ms, µs, KB) or `rate` (higher is better: per second). */
export type MetricKind = "cost" | "rate"

export interface MetricSpec {
  readonly key: string
  readonly label: string
  readonly kind: MetricKind
}

export interface ScenarioSpec {
  readonly id: ScenarioId
  readonly title: string
  /** `BENCH_ONLY` with this id selects this scenario too. */
  readonly group?: ScenarioId
  /**
   * The implementations that cannot run this scenario, with the reason the table shows in their column. Their
   * cells are not run.
   */
  readonly notApplicable?: Partial<Record<ImplName, string>>
  readonly metrics: ReadonlyArray<MetricSpec>
}

const noDurableRuns: Partial<Record<ImplName, string>> = {
  "workflow-core": "n/a (no durable runs)",
  "raw-effect": "n/a (no durable runs)"
}

const durableMetrics: ReadonlyArray<MetricSpec> = [
  { key: "runsPerSec", label: "runs/s", kind: "rate" },
  { key: "usPerHop", label: "µs per checkpointed step-hop", kind: "cost" }
]

const loopMetrics: ReadonlyArray<MetricSpec> = [
  { key: "hopsPerSec", label: "hops/s", kind: "rate" },
  { key: "usPerHop", label: "µs per hop", kind: "cost" }
]

export const scenarios: ReadonlyArray<ScenarioSpec> = [
  {
    id: "S1",
    title: "S1 chain",
    metrics: [
      { key: "runsPerSec", label: "runs/s", kind: "rate" },
      { key: "usPerHop", label: "µs per step-hop", kind: "cost" }
    ]
  },
  {
    id: "S1t",
    group: "S1",
    title: "S1 chain with `Telemetry.layer` + in-memory span exporter (eventflow only; compare with S1)",
    notApplicable: {
      "workflow-core": "n/a (eventflow's telemetry)",
      "raw-effect": "n/a (eventflow's telemetry)"
    },
    metrics: [
      { key: "runsPerSec", label: "runs/s", kind: "rate" },
      { key: "usPerHop", label: "µs per step-hop", kind: "cost" }
    ]
  },
  {
    id: "S2",
    title: "S2 fan-out/fan-in",
    metrics: [
      { key: "wallMs", label: "wall ms", kind: "cost" },
      { key: "eventsPerSec", label: "events/s", kind: "rate" }
    ]
  },
  {
    id: "S3",
    title: "S3 loop",
    metrics: loopMetrics
  },
  {
    id: "S3s",
    title: "S3s loop (short)",
    metrics: loopMetrics
  },
  {
    id: "S4",
    title: "S4 concurrent",
    metrics: [
      { key: "wallMs", label: "wall ms", kind: "cost" },
      { key: "runsPerSec", label: "runs/s", kind: "rate" },
      { key: "peakRssMb", label: "peak RSS delta MB", kind: "cost" }
    ]
  },
  {
    id: "S5",
    title: "S5 suspended",
    metrics: [
      { key: "kbPerRun", label: "heap KB per suspended run", kind: "cost" },
      { key: "waitingMs", label: "ms until all waiting", kind: "cost" },
      { key: "finishMs", label: "ms until all finish", kind: "cost" }
    ]
  },
  {
    id: "S5e",
    group: "S5",
    title: "S5e waiting runs, events followed",
    metrics: [
      { key: "kbPerRun", label: "heap KB per waiting run", kind: "cost" },
      { key: "waitingMs", label: "ms until all waiting", kind: "cost" },
      { key: "finishMs", label: "ms until all finish", kind: "cost" }
    ]
  },
  {
    id: "S5f",
    group: "S5",
    title: "S5f waiting runs, followed with `handle.follow` (eventflow only)",
    notApplicable: {
      "workflow-core": "n/a (eventflow's follow)",
      "raw-effect": "n/a (eventflow's follow)"
    },
    metrics: [
      { key: "kbPerRun", label: "heap KB per waiting run", kind: "cost" },
      { key: "waitingMs", label: "ms until all waiting", kind: "cost" },
      { key: "finishMs", label: "ms until all finish", kind: "cost" }
    ]
  },
  {
    id: "S5m",
    group: "S5",
    title: "S5m waiting runs, all followed by one `Follower` (eventflow only)",
    notApplicable: {
      "workflow-core": "n/a (eventflow's Follower)",
      "raw-effect": "n/a (eventflow's Follower)"
    },
    metrics: [
      { key: "kbPerRun", label: "heap KB per waiting run", kind: "cost" },
      { key: "waitingMs", label: "ms until all waiting", kind: "cost" },
      { key: "finishMs", label: "ms until all finish", kind: "cost" }
    ]
  },
  {
    id: "S6",
    title: "S6 durable",
    notApplicable: noDurableRuns,
    metrics: durableMetrics
  },
  {
    id: "S6nt",
    group: "S6",
    title: "S6 durable, `trace: false` (eventflow only)",
    notApplicable: noDurableRuns,
    metrics: durableMetrics
  },
  {
    id: "S6L",
    group: "S6",
    title: "S6L durable loop, one `ctx.write` per hop",
    notApplicable: noDurableRuns,
    metrics: [
      { key: "usPerHopShort", label: `µs per hop, ${durableLoopShort}-hop loop`, kind: "cost" },
      { key: "usPerHopLong", label: "µs per hop, long loop", kind: "cost" },
      { key: "flatness", label: "µs per hop long ÷ short (≤ 1.3: flat)", kind: "cost" },
      { key: "bytesPerHop", label: "SQLite bytes per hop, long loop", kind: "cost" }
    ]
  }
]

/** Whether `impl` runs scenario `spec` (`false`: the table shows it as not applicable). */
export const runsScenario = (spec: ScenarioSpec, impl: ImplName): boolean => spec.notApplicable?.[impl] === undefined

/** Microbenchmarks: run in their own cells, reported in their own section. */
export const microIds = ["transition", "events"] as const

export type MicroId = (typeof microIds)[number]

export const micros: ReadonlyArray<{
  readonly id: MicroId
  readonly title: string
  readonly metrics: ReadonlyArray<MetricSpec>
}> = [
  {
    id: "transition",
    title: "pure transition (loop of 2 steps, no fibers)",
    metrics: [
      { key: "eventsPerSecTrace", label: "events/s (trace on, the default)", kind: "rate" },
      { key: "eventsPerSecNoTrace", label: "events/s (trace: false)", kind: "rate" }
    ]
  },
  {
    id: "events",
    title: "event construction",
    metrics: [
      { key: "nsDefineMake", label: "ns per event: Event.define(...).make", kind: "cost" },
      { key: "nsSchemaMake", label: "ns per event: Schema.TaggedStruct(...).make (validating)", kind: "cost" },
      { key: "nsLiteral", label: "ns per event: object literal", kind: "cost" }
    ]
  }
]
