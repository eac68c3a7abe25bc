import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { layerExecutions } from "./fixtures/workflows.js"
import { clientLayer, freshDatabase } from "./utils.js"

describe("the cluster tests' executions table", () => {
  // Server and runner processes build `layerExecutions` at the same moment on a new database; without a lock, two
  // `CREATE TABLE IF NOT EXISTS` at once race in PostgreSQL's catalog and one process exited before ready (a CI run
  // of Server.test.ts). Here eight clients build it at once, in each of five new databases.
  it.live(
    "eight clients creating it at once on a new database all succeed",
    () =>
      Effect.gen(function* () {
        for (let round = 0; round < 5; round++) {
          const { url } = yield* freshDatabase
          const exits = yield* Effect.forEach(
            Array.from({ length: 8 }, () => 0),
            () => Effect.exit(Effect.scoped(Layer.build(layerExecutions.pipe(Layer.provide(clientLayer(url, 1)))))),
            { concurrency: "unbounded" }
          )
          expect(exits.filter(Exit.isFailure).map(String)).toEqual([])
        }
      }).pipe(Effect.scoped),
    120_000
  )
})
