import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Ref, Schema, Scope } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { compactEvery, compactionOf, decodeCompaction, replay } from "../src/internal/journalEngine.js"
import { signature } from "../src/internal/journal.js"
import { planOf } from "../src/internal/plan.js"
import { stores } from "./utils.js"

const A = Event.define("A", { n: Schema.Number })
const Progress = Event.define("Progress", { n: Schema.Number })
const Ask = Event.define("Ask", { n: Schema.Number })

/** A loop of `hops` durable hops (a write and a state update each), then a wait for a person. */
const longRun = (name: string, hops: number) =>
  defineWorkflow({
    name,
    input: Schema.Number,
    output: Schema.String,
    state: Schema.Struct({ count: Schema.Number }),
    initialState: { count: 0 }
  })
    .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A] })
    .step(
      A,
      (a, ctx) =>
        Effect.gen(function* () {
          yield* ctx.write(Progress.make({ n: a.n }))
          yield* Ref.update(ctx.state, (s) => ({ count: s.count + 1 }))
          return a.n + 1 >= hops ? Ask.make({ n: a.n + 1 }) : A.make({ n: a.n + 1 })
        }),
      { emits: [A, Ask], name: "hop" }
    )
    .step(
      Ask,
      (ask, ctx) =>
        Effect.gen(function* () {
          const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: `${ask.n}?` }) })
          const { count } = yield* Ref.get(ctx.state)
          return StopEvent.make({ result: `${ask.n}:${count}:${answer.response}` })
        }),
      { emits: [StopEvent], name: "review" }
    )

/** Runs with compactions every `k` entries. */
const withCompactEvery = <A, E, R>(k: number, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const before = compactEvery.current
      compactEvery.current = k
      return before
    }),
    () => effect,
    (before) =>
      Effect.sync(() => {
        compactEvery.current = before
      })
  )

/** Starts the long run (durable) in its own scope, waits until it waits, and closes the scope (the process "dies"). */
const startAndStop = (s: Effect.Effect.Success<typeof stores>, wf: ReturnType<typeof longRun>, runId: string) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const handle = yield* s.provide(Scope.extend(Workflow.start(wf, 0, { durable: true, runId }), scope))
    assert.strictEqual(yield* handle.settled, "waiting")
    const journal = yield* s.journal
    // The compaction is written off the hot path: let its fiber finish.
    for (let i = 0; i < 1000; i++) {
      const summary = Option.getOrThrow(yield* journal.summary(runId))
      if (summary.compactedUpTo !== undefined && summary.compactedUpTo >= summary.entries - 60) break
      yield* Effect.yieldNow()
    }
    yield* Scope.close(scope, Exit.void)
    return journal
  })

