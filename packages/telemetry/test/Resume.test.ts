/**
 * A traced durable run survives SIGKILL as one trace: a child process (fixtures/trace-worker.ts) runs a durable
 * workflow on a SQLite file with `Telemetry.layer` and is killed with SIGKILL once two of its three parallel `work`
 * invocations are completed and checkpointed; a new process resumes the run. Both processes append their ended
 * spans to one file.
 *
 * Real processes and real time: every wait polls with a deadline; no sleep decides anything.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, assert, describe, it } from "@effect/vitest"
import { RunStore, type Snapshot, Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Telemetry } from "@eventflow/telemetry"
import { Effect, ManagedRuntime, Option } from "effect"
import { type SpanLine, traced } from "./fixtures/trace-worker.js"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const worker = "packages/telemetry/test/fixtures/trace-worker.ts"
const DEADLINE_MS = 30_000

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
  readonly spans: string
  readonly gates: string
}

const makeFiles = (): Files => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-trace-"))
  dirs.push(dir)
  const gates = path.join(dir, "gates")
  fs.mkdirSync(gates)
  return { db: path.join(dir, "runs.db"), spans: path.join(dir, "spans.jsonl"), gates }
}

const spawnWorker = (mode: "start" | "resume", runId: string, files: Files) => {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", worker, mode, runId], {
    cwd: repoRoot,
    env: { ...process.env, TRACE_DB: files.db, TRACE_SPANS: files.spans, TRACE_GATES: files.gates },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let output = ""
  child.stdout!.on("data", (chunk) => {
    output += chunk
  })
  child.stderr!.on("data", (chunk) => {
    output += chunk
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    })
  )
  return { child, pid: child.pid!, output: () => output, exited }
}

const waitUntil = async (what: string, check: () => boolean | Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The complete lines of the span file (a line cut by the kill is not counted). */
const spanLines = (files: Files): Array<SpanLine> => {
  if (!fs.existsSync(files.spans)) return []
  const text = fs.readFileSync(files.spans, "utf8")
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SpanLine)
}

// `RunStore.load` of a journaled run replays its journal with the definition of that name known in this process:
// validating it here registers it (the worker's module runs nothing when imported).
Effect.runSync(Workflow.validate(traced))

const load = (store: ManagedRuntime.ManagedRuntime<RunStore.RunStore, unknown>, runId: string) =>
  store.runPromise(
    Effect.map(
      Effect.flatMap(RunStore.RunStore, (s) => s.load(runId)),
      Option.getOrUndefined
    )
  )

describe("Telemetry across a crash", () => {
  it.live(
    "a durable run killed with SIGKILL and resumed in a new process is one trace, without a duplicated step span",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const runId = "traced-run-1"
        const ids = Telemetry.traceIdsOf(runId)
        const store = ManagedRuntime.make(SqliteRunStore.layer({ filename: files.db }))
        try {
          fs.writeFileSync(path.join(files.gates, "work-0"), "")
          fs.writeFileSync(path.join(files.gates, "work-1"), "")
          const first = spawnWorker("start", runId, files)
          // Parts 0 and 1 completed, both joins ran (collecting 1, then 2), and that is checkpointed: only part 2's
          // work is in flight.
          let checkpoint: Snapshot.Snapshot | undefined
          await waitUntil(`the checkpoint with only part 2 in flight\n${first.output()}`, async () => {
            checkpoint = await load(store, runId)
            return (
              checkpoint !== undefined &&
              checkpoint.queued.length === 0 &&
              checkpoint.inFlight.length === 1 &&
              checkpoint.inFlight[0]!.step === "work" &&
              checkpoint.collected.some((c) => c.step === "join" && c.events.length === 2)
            )
          })
          first.child.kill("SIGKILL")
          assert.strictEqual((await first.exited).signal, "SIGKILL")
          const inFlight = checkpoint!.inFlight[0]!.eventId

          fs.writeFileSync(path.join(files.gates, "work-2"), "")
          const second = spawnWorker("resume", runId, files)
          const { code } = await second.exited
          assert.strictEqual(code, 0, second.output())
          assert.include(second.output(), `"result":3`)

          const all = spanLines(files)
          // The run's spans (the callers' own spans, `Workflow.start`/`Workflow.resume` and the store's `sql.execute`
          // under them, stay in the callers' traces).
          const run = all.filter((s) => /^(step|invoke_workflow|resume_workflow|wait) /.test(s.name))
          const pids = new Set(run.map((s) => s.pid))
          assert.deepStrictEqual([...pids].sort(), [first.pid, second.pid].sort())
          for (const span of run) assert.strictEqual(span.traceId, ids.traceId, `${span.name} (pid ${span.pid})`)

          // One root span, emitted by the process where the run ended, with the run's fixed ids.
          const roots = run.filter((s) => s.name === "invoke_workflow traced-chain")
          assert.strictEqual(roots.length, 1)
          assert.strictEqual(roots[0]!.spanId, ids.spanId)
          assert.strictEqual(roots[0]!.pid, second.pid)
          assert.strictEqual(roots[0]!.parentSpanId, undefined)

          const steps = run.filter((s) => s.name.startsWith("step "))
          for (const step of steps) assert.strictEqual(step.parentSpanId, ids.spanId, step.name)
          // Every invocation has exactly one step span: the completed ones from the first process only, the one in
          // flight at the kill from the second (marked replayed; its first execution never ended, so never exported).
          const keys = steps.map((s) => `${s.name}@${s.attributes["eventflow.event.id"]}`)
          assert.strictEqual(new Set(keys).size, keys.length, `duplicated step spans: ${keys.join(", ")}`)
          const byProcess = (pid: number) => steps.filter((s) => s.pid === pid).map((s) => s.name)
          assert.sameMembers(byProcess(first.pid), ["step begin", "step work", "step work", "step join", "step join"])
          assert.sameMembers(byProcess(second.pid), ["step work", "step join"])
          const replayed = steps.find((s) => s.pid === second.pid && s.name === "step work")!
          assert.strictEqual(replayed.attributes["eventflow.event.id"], inFlight)
          assert.strictEqual(replayed.attributes["eventflow.step.replayed"], true)

          // The resume is marked in the trace and linked to the run it continues.
          const resumed = run.filter((s) => s.name === "resume_workflow traced-chain")
          assert.strictEqual(resumed.length, 1)
          assert.strictEqual(resumed[0]!.pid, second.pid)
          assert.strictEqual(resumed[0]!.parentSpanId, ids.spanId)
          assert.isTrue(resumed[0]!.links.some((l) => l.traceId === ids.traceId && l.spanId === ids.spanId))
        } finally {
          await store.dispose()
        }
      }),
    60_000
  )
})
