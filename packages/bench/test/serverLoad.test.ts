/**
 * Smoke test of the server load benchmark at a tiny size: every run started over HTTP completes with its checked
 * result and is listed by the server. No timings are asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { serverLoad } from "../src/serverLoad.js"

describe("server load benchmark", () => {
  it.live(
    "12 runs started by 4 concurrent clients all complete, are checked and listed; percentiles are reported",
    () =>
      Effect.gen(function* () {
        const result = yield* serverLoad({ runs: 12, clients: 4 })
        assert.strictEqual(result.completed, 12)
        assert.strictEqual(result.listed, 12)
        assert.isTrue(Number.isFinite(result.p50Ms) && result.p50Ms > 0)
        assert.isTrue(result.p99Ms >= result.p50Ms)
        assert.isTrue(Number.isFinite(result.runsPerSecond) && result.runsPerSecond > 0)
      })
  )
})
