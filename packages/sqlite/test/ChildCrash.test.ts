/**
 * Child workflows under crashes, with real processes: a durable parent runs a child with `ctx.run`
 * (fixtures/child-crash-worker.ts) on a SQLite file; the test kills the process with SIGKILL inside the child's
 * step, or while the child waits for a person, and a new process resumes the PARENT. The parent's step is executed
 * again, finds its child in the store under its deterministic id and resumes it from the child's own last
 * checkpoint (not from scratch); the child's prompt is answered through the parent's handle.
 *
 * Real time: it coordinates real processes. Every wait polls with a deadline; no sleep decides anything.
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
import { type Execution, failParent, fanoutParent, parentWorkflow, sideParent } from "./fixtures/child-crash-worker.js"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const worker = "packages/sqlite/test/fixtures/child-crash-worker.ts"
const DEADLINE_MS = 20_000
const TEST_TIMEOUT_MS = 90_000
const CHILD = "P/delegate@0/c0"

const dirs: Array<string> = []
const processes = new Set<ChildProcess>()

afterEach(() => {
  for (const p of processes) p.kill("SIGKILL")
  processes.clear()
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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-child-crash-"))
  dirs.push(dir)
  const gates = path.join(dir, "gates")
  fs.mkdirSync(gates)
  return { db: path.join(dir, "runs.db"), log: path.join(dir, "executions.jsonl"), gates }
}

interface Worker {
  readonly child: ChildProcess
  readonly pid: number
  readonly output: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

type Scenario = "single" | "side" | "fanout" | "fail"

const spawnWorker = (
  mode: "start" | "resume",
  files: Files,
  answer?: string,
  scenario: Scenario = "single"
): Worker => {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", worker, mode, "P"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      CRASH_DB: files.db,
      CRASH_LOG: files.log,
      CRASH_GATES: files.gates,
      CRASH_SCENARIO: scenario,
      ...(answer === undefined ? {} : { CRASH_ANSWER: answer })
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  processes.add(child)
  let out = ""
  child.stdout!.on("data", (chunk) => {
    out += chunk
  })
  child.stderr!.on("data", (chunk) => {
    out += chunk
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      processes.delete(child)
      resolve({ code, signal })
    })
  )
  return { child, pid: child.pid!, output: () => out, exited }
}

interface WorkerResult {
  readonly pid: number
  readonly result: unknown
  readonly prompt: { readonly requestId: string; readonly runId?: string }
  /** Every prompt the worker answered through the parent. */
  readonly asked: ReadonlyArray<{ readonly requestId: string; readonly runId?: string }>
  readonly published: ReadonlyArray<Event.AnyEvent>
}

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

const waitUntil = async (what: string, check: () => boolean | Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const executions = (files: Files): ReadonlyArray<Execution> => {
  if (!fs.existsSync(files.log)) return []
  const text = fs.readFileSync(files.log, "utf8")
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Execution)
}

/** How many executions of `step` started (or completed), in all processes (of the run `runId` when given). */
const count = (files: Files, kind: Execution["kind"], step: string, runId?: string) =>
  executions(files).filter((e) => e.kind === kind && e.step === step && (runId === undefined || e.runId === runId))
    .length

// The runs are kept on their journals: loading one here replays it with its definition, which this process must know.
// Validating the parent makes it known, with the child workflow its step declares.
Effect.runSync(Workflow.validate(parentWorkflow))
Effect.runSync(Workflow.validate(sideParent))
Effect.runSync(Workflow.validate(fanoutParent))
Effect.runSync(Workflow.validate(failParent))

const storeOn = (files: Files) => ManagedRuntime.make(SqliteRunStore.layer({ filename: files.db }))

const load = (store: ReturnType<typeof storeOn>, runId: string): Promise<Snapshot.Snapshot | undefined> =>
  store.runPromise(
    Effect.map(
      Effect.flatMap(RunStore.RunStore, (s) => s.load(runId)),
      Option.getOrUndefined
    )
  )

/** The events of the child as the parent's stream shows them: `[child's tag, note]`. */
const childEvents = (published: ReadonlyArray<Event.AnyEvent>) =>
  published
    .filter((e) => e._tag === "ChildEvent")
    .map((e) => {
      const inner = e as unknown as { readonly runId: string; readonly event: { _tag: string; note?: string } }
      return [(e as unknown as { runId: string }).runId, inner.event._tag, inner.event.note ?? null]
    })