describe("journal compaction", () => {
  it.scoped(
    "a long durable run writes compactions every K entries, standing for what the full journal replays to",
    () =>
      withCompactEvery(
        50,
        Effect.gen(function* () {
          const s = yield* stores
          const wf = longRun("compact-long", 120)
          const journal = yield* startAndStop(s, wf, "c1")
          const summary = Option.getOrThrow(yield* journal.summary("c1"))
          const loaded = Option.getOrThrow(yield* journal.load("c1"))
          const compaction = Option.getOrThrow(loaded.compaction)
          assert.isAtLeast(compaction.upToOffset, 50)
          assert.strictEqual(summary.compactedUpTo, compaction.upToOffset)
          assert.strictEqual(loaded.tail[0]?.offset, compaction.upToOffset)
          // The last compaction + its tail replay to exactly what the whole journal replays to.
          const plan = planOf(wf)
          const all = yield* journal.read("c1", 0)
          const full = replay(plan, "c1", all, 1)
          const decoded = decodeCompaction(plan, "c1", signature(wf), compaction)
          assert.notStrictEqual(typeof decoded, "string", String(decoded))
          const fromCompaction = replay(plan, "c1", all, 1, decoded as Exclude<typeof decoded, string>)
          assert.deepStrictEqual(fromCompaction, full)
          // From the tail alone (what a compaction writer reads), the run replays to the same snapshot but the log.
          const fromTail = replay(
            plan,
            "c1",
            loaded.tail,
            1,
            decodeCompaction(plan, "c1", signature(wf), compaction) as any
          )
          assert.isTrue("snapshot" in fromTail && "snapshot" in full)
          if ("snapshot" in fromTail && "snapshot" in full) {
            assert.deepStrictEqual({ ...fromTail.snapshot, published: [] }, { ...full.snapshot, published: [] })
          }
        })
      )
  )

  it.scoped("a resume starts from the last compaction and replays only the tail after it", () =>
    withCompactEvery(
      50,
      Effect.gen(function* () {
        const s = yield* stores
        const wf = longRun("compact-resume", 120)
        const journal = yield* startAndStop(s, wf, "c2")
        assert.isTrue(Option.isSome(Option.getOrThrow(yield* journal.load("c2")).compaction))
        // A compaction of the whole journal (as the engine makes it) that says the count was 1000: the resumed run
        // counts from it, which it can only do if it resumed from the compaction and not by replaying the journal.
        const all = yield* journal.read("c2", 0)
        const made = compactionOf(planOf(wf), "c2", all, undefined)
        assert.isFalse(Array.isArray(made))
        const { snapshot, upToOffset } = made as Exclude<typeof made, ReadonlyArray<string>>
        assert.strictEqual(upToOffset, all.length)
        yield* journal.compact("c2", { ...(snapshot as object), committed: { count: 1000 } }, upToOffset)
        // RunStore.load (the server's run info) replays from it too.
        const loaded = yield* s.provide(Effect.flatMap(RunStore.RunStore, (store) => store.load("c2")))
        assert.deepStrictEqual(Option.getOrThrow(loaded).state, { count: 1000 })
        const resumed = yield* s.provide(Workflow.resume(wf, "c2"))
        yield* resumed.send(HumanResponse.make({ response: "ok" }))
        assert.strictEqual(yield* resumed.result, "120:1000:ok")
      })
    )
  )

  it.scoped("a corrupt or incompatible compaction is skipped: the resume replays the whole journal and completes", () =>
    withCompactEvery(
      50,
      Effect.gen(function* () {
        const s = yield* stores
        const wf = longRun("compact-corrupt", 120)
        for (const [runId, bad] of [
          ["c3", { format: "eventflow.compaction/1", invocations: "not an array" }],
          ["c4", { format: "eventflow.compaction/99" }],
          ["c5", "garbage"]
        ] as const) {
          const journal = yield* startAndStop(s, wf, runId)
          const length = Option.getOrThrow(yield* journal.summary(runId)).entries
          // Written as the newest compaction (a later offset than the engine's).
          yield* journal.compact(runId, bad, length)
          const resumed = yield* s.provide(Workflow.resume(wf, runId))
          yield* resumed.send(HumanResponse.make({ response: "ok" }))
          assert.strictEqual(yield* resumed.result, "120:120:ok", runId)
        }
      })
    )
  )

  it("compactionOf reports a journal that does not replay instead of writing a compaction", () => {
    const wf = longRun("compact-none", 3)
    const made = compactionOf(planOf(wf), "x", [], undefined)
    assert.isTrue(Array.isArray(made))
  })
})

describe("one journal entry per durable hop", () => {
  it.scoped(
    "a hop's write and log chunk ride in its InvocationCompleted (one row per hop), and the log resumes identical",
    () =>
      Effect.gen(function* () {
        const s = yield* stores
        const wf = longRun("one-row", 10)
        const scope = yield* Scope.make()
        const handle = yield* s.provide(Scope.extend(Workflow.start(wf, 0, { durable: true, runId: "h1" }), scope))
        assert.strictEqual(yield* handle.settled, "waiting")
        const journal = yield* s.journal
        const entries = yield* journal.read("h1", 0)
        const hops = entries.filter((e) => e.entry._tag === "InvocationCompleted" && e.entry.step === "hop")
        assert.strictEqual(hops.length, 10)
        // Every hop is one entry: its completion carries its write and the events it published.
        for (const hop of hops) {
          const entry = hop.entry as Extract<typeof hop.entry, { _tag: "InvocationCompleted" }>
          assert.isDefined(entry.log, `entry ${hop.offset}`)
          assert.isTrue(
            entry.log!.events.some((e: any) => e._tag === "Progress"),
            `entry ${hop.offset}`
          )
          assert.deepStrictEqual(entry.writes, [{ index: 0, event: { _tag: "Written" } }], `entry ${hop.offset}`)
        }
        // From the first hop to the last, the journal holds nothing else: one entry (one row) per hop.
        const span = entries.slice(hops[0].offset, hops[9].offset + 1)
        assert.deepStrictEqual(
          span.map((e) => e.entry._tag),
          hops.map(() => "InvocationCompleted")
        )
        // The log (SSE offsets) is the concatenation of the chunks, the same after a restart.
        const logged = entries.flatMap((e) =>
          e.entry._tag === "Published"
            ? e.entry.events
            : e.entry._tag === "InvocationCompleted" && e.entry.log !== undefined
              ? e.entry.log.events
              : []
        )
        const before = (yield* handle.snapshot).published
        assert.deepStrictEqual(JSON.parse(JSON.stringify(before.slice(0, logged.length))), logged)
        yield* Scope.close(scope, Exit.void)
        const resumed = yield* s.provide(Workflow.resume(wf, "h1"))
        const after = (yield* resumed.snapshot).published
        assert.deepStrictEqual(JSON.parse(JSON.stringify(after.slice(0, logged.length))), logged)
        yield* resumed.send(HumanResponse.make({ response: "ok" }))
        assert.strictEqual(yield* resumed.result, "10:10:ok")
      })
  )
})
