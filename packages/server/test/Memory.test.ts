import { assert, describe, it } from "@effect/vitest"
import { SqliteRunStore } from "@eventflow/sqlite"
import { WorkflowServer } from "@eventflow/server"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { listen } from "./http.js"
import { greet } from "./workflows.js"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const heapAfterGc = () => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

/** Runs `count` runs of `greet` to completion over HTTP, `parallel` requests at a time. */
const runs = (base: string, count: number, parallel: number) =>
  Effect.promise(async () => {
    let next = 0
    const worker = async () => {
      while (next < count) {
        next++
        const response = await fetch(`${base}/workflows/greet/runs?wait=true`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "x" })
        })
        const body = (await response.json()) as { status: string }
        if (body.status !== "completed") throw new Error(`run not completed: ${JSON.stringify(body)}`)
      }
    }
    await Promise.all(Array.from({ length: parallel }, worker))
  })

describe("WorkflowServer memory", () => {
  it.live(
    "heap after GC stays flat across rounds of 1,000 finished runs",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "eventflow-memory-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const base = yield* listen(
          WorkflowServer.layerWithStore({ workflows: [greet], port: 0 }).pipe(
            Layer.provide(SqliteRunStore.layer({ filename: join(dir, "runs.db") }))
          )
        )
        // Warm-up: the first round fills caches (JIT, SQLite statements, the platform's router).
        yield* runs(base, 1000, 8)
        const heaps = [heapAfterGc()]
        for (let round = 0; round < 3; round++) {
          yield* runs(base, 1000, 8)
          heaps.push(heapAfterGc())
        }
        const mb = heaps.map((bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10)
        // Before the fix each finished run kept ~20 KB in the server's scope: +20 MB per round.
        assert.isBelow(mb[3] - mb[0], 5, `heap after GC per round (MB): ${mb.join(" → ")}`)
      }).pipe(Effect.scoped),
    120_000
  )
})