/** What the parent's stream shows of an uninterrupted child `runId` on `job`, in order. */
const childEventsOf = (runId: string, job: string) => [
  [runId, "Progress", "prepared"],
  [runId, "Progress", "checked"],
  [runId, "InputRequired", null],
  [runId, "Progress", `answered ${job}`],
  [runId, "StopEvent", null]
]

const expectedChildEvents = childEventsOf(CHILD, "release-1")

/** The runs whose parent is `P`, as the store lists them: `[runId, status]`, by id. */
const childrenOf = async (store: ReturnType<typeof storeOn>) =>
  (await store.runPromise(Effect.flatMap(RunStore.RunStore, (s) => s.list())))
    .filter((r) => r.parentRunId === "P")
    .map((r) => [r.runId, r.status])
    .sort()

/** The children of the side-by-side parent: started in this order in its `fan` step. */
const SIDE = [
  ["P/fan@0/c0", "a"],
  ["P/fan@0/c1", "b"],
  ["P/fan@0/c2", "c"]
] as const

/** The result of the side-by-side and fan-out parents: each child's own job, with the answer to its own prompt. */
const ownResults = (answer: string) => ["a", "b", "c"].map((job) => `${job}: ${answer} (ship ${job}?)`).join(" | ")

/** Each child's events appear in the parent's stream once each, in the child's order (interleaved between children). */
const assertEachChildOnce = (
  published: ReadonlyArray<Event.AnyEvent>,
  children: ReadonlyArray<readonly [string, string]>
) => {
  const all = childEvents(published)
  for (const [runId, job] of children) {
    assert.deepStrictEqual(
      all.filter(([id]) => id === runId),
      childEventsOf(runId, job),
      runId
    )
  }
  assert.strictEqual(all.length, children.length * 5)
}

