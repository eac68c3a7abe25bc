import { describe, it } from "@effect/vitest"
import { JournalStore, JournalStoreSuite } from "@eventflow/core"
import { Effect } from "effect"

describe("JournalStore.layerMemory (JournalStoreSuite)", () => {
  for (const test of JournalStoreSuite.cases) {
    it.scoped(test.name, () => Effect.provide(test.run, JournalStore.layerMemory))
  }
})

describe("JournalStore.layerMemory (JournalStoreSuite.fencingCases)", () => {
  for (const test of JournalStoreSuite.fencingCases) {
    it.scoped(test.name, () => Effect.provide(test.run, JournalStore.layerMemory))
  }
})
