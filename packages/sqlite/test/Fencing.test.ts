import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { JournalStore, JournalStoreSuite } from "@eventflow/core"
import { SqliteJournalStore } from "@eventflow/sqlite"
import { Deferred, Effect, Queue } from "effect"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-fencing-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A `journal-fenced.ts` child: its output lines, its stdin and its exit code; killed when the scope closes. */
const spawnWriter = (filename: string, name: string) =>
  Effect.gen(function* () {
    const lines = yield* Queue.unbounded<string>()
    const exited = yield* Deferred.make<number | null>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          process.execPath,
          ["--conditions=source", "--import", "tsx", "packages/sqlite/test/fixtures/journal-fenced.ts", filename, name],
          { stdio: ["pipe", "pipe", "pipe"] }
        )
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )
    let pending = ""
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      const parts = pending.split("\n")
      pending = parts.pop()!
      for (const part of parts) Queue.unsafeOffer(lines, part)
    })
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")))
    child.on("close", (code) => Deferred.unsafeDone(exited, Effect.succeed(code)))
    const line = Effect.raceFirst(
      Queue.take(lines),
      Effect.flatMap(Deferred.await(exited), (code) =>
        Effect.dieMessage(`journal-fenced ${name} exited with ${code} before printing a line: ${err}`)
      )
    )
    return {
      line,
      send: (text: string) => Effect.sync(() => void child.stdin.write(`${text}\n`)),
      exit: Deferred.await(exited)
    }
  })

describe("SqliteJournalStore fencing across processes", () => {
  it.live(
    "two processes that both claimed a run: the first is fenced on its next append and stops; its entries never land after",
    () =>
      Effect.gen(function* () {
        const filename = path.join(yield* tempDir, "runs.db")
        const withStore = <A, E>(body: (store: JournalStore.Service) => Effect.Effect<A, E>) =>
          Effect.provide(Effect.flatMap(JournalStore.JournalStore, body), SqliteJournalStore.layer({ filename }))
        yield* withStore((store) => store.append("run-1", [JournalStoreSuite.started("run-1")]))
        const a = yield* spawnWriter(filename, "a")
        assert.strictEqual(yield* a.line, "claimed 1")
        yield* a.send("append 0")
        assert.strictEqual(yield* a.line, "ok 1")
        const b = yield* spawnWriter(filename, "b")
        assert.strictEqual(yield* b.line, "claimed 2")
        yield* b.send("append 0")
        assert.strictEqual(yield* b.line, "ok 2")
        yield* a.send("append 1")
        assert.strictEqual(yield* a.line, "fenced 2")
        assert.strictEqual(yield* a.exit, 0)
        yield* b.send("append 1")
        assert.strictEqual(yield* b.line, "ok 3")
        const read = yield* withStore((store) => store.read("run-1"))
        assert.deepStrictEqual(
          read.map((s) => [s.offset, s.entry.id]),
          [
            [0, "start"],
            [1, "done:a@x/0"],
            [2, "done:b@x/0"],
            [3, "done:b@x/1"]
          ]
        )
      }).pipe(Effect.scoped),
    120_000
  )
})
