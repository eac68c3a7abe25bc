import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Option, Ref, Schema, Stream } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  Journal,
  JournalStore,
  type RunHandle,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import * as fc from "fast-check"
import { compactionOf, decodeCompaction, replay } from "../src/internal/journalEngine.js"
import { planOf } from "../src/internal/plan.js"

/**
 * A random workflow of the examples' shapes, in one pipeline:
 * StartEvent -> a chain of `k` steps -> a fan-out of `n` items to a worker step (`workers: w`) joined with
 * `ctx.collect(ev, Res, n)` -> a loop of `m` iterations -> (optionally) a step that waits for a HumanResponse -> Stop.
 */
interface Shape {
  readonly k: number
  readonly n: number
  readonly w: number
  readonly m: number
  readonly hitl: boolean
}

/** Where the original run is snapshotted. */
type Point =
  | { readonly _tag: "Yields"; readonly yields: number }
  | { readonly _tag: "Published"; readonly count: number }

const Progress = Event.define("Progress", { label: Schema.String })
const Split = Event.define("Split", { v: Schema.Number })
const Item = Event.define("Item", { j: Schema.Number, v: Schema.Number })
const Res = Event.define("Res", { j: Schema.Number, v: Schema.Number })
const Tick = Event.define("Tick", { i: Schema.Number, v: Schema.Number })
const Ask = Event.define("Ask", { v: Schema.Number })
const Hops = Array.from({ length: 5 }, (_, i) => Event.define(`Hop${i}`, { v: Schema.Number }))

/** A workflow built in a loop: its tags are only known as strings; it needs no services. */
type Built = Workflow.Workflow<
  "snapshot-property",
  number,
  number,
  string,
  { readonly n: number },
  string,
  string,
  unknown,
  never
>

const build = (shape: Shape): Built => {
  const afterLoop = (v: number) => (shape.hitl ? Ask.make({ v }) : StopEvent.make({ result: `v=${v}` as string }))
  const afterLoopType = shape.hitl ? Ask : StopEvent
  const chainEntry = (i: number, v: number) => (i < shape.k ? Hops[i].make({ v }) : Split.make({ v }))
  const chainEntryType = (i: number) => (i < shape.k ? Hops[i] : Split)

  let wf: Built = defineWorkflow({
    name: "snapshot-property",
    input: Schema.Number,
    output: Schema.String,
    state: Schema.Struct({ n: Schema.Number }),
    initialState: { n: 0 }
  })
  wf = wf.step(StartEvent, (start) => Effect.succeed(chainEntry(0, start.input)), {
    emits: [chainEntryType(0)]
  })
  for (let i = 0; i < shape.k; i++) {
    wf = wf.step(
      Hops[i],
      (hop, ctx) =>
        Effect.as(ctx.write(Progress.make({ label: `chain ${i}` })), chainEntry(i + 1, (hop.v * 3 + i) % 1000)),
      { name: `chain${i}`, emits: [chainEntryType(i + 1)] }
    )
  }
  wf = wf
    .step(Split, (split) => Effect.succeed(Array.from({ length: shape.n }, (_, j) => Item.make({ j, v: split.v }))), {
      name: "split",
      emits: [Item]
    })
    .step(
      Item,
      (item, ctx) =>
        Effect.gen(function* () {
          yield* ctx.write(Progress.make({ label: `item ${item.j}` }))
          // A state update in flight across a yield: it must count once per completed invocation.
          yield* Ref.update(ctx.state, (s) => ({ n: s.n + item.v + 1 }))
          yield* Effect.yieldNow()
          return Res.make({ j: item.j, v: item.v + item.j * item.j })
        }),
      { name: "worker", emits: [Res], workers: shape.w }
    )
    .step(
      Res,
      (res, ctx) =>
        Effect.gen(function* () {
          const all = yield* ctx.collect(res, Res, shape.n)
          if (Option.isNone(all)) return undefined
          yield* ctx.write(Progress.make({ label: "join" }))
          const js = all.value.map((r) => r.j).sort((a, b) => a - b)
          // A join that got a duplicate (or missed an item) ends the run with a result that cannot match.
          if (js.join(",") !== Array.from({ length: shape.n }, (_, j) => j).join(",")) {
            return StopEvent.make({ result: `bad join: ${js.join(",")}` })
          }
          return Tick.make({ i: 0, v: all.value.reduce((sum, r) => sum + r.v, 0) })
        }),
      { name: "join", emits: [Tick, StopEvent] }
    )
    .step(
      Tick,
      (tick, ctx) =>
        Effect.as(
          Effect.zipRight(
            ctx.write(Progress.make({ label: `tick ${tick.i}` })),
            Ref.update(ctx.state, (s) => ({ n: s.n + 1 }))
          ),
          tick.i < shape.m ? Tick.make({ i: tick.i + 1, v: tick.v + tick.i }) : afterLoop(tick.v)
        ),
      { name: "loop", emits: [Tick, afterLoopType] }
    )
  if (shape.hitl) {
    wf = wf.step(
      Ask,
      (ask, ctx) =>
        Effect.gen(function* () {
          const h = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: `approve ${ask.v}?` }) })
          yield* ctx.write(Progress.make({ label: "answered" }))
          return StopEvent.make({ result: `v=${ask.v};${h.response}` })
        }),
      { name: "ask", emits: [StopEvent] }
    )
  }
  return wf
}

