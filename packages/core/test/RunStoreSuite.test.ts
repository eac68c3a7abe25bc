import { assert, describe, it } from "@effect/vitest"
import { RunStore, RunStoreSuite } from "@eventflow/core"
import { Effect } from "effect"

describe("RunStore.layerMemory (RunStoreSuite)", () => {
  for (const test of RunStoreSuite.cases) {
    it.scoped(test.name, () => Effect.provide(test.run, RunStore.layerMemory))
  }
})

describe("RunStoreSuite", () => {
  it.scoped("fails a store that breaks the contract, saying what differs", () =>
    Effect.gen(function* () {
      const memory = yield* RunStore.makeMemory
      // Lists in insertion order instead of newest first.
      const unordered: RunStore.Service = {
        ...memory,
        list: (filter) => Effect.map(memory.list(filter), (runs) => [...runs].reverse())
      }
      const listCase = RunStoreSuite.cases.find((c) => c.name === "list filters by workflow and status, newest first")!
      const defect = yield* Effect.flip(
        Effect.catchAllDefect(Effect.provideService(listCase.run, RunStore.RunStore, unordered), Effect.fail)
      )
      assert.include(String(defect), "the run ids of list()")
      assert.include(String(defect), 'expected ["b","c","d","e","a"]')
    })
  )
})
