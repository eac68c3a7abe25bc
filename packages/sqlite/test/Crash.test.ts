/**
 * Crash test with real processes: a child process runs a durable workflow (fixtures/crash-worker.ts) against a
 * SQLite file and is killed with SIGKILL at a known point; a new process resumes the run from the file.
 *
 * The child records every step execution's start and completion in a side file (with its pid), so the test counts
 * executions across processes, and reads the last checkpoint from the SQLite file after the kill to know which
 * invocations had completed (must not run again) and which were in flight (run again, at-least-once).
 *
 * This file uses real time: it coordinates real processes. Every wait polls with a deadline; no sleep decides
 * anything.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, assert, describe, it } from "@effect/vitest"
import { type Event, RunStore, type Snapshot, Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Effect, ManagedRuntime, Option } from "effect"
import { crashWorkflow, type Execution, gateName } from "./fixtures/crash-worker.js"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const worker = "packages/sqlite/test/fixtures/crash-worker.ts"
const DEADLINE_MS = 20_000
const TEST_TIMEOUT_MS = 90_000
const ANSWER = "ship it"

// --- processes and files ---

const dirs: Array<string> = []
const children = new Set<ChildProcess>()

afterEach(() => {
  for (const child of children) child.kill("SIGKILL")
  children.clear()
})

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

interface Files {
  readonly db: string
  readonly log: string
  readonly gates: string
}

const makeFiles = (): Files => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-crash-"))
  dirs.push(dir)
  const gates = path.join(dir, "gates")
  fs.mkdirSync(gates)
  return { db: path.join(dir, "runs.db"), log: path.join(dir, "executions.jsonl"), gates }
}

const openGate = (files: Files, name: string) => fs.writeFileSync(path.join(files.gates, name), "")

interface Worker {
  readonly child: ChildProcess
  readonly pid: number
  readonly output: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

const spawnWorker = (mode: "start" | "resume" | "resume-all", runId: string, files: Files, answer?: string): Worker => {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", worker, mode, runId], {
    cwd: repoRoot,
    env: {
      ...process.env,
      CRASH_DB: files.db,
      CRASH_LOG: files.log,
      CRASH_GATES: files.gates,
      ...(answer === undefined ? {} : { CRASH_ANSWER: answer })
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk) => {
    stdout += chunk
  })
  child.stderr!.on("data", (chunk) => {
    stderr += chunk
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    })
  )
  return { child, pid: child.pid!, output: () => `stdout:\n${stdout}\nstderr:\n${stderr}`, exited }
}

interface WorkerResult {
  readonly runId: string
  readonly pid: number
  readonly result: unknown
  readonly published: ReadonlyArray<Event.AnyEvent>
}

/** Waits (with a deadline) for a worker that answers the prompt to exit 0, and parses the line it printed. */
const finished = async (w: Worker): Promise<WorkerResult> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`worker did not finish in time\n${w.output()}`)), DEADLINE_MS)
  })
  try {
    const { code } = await Promise.race([w.exited, timeout])
    assert.strictEqual(code, 0, w.output())
  } finally {
    clearTimeout(timer)
  }
  const line = w
    .output()
    .split("\n")
    .find((l) => l.startsWith("{"))
  assert.isDefined(line, w.output())
  return JSON.parse(line!) as WorkerResult
}

const kill = async (w: Worker) => {
  w.child.kill("SIGKILL")
  const { signal } = await w.exited
  assert.strictEqual(signal, "SIGKILL")
}

/** Polls `check` until it returns `true`, failing after the deadline with `what`. */
const waitUntil = async (what: () => string, check: () => boolean | Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The complete lines of the side file (a line cut by the kill is not counted). */
const executions = (files: Files): ReadonlyArray<Execution> => {
  if (!fs.existsSync(files.log)) return []
  const text = fs.readFileSync(files.log, "utf8")
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Execution)
}

const key = (e: { readonly step: string; readonly eventId: string }) => `${e.step}@${e.eventId}`

