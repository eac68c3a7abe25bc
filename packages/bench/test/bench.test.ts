/**
 * Smoke test of the benchmark harness: every scenario of every implementation runs in-process at a tiny size and
 * returns the result the harness checks, so the benchmark cannot rot unnoticed. No timings are asserted.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { RunStore, type Snapshot } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Effect, Option } from "effect"
import { implementations } from "../src/impls.js"
import { checks, humanResponse, implNames, runsScenario, scenarios, WrongResultError } from "../src/scenarios.js"

/** The runs a durable scenario left in its SQLite file, with their last checkpoints. */
const storedRuns = (filename: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* RunStore.RunStore
      const summaries = yield* store.list()
      const snapshots: Array<Snapshot.Snapshot> = []
      for (const summary of summaries) {
        const snapshot = yield* store.load(summary.runId)
        if (Option.isSome(snapshot)) snapshots.push(snapshot.value)
      }
      return snapshots
    }).pipe(Effect.provide(SqliteRunStore.layer({ filename })))
  )

const traceTags = new Set(["StepStarted", "StepCompleted", "EventDispatched"])

const tagOf = (event: unknown): unknown =>
  typeof event === "object" && event !== null ? Reflect.get(event, "_tag") : undefined

describe("bench harness", () => {
  for (const name of implNames) {
    const impl = implementations[name]
    describe(name, () => {
      it("S1 chain: every run of the 10-step chain returns its input + 10", async () => {
        const results = await impl.chain(3)
        assert.deepStrictEqual(results, [10, 11, 12])
        checks.chain(results, 3)
      })

      it("S2 fan-out/fan-in: the collector joins all 50 results and sums v = 2i", async () => {
        const result = await impl.fanOut(50)
        assert.deepStrictEqual(result, { count: 50, sum: 2 * ((49 * 50) / 2) })
        checks.fanOut(result, 50)
      })

      it("S3 loop: 100 hops end with n = 100", async () => {
        const n = await impl.loop(100)
        assert.strictEqual(n, 100)
        checks.loop(n, 100)
      })

      it("S4 concurrent: 20 gated runs of the 3-step chain each return their input + 3", async () => {
        const results = await impl.concurrent(20)
        assert.deepStrictEqual(
          results,
          Array.from({ length: 20 }, (_, i) => i + 3)
        )
        checks.concurrent(results, 20)
      })

      it("S5 suspended: 10 runs all wait, then each returns its kept value and the response", async () => {
        let waitingCalls = 0
        const results = await impl.suspended(10, () => {
          waitingCalls++
        })
        assert.strictEqual(waitingCalls, 1)
        assert.deepStrictEqual(
          results,
          Array.from({ length: 10 }, (_, i) => `${i}:${humanResponse}`)
        )
        checks.suspended(results, 10)
      })
    })
  }

  describe("S1t telemetry", () => {
    it("eventflow: 3 runs with Telemetry.layer return input + 10 and export 12 spans each", async () => {
      const tracedChain = implementations.eventflow.tracedChain
      assert.isDefined(tracedChain)
      const { results, spans } = await tracedChain(3)
      assert.deepStrictEqual(results, [10, 11, 12])
      // Per run: invoke_workflow, the caller's Workflow.run and the 10 step spans.
      assert.strictEqual(spans, 3 * 12)
    })
  })

  describe("S6 durable", () => {
    const durable = scenarios.filter((spec) => spec.id === "S6" || spec.id === "S6nt")

    it("only the implementations with durable runs run S6; the others are listed as not applicable", () => {
      assert.strictEqual(durable.length, 2)
      for (const spec of durable) {
        for (const name of implNames) {
          assert.strictEqual(runsScenario(spec, name), implementations[name].durableChain !== undefined, name)
        }
      }
      assert.isTrue(runsScenario(durable[0], "eventflow"))
    })

    for (const trace of [true, false]) {
      it(`eventflow (trace: ${trace}): 3 durable runs return input + 10 and are checkpointed as completed`, async () => {
        const dir = mkdtempSync(join(tmpdir(), "eventflow-bench-test-"))
        try {
          const filename = join(dir, "runs.db")
          const durableChain = implementations.eventflow.durableChain
          assert.isDefined(durableChain)
          const results = await durableChain(3, filename, { trace })
          assert.deepStrictEqual(results, [10, 11, 12])
          checks.durableChain(results, 3)
          const stored = await storedRuns(filename)
          assert.strictEqual(stored.length, 3)
          assert.deepStrictEqual(
            stored.map((snapshot) => [snapshot.workflow, snapshot.status, snapshot.result]).sort(),
            [
              ["chain", "completed", 10],
              ["chain", "completed", 11],
              ["chain", "completed", 12]
            ]
          )
          for (const snapshot of stored) {
            const traced = snapshot.published.filter((event) => traceTags.has(tagOf(event) as string))
            if (trace) assert.isAbove(traced.length, 0)
            else assert.strictEqual(traced.length, 0)
          }
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })
    }
  })

  it("the checks reject a wrong result", () => {
    assert.throws(() => checks.chain([10, 11, 13], 3), WrongResultError)
    assert.throws(() => checks.chain([10, 11], 3), WrongResultError)
    assert.throws(() => checks.fanOut({ count: 49, sum: 2450 }, 50), WrongResultError)
    assert.throws(() => checks.fanOut({ count: 50, sum: 2448 }, 50), WrongResultError)
    assert.throws(() => checks.loop(99, 100), WrongResultError)
    assert.throws(() => checks.concurrent([3, 5], 2), WrongResultError)
    assert.throws(() => checks.suspended(["0:ok", "0:ok"], 2), WrongResultError)
    assert.throws(() => checks.durableChain([10, 12], 2), WrongResultError)
  })
})