/** Answers every prompt the run waits for, until the run ends. */
const drive = (handle: RunHandle) =>
  Effect.gen(function* () {
    for (;;) {
      const status = yield* handle.status
      if (status === "waiting") yield* Effect.ignore(handle.send(HumanResponse.make({ response: "ok" })))
      else if (status !== "running") return
      yield* Effect.yieldNow()
    }
  })

/** JSON with sorted keys: two equal events give the same string whatever their key order. */
const canonical = (event: Event.AnyEvent): string =>
  JSON.stringify(Object.fromEntries(Object.entries(event).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))

const userEvents = (handle: RunHandle) =>
  Effect.map(Stream.runCollect(handle.events()), (chunk) => Chunk.toReadonlyArray(chunk).map(canonical))

const finish = (handle: RunHandle) =>
  Effect.gen(function* () {
    yield* drive(handle)
    const result = yield* handle.result
    return { result, events: yield* userEvents(handle), state: yield* handle.state }
  })

/** Stores in memory whose journal notes where each append ended (a crash can only happen between two appends). */
const recordingStores = Effect.gen(function* () {
  const journal = yield* JournalStore.makeMemory
  const ends: Array<number> = []
  const recording: JournalStore.Service = {
    ...journal,
    append: (runId, entries, options) =>
      Effect.tap(journal.append(runId, entries, options), (stored) =>
        Effect.sync(() => {
          if (stored.length > 0) ends.push(Math.max(...stored.map((e) => e.offset)) + 1)
        })
      )
  }
  const context = Context.make(RunStore.RunStore, RunStore.withJournal(yield* RunStore.makeMemory, recording)).pipe(
    Context.add(JournalStore.JournalStore, recording)
  )
  return { journal, ends, context }
})

/**
 * A durable run is stopped right after a random append (its journal cut there, as a killed process leaves it) and
 * resumed from that journal in a fresh store: the result, the final state and the published events are those of
 * the uninterrupted run.
 */