describe("Child workflows after SIGKILL", () => {
  it.live(
    "killed inside a child's step: the resumed parent resumes the child from its last checkpoint",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const store = storeOn(files)
        try {
          const first = spawnWorker("start", files)
          // Inside the child's `gated` step (its `prepare` step has completed and is checkpointed).
          await waitUntil("the child's gated step", () => count(files, "start", "gated") === 1)
          const child = await load(store, CHILD)
          assert.isDefined(child)
          assert.strictEqual(child!.parent, "P")
          assert.deepStrictEqual(
            child!.inFlight.map((f) => f.step),
            ["gated"]
          )
          await kill(first)

          fs.writeFileSync(path.join(files.gates, "gated"), "")
          const second = await finished(spawnWorker("resume", files, "yes"))
          assert.strictEqual(second.result, "parent got release-1: yes")
          // The parent's step ran again (it was in flight) and found its child: the child's completed step did not
          // run again, its in-flight step did (at-least-once).
          assert.strictEqual(count(files, "start", "delegate"), 2)
          assert.strictEqual(count(files, "complete", "delegate"), 1)
          assert.strictEqual(count(files, "start", "prepare"), 1)
          assert.strictEqual(count(files, "start", "gated"), 2)
          assert.strictEqual(count(files, "start", "ask"), 1)
          // The prompt was answered through the parent, under the child's run id.
          assert.strictEqual(second.prompt.requestId, `${CHILD}:ship`)
          assert.strictEqual(second.prompt.runId, CHILD)
          // The parent's stream shows the child's events once each, in order.
          assert.deepStrictEqual(childEvents(second.published), expectedChildEvents)
          assert.strictEqual((await load(store, CHILD))!.status, "completed")
          assert.strictEqual((await load(store, "P"))!.status, "completed")
        } finally {
          await store.dispose()
        }
      }),
    TEST_TIMEOUT_MS
  )

  it.live(
    "killed while the child waits for a person: the resumed parent's handle answers the child's prompt",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const store = storeOn(files)
        try {
          fs.writeFileSync(path.join(files.gates, "gated"), "")
          const first = spawnWorker("start", files)
          await waitUntil(
            "the child to wait for a person",
            async () => (await load(store, CHILD))?.status === "waiting"
          )
          const waiting = await load(store, CHILD)
          assert.deepStrictEqual(
            waiting!.pending.map((p) => p.requestId),
            ["ship"]
          )
          await kill(first)

          const second = await finished(spawnWorker("resume", files, "ship it"))
          assert.strictEqual(second.result, "parent got release-1: ship it")
          // Nothing of the child that had completed ran again: only the step that waits is executed again, up to its
          // wait (whose prompt is not published twice).
          assert.strictEqual(count(files, "start", "prepare"), 1)
          assert.strictEqual(count(files, "start", "gated"), 1)
          assert.strictEqual(count(files, "start", "ask"), 2)
          assert.strictEqual(count(files, "complete", "ask"), 1)
          assert.strictEqual(count(files, "start", "delegate"), 2)
          assert.strictEqual(second.prompt.requestId, `${CHILD}:ship`)
          assert.deepStrictEqual(childEvents(second.published), expectedChildEvents)
        } finally {
          await store.dispose()
        }
      }),
    TEST_TIMEOUT_MS
  )

  it.live(
    "three children started side by side, killed while each is inside a step: each re-attaches to its own run",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const store = storeOn(files)
        try {
          const first = spawnWorker("start", files, undefined, "side")
          // All three children are alive at once, each inside its `gated` step (its `prepare` checkpointed).
          await waitUntil("the three children's gated steps", async () => {
            if (count(files, "start", "gated") < 3) return false
            for (const [runId] of SIDE) {
              const child = await load(store, runId)
              if (child?.inFlight.map((f) => f.step).join() !== "gated") return false
            }
            return true
          })
          await kill(first)

          fs.writeFileSync(path.join(files.gates, "gated"), "")
          const second = await finished(spawnWorker("resume", files, "yes", "side"))
          // Each handle is its own child's, and each child got the answer to its own prompt.
          assert.strictEqual(second.result, ownResults("yes"))
          assert.deepStrictEqual(
            second.asked.map((p) => p.requestId).sort(),
            SIDE.map(([id]) => `${id}:ship`)
          )
          for (const [runId] of SIDE) {
            // Its completed step ran once, its in-flight step again (at-least-once), the rest once.
            assert.strictEqual(count(files, "start", "prepare", runId), 1, runId)
            assert.strictEqual(count(files, "start", "gated", runId), 2, runId)
            assert.strictEqual(count(files, "complete", "gated", runId), 1, runId)
            assert.strictEqual(count(files, "start", "ask", runId), 1, runId)
            assert.strictEqual(count(files, "complete", "ask", runId), 1, runId)
          }
          // No second copy of any child: the step's executions started (or re-attached to) these three runs only.
          assert.strictEqual(count(files, "start", "prepare"), 3)
          assert.deepStrictEqual(
            await childrenOf(store),
            SIDE.map(([id]) => [id, "completed"])
          )
          assert.strictEqual(count(files, "start", "fan"), 2)
          assert.strictEqual(count(files, "complete", "fan"), 1)
          assertEachChildOnce(second.published, SIDE)
          assert.strictEqual((await load(store, "P"))!.status, "completed")
        } finally {
          await store.dispose()
        }
      }),
    TEST_TIMEOUT_MS
  )

  it.live(
    "three children started side by side, killed while each waits for a person: answered through the resumed parent",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const store = storeOn(files)
        try {
          fs.writeFileSync(path.join(files.gates, "gated"), "")
          const first = spawnWorker("start", files, undefined, "side")
          await waitUntil("the three children to wait for a person", async () => {
            for (const [runId] of SIDE) if ((await load(store, runId))?.status !== "waiting") return false
            return true
          })
          await kill(first)

          const second = await finished(spawnWorker("resume", files, "ship it", "side"))
          assert.strictEqual(second.result, ownResults("ship it"))
          for (const [runId] of SIDE) {
            // Nothing a child had completed ran again; only its waiting step, up to its wait.
            assert.strictEqual(count(files, "start", "prepare", runId), 1, runId)
            assert.strictEqual(count(files, "start", "gated", runId), 1, runId)
            assert.strictEqual(count(files, "start", "ask", runId), 2, runId)
            assert.strictEqual(count(files, "complete", "ask", runId), 1, runId)
          }
          assert.deepStrictEqual(
            await childrenOf(store),
            SIDE.map(([id]) => [id, "completed"])
          )
          assertEachChildOnce(second.published, SIDE)
        } finally {
          await store.dispose()
        }
      }),
    TEST_TIMEOUT_MS
  )

  it.live(
    "fan-out: three parallel parent steps each run a child, killed inside the children's steps: each child once",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const store = storeOn(files)
        try {
          const first = spawnWorker("start", files, undefined, "fanout")
          await waitUntil("the three children's gated steps", () => count(files, "start", "gated") === 3)
          // One child per invocation of `delegate`: `P/delegate@<its Job's id>/c0`.
          const ids = executions(files)
            .filter((e) => e.step === "gated")
            .map((e) => e.runId)
            .sort()
          assert.strictEqual(new Set(ids).size, 3)
          for (const id of ids) assert.match(id, /^P\/delegate@.+\/c0$/)
          await waitUntil("the children's prepare steps checkpointed", async () => {
            for (const id of ids)
              if ((await load(store, id))?.inFlight.map((f) => f.step).join() !== "gated") return false
            return true
          })
          await kill(first)

          fs.writeFileSync(path.join(files.gates, "gated"), "")
          const second = await finished(spawnWorker("resume", files, "yes", "fanout"))
          assert.strictEqual(second.result, ownResults("yes"))
          for (const id of ids) {
            assert.strictEqual(count(files, "start", "prepare", id), 1, id)
            assert.strictEqual(count(files, "start", "gated", id), 2, id)
            assert.strictEqual(count(files, "start", "ask", id), 1, id)
            assert.strictEqual(count(files, "complete", "ask", id), 1, id)
          }
          assert.deepStrictEqual(
            await childrenOf(store),
            ids.map((id) => [id, "completed"])
          )
          // Each parallel invocation ran again once (in flight at the kill) and completed once.
          assert.strictEqual(count(files, "start", "delegate"), 6)
          assert.strictEqual(count(files, "complete", "delegate"), 3)
          // Which job each child ran: its `prepare` ran once, so its events name it.
          const jobOf = (id: string) => {
            const answered = childEvents(second.published).find(
              ([runId, tag, note]) => runId === id && tag === "Progress" && String(note).startsWith("answered ")
            )
            return String(answered?.[2]).slice("answered ".length)
          }
          assertEachChildOnce(
            second.published,
            ids.map((id) => [id, jobOf(id)] as const)
          )
          assert.deepStrictEqual(ids.map(jobOf).sort(), ["a", "b", "c"])
        } finally {
          await store.dispose()
        }
      }),
    TEST_TIMEOUT_MS
  )

  it.live(
    "a child that failed with a tagged error before the kill: the resumed parent's step catches the same error by its tag",
    () =>
      Effect.promise(async () => {
        const files = makeFiles()
        const store = storeOn(files)
        const child = "P/delegate@0/c0"
        try {
          const first = spawnWorker("start", files, undefined, "fail")
          // The child has failed (its journal ends with its error); the parent's step caught it and waits for its gate.
          await waitUntil(
            "the parent's step to catch the child's error",
            () => count(files, "caught", "delegate") === 1
          )
          assert.strictEqual((await load(store, child))?.status, "failed")
          assert.strictEqual((await load(store, "P"))?.status, "running")
          await kill(first)

          fs.writeFileSync(path.join(files.gates, "parent"), "")
          const second = await finished(spawnWorker("resume", files, "-", "fail"))
          assert.strictEqual(second.result, "caught Refused no release-1 451")
          // The child did not run again: its error came from its journal.
          assert.strictEqual(count(files, "start", "refuse", child), 1)
          assert.strictEqual(count(files, "start", "delegate"), 2)
          assert.strictEqual(count(files, "complete", "delegate"), 1)
          // Both executions of the parent's step saw the same error: `_tag`, fields and message.
          const caught = executions(files)
            .filter((e) => e.kind === "caught")
            .map((e) => e.error)
          assert.strictEqual(caught.length, 2)
          assert.deepStrictEqual(caught[0], { _tag: "Refused", reason: "no release-1", code: 451, message: "" })
          assert.deepStrictEqual(caught[1], caught[0])
          assert.notStrictEqual(executions(files).filter((e) => e.kind === "caught")[1].pid, first.pid)
        } finally {
          await store.dispose()
        }
      }),
    TEST_TIMEOUT_MS
  )
})
