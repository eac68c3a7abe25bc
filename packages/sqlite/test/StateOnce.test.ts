/**
 * State exactly once per completed invocation, with real processes: a step updates the state and is killed (SIGKILL)
 * before it completes, while another invocation completes and is journaled. The resumed run re-executes the step:
 * its update counts once, not twice (the in-flight update was never committed, so it is discarded and redone).
 *
 * Real time: it coordinates real processes; every wait polls with a deadline.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, assert, describe, it } from "@effect/vitest"
import { type Journal, JournalStore } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Effect, ManagedRuntime } from "effect"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const worker = "packages/sqlite/test/fixtures/state-worker.ts"
const DEADLINE_MS = 20_000

const dirs: Array<string> = []
const children = new Set<ChildProcess>()
afterEach(() => {
  for (const child of children) child.kill("SIGKILL")
  children.clear()
})
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const spawnWorker = (mode: "start" | "resume", runId: string, files: Record<string, string>) => {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", worker, mode, runId], {
    cwd: repoRoot,
    env: { ...process.env, ...files },
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
  return { child, output: () => output, exited }
}

const waitUntil = async (what: () => string, check: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("state exactly once per completed invocation (SIGKILL)", () => {
  it("killed between a step's Ref.update and its completion: the resumed run counts the update once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-state-"))
    dirs.push(dir)
    const files = {
      STATE_DB: path.join(dir, "runs.db"),
      STATE_LOG: path.join(dir, "updates.log"),
      STATE_GATE: path.join(dir, "gate")
    }
    const runId = "state-once"
    const store = ManagedRuntime.make(SqliteRunStore.layer({ filename: files.STATE_DB }))
    const read = () => store.runPromise(Effect.flatMap(JournalStore.JournalStore, (journal) => journal.read(runId, 0)))
    const completionOf = (entries: ReadonlyArray<Journal.Stored>, step: string) =>
      entries.map((s) => s.entry).find((e) => e._tag === "InvocationCompleted" && e.step === step)
    try {
      const first = spawnWorker("start", runId, files)
      // `other` completed (journaled) after `inc` updated the state; `inc` waits at its gate.
      await waitUntil(
        () => `the completion of "other" in the journal\n${first.output()}`,
        async () => completionOf(await read(), "other") !== undefined
      )
      first.child.kill("SIGKILL")
      assert.strictEqual((await first.exited).signal, "SIGKILL")

      const entries = await read()
      assert.isUndefined(completionOf(entries, "inc"), "inc had not completed")
      // The live state had count 1 (inc's update) when "other" completed; the journal committed only finished
      // invocations' updates.
      const other = completionOf(entries, "other") as Journal.Entry & { readonly _tag: "InvocationCompleted" }
      assert.deepStrictEqual(other.state, { count: 0 })
      assert.strictEqual(fs.readFileSync(files.STATE_LOG, "utf8").trim().split("\n").length, 1)

      fs.writeFileSync(files.STATE_GATE, "")
      const second = spawnWorker("resume", runId, files)
      const { code } = await second.exited
      assert.strictEqual(code, 0, second.output())
      const line = second
        .output()
        .split("\n")
        .find((l) => l.startsWith("{"))
      assert.isDefined(line, second.output())
      const printed = JSON.parse(line!) as { readonly result: number; readonly state: { readonly count: number } }
      // The update ran in both processes (at-least-once execution) but counts once.
      assert.strictEqual(fs.readFileSync(files.STATE_LOG, "utf8").trim().split("\n").length, 2)
      assert.strictEqual(printed.result, 1)
      assert.deepStrictEqual(printed.state, { count: 1 })
      const done = completionOf(await read(), "inc") as Journal.Entry & { readonly _tag: "InvocationCompleted" }
      assert.deepStrictEqual(done.state, { count: 1 })
    } finally {
      await store.dispose()
    }
  }, 60_000)
})