const checkJournal = (shape: Shape, cut: number, input: number, compactAt?: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const wf = build(shape)
      const original = yield* recordingStores
      const baseline = yield* Effect.provide(
        Effect.flatMap(Workflow.start(wf, input, { durable: true, runId: "p" }), finish),
        original.context
      )
      const entries: ReadonlyArray<Journal.Stored> = yield* original.journal.read("p", 0)
      const at = original.ends[cut % original.ends.length]
      const copy = yield* recordingStores
      yield* copy.journal.append(
        "p",
        entries.slice(0, at).map((e) => e.entry)
      )
      if (compactAt !== undefined) {
        // A compaction at an earlier append boundary (as the engine writes them): resume = it + the tail replayed,
        // which must replay to what the whole journal replays to.
        const kept = entries.slice(0, at)
        const upTo = original.ends.filter((end) => end <= at)[
          compactAt % original.ends.filter((end) => end <= at).length
        ]
        const made = compactionOf(planOf(wf), "p", kept.slice(0, upTo), undefined)
        if (Array.isArray(made)) assert.fail(`no compaction: ${made.join("; ")}`)
        const { snapshot, upToOffset } = made as Exclude<typeof made, ReadonlyArray<string>>
        assert.strictEqual(upToOffset, upTo)
        yield* copy.journal.compact("p", snapshot, upToOffset)
        const compacted = decodeCompaction(planOf(wf), "p", Journal.signature(wf), { snapshot, upToOffset })
        if (typeof compacted === "string") assert.fail(compacted)
        assert.deepStrictEqual(
          replay(planOf(wf), "p", kept, 0, compacted as Exclude<typeof compacted, string>),
          replay(planOf(wf), "p", kept, 0),
          `compaction at ${upTo}, cut after entry ${at} of ${entries.length}`
        )
      }
      const after = yield* Effect.provide(Effect.flatMap(Workflow.resume(wf, "p"), finish), copy.context)
      assert.strictEqual(after.result, baseline.result, `cut after entry ${at} of ${entries.length}`)
      assert.deepStrictEqual(after.state, baseline.state, `cut after entry ${at} of ${entries.length}`)
      assert.strictEqual(new Set(after.events).size, after.events.length, `duplicates in ${after.events.join(" ")}`)
      assert.deepStrictEqual([...after.events].sort(), [...baseline.events].sort())
    })
  )

const check = (shape: Shape, point: Point, answerOriginal: boolean, input: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const wf = build(shape)
      const baseline = yield* finish(yield* Workflow.start(wf, input))
      assert.strictEqual(new Set(baseline.events).size, baseline.events.length, "the baseline publishes no duplicates")

      const original = yield* Workflow.start(wf, input)
      const driver = answerOriginal ? yield* Effect.fork(drive(original)) : undefined
      if (point._tag === "Yields") {
        for (let i = 0; i < point.yields; i++) yield* Effect.yieldNow()
      } else {
        for (let i = 0; i < 10_000; i++) {
          const s = yield* original.snapshot
          if (s.published.length >= point.count || s.status !== "running") break
          yield* Effect.yieldNow()
        }
      }
      const snapshot = JSON.parse(JSON.stringify(yield* original.snapshot))
      yield* original.cancel
      if (driver !== undefined) yield* Fiber.interrupt(driver)

      const resumed = yield* Workflow.resume(wf, snapshot)
      const after = yield* finish(resumed)
      assert.strictEqual(after.result, baseline.result, `snapshot status ${snapshot.status}`)
      assert.strictEqual(new Set(after.events).size, after.events.length, `duplicates in ${after.events.join(" ")}`)
      assert.deepStrictEqual([...after.events].sort(), [...baseline.events].sort())
    })
  )

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  k: fc.integer({ min: 0, max: 4 }),
  n: fc.integer({ min: 1, max: 5 }),
  w: fc.integer({ min: 1, max: 3 }),
  m: fc.integer({ min: 0, max: 5 }),
  hitl: fc.boolean()
})

const pointArb: fc.Arbitrary<Point> = fc.oneof(
  fc.record({ _tag: fc.constant("Yields" as const), yields: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ _tag: fc.constant("Published" as const), count: fc.integer({ min: 1, max: 45 }) })
)

describe("Snapshot property", () => {
  it("snapshot at a random point + resume gives the uninterrupted result and publishes nothing twice", async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, pointArb, fc.boolean(), fc.integer({ min: 0, max: 100 }), (shape, point, ans, input) =>
        Effect.runPromise(check(shape, point, ans, input))
      ),
      { numRuns: 50 }
    )
  }, 60_000)

  it("a journal cut after a random append + resume gives the uninterrupted result, state and events", async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.nat(1000), fc.integer({ min: 0, max: 100 }), (shape, cut, input) =>
        Effect.runPromise(checkJournal(shape, cut, input))
      ),
      { numRuns: 60 }
    )
  }, 120_000)

  it("a compaction at a random earlier append + the tail gives what the whole journal replays to and resumes the same", async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb,
        fc.nat(1000),
        fc.nat(1000),
        fc.integer({ min: 0, max: 100 }),
        (shape, cut, at, input) => Effect.runPromise(checkJournal(shape, cut, input, at))
      ),
      { numRuns: 60 }
    )
  }, 120_000)
})
