import { describe, it } from "@effect/vitest"
import { JournalStoreSuite } from "@eventflow/core"
import { PgJournalStore } from "@eventflow/postgres"
import { Effect } from "effect"
import { freshDatabase } from "./utils.js"

describe("PgJournalStore.layer (JournalStoreSuite)", () => {
  for (const test of JournalStoreSuite.cases) {
    it.scoped(test.name, () =>
      Effect.flatMap(freshDatabase, ({ url }) => Effect.provide(test.run, PgJournalStore.layer({ url })))
    )
  }
})

describe("PgJournalStore.layer (JournalStoreSuite.fencingCases)", () => {
  for (const test of JournalStoreSuite.fencingCases) {
    it.scoped(test.name, () =>
      Effect.flatMap(freshDatabase, ({ url }) => Effect.provide(test.run, PgJournalStore.layer({ url })))
    )
  }
})
