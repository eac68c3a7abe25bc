import { assert, describe, it } from "@effect/vitest"
import { Journal, JournalStore, JournalStoreSuite } from "@eventflow/core"
import { PgJournalStore } from "@eventflow/postgres"
import { Effect } from "effect"
import { freshDatabase, spawnWriter } from "./utils.js"

/** Runs `body` with the journal store of `url`, in a layer of its own (a pool of its own), closed after. */
const withStore = <A, E>(url: string, body: (store: JournalStore.Service) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(JournalStore.JournalStore, body), PgJournalStore.layer({ url }))

describe("PgJournalStore across processes", () => {
  it.live(
    "two processes appending the same entries to one run at once: each lands once, offsets dense",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        yield* withStore(url, (store) => store.append("run-1", [JournalStoreSuite.started("run-1")]))
        const a = yield* spawnWriter(["append", url, "150"])
        const b = yield* spawnWriter(["append", url, "150"])
        assert.deepStrictEqual(yield* Effect.all([a.line, b.line], { concurrency: 2 }), ["done", "done"])
        const read = yield* withStore(url, (store) => store.read("run-1"))
        assert.deepStrictEqual(
          read.map((s) => s.offset),
          Array.from({ length: 151 }, (_, i) => i)
        )
        assert.deepStrictEqual(
          read.slice(1).map((s) => s.entry.id),
          Array.from({ length: 150 }, (_, i) => `done:s@x/${i}`)
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "two processes that both claimed a run: the first is fenced on its next append and stops; its entries never land after",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        yield* withStore(url, (store) => store.append("run-1", [JournalStoreSuite.started("run-1")]))
        const a = yield* spawnWriter(["fenced", url, "a"])
        assert.strictEqual(yield* a.line, "claimed 1")
        yield* a.send("append 0")
        assert.strictEqual(yield* a.line, "ok 1")
        yield* a.send("append 1")
        assert.strictEqual(yield* a.line, "ok 2")
        // A second process believes it owns the run too (say the first one looked dead) and claims it.
        const b = yield* spawnWriter(["fenced", url, "b"])
        assert.strictEqual(yield* b.line, "claimed 2")
        yield* b.send("append 0")
        assert.strictEqual(yield* b.line, "ok 3")
        // The first process goes on as if it still owned the run: it is refused and stops.
        yield* a.send("append 2")
        assert.strictEqual(yield* a.line, "fenced 2")
        assert.strictEqual(yield* a.exit, 0)
        yield* b.send("append 1")
        assert.strictEqual(yield* b.line, "ok 4")
        const read = yield* withStore(url, (store) => store.read("run-1"))
        assert.deepStrictEqual(
          read.map((s) => [s.offset, s.entry.id]),
          [
            [0, "start"],
            [1, "done:a@x/0"],
            [2, "done:a@x/1"],
            [3, "done:b@x/0"],
            [4, "done:b@x/1"]
          ]
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a process follows a run that another process appends to: every entry, with the offsets of the journal, until RunEnded",
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const follower = yield* spawnWriter(["follow", url, "run-1", "0"])
        const late = yield* spawnWriter(["follow", url, "run-1", "120"])
        assert.deepStrictEqual(yield* Effect.all([follower.line, late.line]), ["ready", "ready"])
        yield* withStore(url, (store) => store.append("run-1", [JournalStoreSuite.started("run-1")]))
        const appender = yield* spawnWriter(["append", url, "150"])
        assert.strictEqual(yield* appender.line, "done")
        yield* withStore(url, (store) =>
          store.append("run-1", [{ _tag: "RunEnded", id: Journal.ids.runEnded, status: "completed" }])
        )
        const followed = (child: typeof follower) =>
          Effect.gen(function* () {
            const out: Array<string> = []
            for (let line = yield* child.line; line !== "end"; line = yield* child.line) out.push(line)
            return out
          })
        const [all, fromOffset] = yield* Effect.all([followed(follower), followed(late)], { concurrency: 2 })
        const read = yield* withStore(url, (store) => store.read("run-1"))
        const expected = read.map((s) => `${s.offset} ${s.entry.id}`)
        assert.strictEqual(read.length, 152)
        assert.deepStrictEqual(all, expected)
        assert.deepStrictEqual(fromOffset, expected.slice(120))
        assert.strictEqual(yield* follower.exit, 0)
      }).pipe(Effect.scoped),
    120_000
  )
})
