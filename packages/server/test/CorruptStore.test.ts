import { assert, describe, it } from "@effect/vitest"
import { SqliteRunStore } from "@eventflow/sqlite"
import { WorkflowServer } from "@eventflow/server"
import { Effect, Exit, Layer, Logger, Scope } from "effect"
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { listen, request } from "./http.js"
import { greet } from "./workflows.js"

const serve = (filename: string) =>
  listen(
    WorkflowServer.layerWithStore({ workflows: [greet], port: 0 }).pipe(
      Layer.provide(SqliteRunStore.layer({ filename })),
      Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
    )
  )

/** Overwrites the pages of the file that hold `marker` with garbage (a torn write, a bad sector). */
const corruptPageWith = (filename: string, marker: string) => {
  const size = statSync(filename).size
  const data = Buffer.alloc(size)
  const fd = openSync(filename, "r+")
  try {
    readSync(fd, data, 0, size, 0)
    const pageSize = data.readUInt16BE(16) === 1 ? 65536 : data.readUInt16BE(16)
    let found = 0
    for (let at = data.indexOf(marker); at >= 0; at = data.indexOf(marker, at + 1)) {
      const page = Math.floor(at / pageSize) * pageSize
      writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, page)
      found++
    }
    assert.isAbove(found, 0, "marker not found in the file")
  } finally {
    closeSync(fd)
  }
}

describe("a corrupt SQLite store", () => {
  it.live("a corrupt page makes reads answer 503 StoreUnavailable and /health report degraded", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "eventflow-corrupt-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const filename = join(dir, "runs.db")
      const first = yield* Scope.make()
      const base1 = yield* serve(filename).pipe(Scope.extend(first))
      const marker = "MARKER".repeat(2000)
      const run = yield* request(`${base1}/workflows/greet/runs?wait=true`, { method: "POST", body: { name: marker } })
      assert.strictEqual(run.body.status, "completed")
      yield* Scope.close(first, Exit.void)
      corruptPageWith(filename, "MARKERMARKER")

      const base = yield* serve(filename)
      const read = yield* request(`${base}/runs/${run.body.runId}`)
      assert.strictEqual(read.status, 503)
      assert.strictEqual(read.body._tag, "StoreUnavailable")
      const health = yield* request(`${base}/health`)
      assert.strictEqual(health.body.status, "degraded")
      assert.match(health.body.store.error, /malformed|corrupt/i)
      assert.strictEqual((yield* request(`${base}/ready`)).status, 503)
    }).pipe(Effect.scoped)
  )
})
