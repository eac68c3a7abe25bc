/**
 * Smoke test of the benchmark harness: every scenario of every implementation runs in-process at a tiny size and
 * returns the result the harness checks, so the benchmark cannot rot unnoticed. No timings are asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { implementations } from "../src/impls.js"
import { checks, humanResponse, implNames, WrongResultError } from "../src/scenarios.js"

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

  it("the checks reject a wrong result", () => {
    assert.throws(() => checks.chain([10, 11, 13], 3), WrongResultError)
    assert.throws(() => checks.chain([10, 11], 3), WrongResultError)
    assert.throws(() => checks.fanOut({ count: 49, sum: 2450 }, 50), WrongResultError)
    assert.throws(() => checks.fanOut({ count: 50, sum: 2448 }, 50), WrongResultError)
    assert.throws(() => checks.loop(99, 100), WrongResultError)
    assert.throws(() => checks.concurrent([3, 5], 2), WrongResultError)
    assert.throws(() => checks.suspended(["0:ok", "0:ok"], 2), WrongResultError)
  })
})