const keysOf = (all: ReadonlyArray<Execution>, kind: Execution["kind"], pid: number): ReadonlyArray<string> =>
  all.filter((e) => e.kind === kind && e.pid === pid).map(key)

// The store builds a journaled run's snapshot by replaying its journal with the definition known in this process.
Effect.runSync(Workflow.validate(crashWorkflow))

/** The store on the test's own connection to the file the workers use. */
const storeOn = (files: Files) => ManagedRuntime.make(SqliteRunStore.layer({ filename: files.db }))

type Store = ReturnType<typeof storeOn>

const load = (store: Store, runId: string): Promise<Snapshot.Snapshot | undefined> =>
  store.runPromise(
    Effect.map(
      Effect.flatMap(RunStore.RunStore, (s) => s.load(runId)),
      Option.getOrUndefined
    )
  )

/** How many distinct invocations of each step ran. */
const invocationsPerStep = (keys: Iterable<string>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const k of new Set(keys)) {
    const step = k.slice(0, k.indexOf("@"))
    counts[step] = (counts[step] ?? 0) + 1
  }
  return counts
}

/** JSON with object keys in order, so that equal events print the same whatever the order of their fields. */
const canonical = (u: unknown): string =>
  JSON.stringify(u, (_, value) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value
  )

/** The events as a multiset (fan-out makes their order vary from run to run). */
const sortedJson = (events: ReadonlyArray<unknown>) => events.map(canonical).sort()

// --- the uninterrupted run, for comparison ---

interface Reference {
  readonly output: WorkerResult
  readonly perStep: Record<string, number>
}

let reference: Promise<Reference> | undefined

const uninterrupted = (): Promise<Reference> => {
  reference ??= (async () => {
    const files = makeFiles()
    openGate(files, "all")
    const output = await finished(spawnWorker("start", "reference", files, ANSWER))
    const all = executions(files)
    const starts = keysOf(all, "start", output.pid)
    // Sanity: without a crash every invocation runs once.
    assert.strictEqual(new Set(starts).size, starts.length)
    assert.sameMembers([...keysOf(all, "complete", output.pid)], [...starts])
    return { output, perStep: invocationsPerStep(starts) }
  })()
  return reference
}

// --- the checks after a resume ---

const assertResumedAsUninterrupted = async (options: {
  readonly files: Files
  readonly store: Store
  readonly runId: string
  readonly checkpoint: Snapshot.Snapshot
  readonly first: Worker
  readonly second: WorkerResult
}) => {
  const { checkpoint, files, first, second } = options
  const ref = await uninterrupted()
  const all = executions(files)
  const inFlight = checkpoint.inFlight.map(key)
  const startedFirst = keysOf(all, "start", first.pid)
  const startedSecond = keysOf(all, "start", second.pid)
  // Everything that started in process 1 had been checkpointed (as in flight, at least) before it started; what is
  // no longer in flight in the last checkpoint had completed.
  const completedAtCheckpoint = startedFirst.filter((k) => !inFlight.includes(k))
  assert.isNotEmpty(completedAtCheckpoint)

  for (const k of completedAtCheckpoint) {
    assert.notInclude(startedSecond, k, `${k} completed before the last checkpoint but ran again after the resume`)
    assert.include(keysOf(all, "complete", first.pid), k)
    assert.strictEqual(all.filter((e) => e.kind === "start" && key(e) === k).length, 1, `${k} ran more than once`)
  }
  for (const k of inFlight) {
    assert.include(startedSecond, k, `${k} was in flight at the last checkpoint and was not executed again`)
  }
  // Every invocation ran to completion in one of the two processes, and they are the invocations of a run that was
  // not interrupted.
  const completed = new Set([...completedAtCheckpoint, ...keysOf(all, "complete", second.pid)])
  assert.deepStrictEqual(invocationsPerStep(completed), ref.perStep)
  assert.deepStrictEqual(invocationsPerStep([...startedFirst, ...startedSecond]), ref.perStep)

  assert.deepStrictEqual(second.result, ref.output.result)
  // The resumed run's events() replays the log of both processes: nothing lost, nothing twice.
  assert.deepStrictEqual(sortedJson(second.published), sortedJson(ref.output.published))
  assert.strictEqual(second.published.at(-1)?._tag, "StopEvent")
  assert.strictEqual(second.published.filter((e) => e._tag === "InputRequired").length, 1)

  const stored = await load(options.store, options.runId)
  assert.strictEqual(stored?.status, "completed")
  assert.deepStrictEqual(stored?.result, ref.output.result)
  const unfinished = await options.store.runPromise(
    Effect.flatMap(RunStore.RunStore, (s) => s.list({ status: RunStore.unfinished }))
  )
  assert.deepStrictEqual(unfinished, [])
}

