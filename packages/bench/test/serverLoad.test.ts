/**
 * Smoke test of the server load benchmark at a tiny size: every run started over HTTP completes with its checked
 * result and is listed by the server. No timings are asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { serverLoad } from "../src/serverLoad.js"

describe("server load benchmark", () => {
  it.live("2 passes of 12 runs by 4 concurrent clients (after a warm-up) all complete, are checked and listed", () =>
    Effect.gen(function* () {
      const result = yield* serverLoad({ runs: 12, clients: 4, passes: 2 })
      assert.strictEqual(result.warmup, 12)
      assert.strictEqual(result.completed, 24)
      assert.strictEqual(result.listed, 24)
      assert.strictEqual(result.passes.length, 2)
      for (const pass of result.passes) {
        assert.isTrue(Number.isFinite(pass.p50Ms) && pass.p50Ms > 0)
        assert.isTrue(pass.p50Ms <= pass.p90Ms && pass.p90Ms <= pass.p99Ms && pass.p99Ms <= pass.maxMs)
        assert.isTrue(Number.isFinite(pass.runsPerSecond) && pass.runsPerSecond > 0)
      }
      assert.include(result.passes, result.median)
    })
  )
})