// --- the tests ---

describe("a durable run on SQLite killed with SIGKILL", () => {
  it(
    "while steps run: a new process resumes it, completed steps do not run again, the result and events match",
    async () => {
      const files = makeFiles()
      const runId = "crash-while-running"
      const store = storeOn(files)
      try {
        const first = spawnWorker("start", runId, files)
        // The three `work` invocations (fan-out) are running, held at their gates.
        await waitUntil(
          () => `3 work invocations started\n${first.output()}`,
          () => keysOf(executions(files), "start", first.pid).filter((k) => k.startsWith("work@")).length === 3
        )
        // Let one finish, and wait for the checkpoint in which it (and its `join`) are done.
        openGate(files, gateName("work", "0/begin/0"))
        const expectedInFlight = ["work@0/begin/1", "work@0/begin/2"]
        await waitUntil(
          () => `a checkpoint with only ${expectedInFlight} in flight\n${first.output()}`,
          async () => {
            const snapshot = await load(store, runId)
            return (
              snapshot !== undefined &&
              snapshot.queued.length === 0 &&
              snapshot.inFlight.map(key).sort().join() === expectedInFlight.join()
            )
          }
        )
        await kill(first)

        const checkpoint = (await load(store, runId))!
        assert.strictEqual(checkpoint.status, "running")
        assert.deepStrictEqual(checkpoint.inFlight.map(key).sort(), expectedInFlight)
        // The in-flight invocations had already written their "started" progress: it must not appear twice.
        const published = checkpoint.published as ReadonlyArray<{ readonly note?: string }>
        assert.includeMembers(
          published.map((e) => e.note),
          ["part 1 started", "part 2 started", "value 700"]
        )

        openGate(files, "all")
        const second = await finished(spawnWorker("resume", runId, files, ANSWER))
        assert.notStrictEqual(second.pid, first.pid)
        assert.strictEqual(second.runId, runId)
        await assertResumedAsUninterrupted({ files, store, runId, checkpoint, first, second })
      } finally {
        await store.dispose()
      }
    },
    TEST_TIMEOUT_MS
  )

  it(
    "while waiting for a person: resumeAll in a new process finds it, the answer completes it, nothing runs twice",
    async () => {
      const files = makeFiles()
      const runId = "crash-while-waiting"
      const store = storeOn(files)
      try {
        openGate(files, "all")
        const first = spawnWorker("start", runId, files)
        await waitUntil(
          () => `the run waiting for a person in the store\n${first.output()}`,
          async () => (await load(store, runId))?.status === "waiting"
        )
        assert.isTrue(keysOf(executions(files), "start", first.pid).some((k) => k.startsWith("approve@")))
        await kill(first)

        const checkpoint = (await load(store, runId))!
        assert.strictEqual(checkpoint.status, "waiting")
        assert.deepStrictEqual(
          checkpoint.inFlight.map((i) => i.step),
          ["approve"]
        )
        assert.strictEqual(checkpoint.pending.length, 1)

        const second = await finished(spawnWorker("resume-all", runId, files, ANSWER))
        assert.strictEqual(second.runId, runId)
        await assertResumedAsUninterrupted({ files, store, runId, checkpoint, first, second })
      } finally {
        await store.dispose()
      }
    },
    TEST_TIMEOUT_MS
  )
})
