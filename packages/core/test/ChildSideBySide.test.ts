/**
 * Children started side by side (`ctx.start` several handles at once, `ctx.run` in `Effect.all`) by a durable parent
 * whose process goes away (the parent is detached) while each child is inside a step: the resumed parent's step
 * re-attaches each child to its own journaled run, and the parent's stream holds each child's events once each,
 * in the child's order, whatever the interleaving of the children in either execution.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Ref, Schema, Stream } from "effect"
import { Child, defineWorkflow, Event, RunStore, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { allEvents } from "./utils.js"

const Note = Event.define("Note", { note: Schema.String })
const Next = Event.define("Next", { job: Schema.String })

/** Per test: the gate the children's second step waits on (closed in the first process), and execution counts. */
const makeWorld = Effect.gen(function* () {
  const gate = yield* Deferred.make<void>()
  const open = yield* Ref.make(false)
  const counts = yield* Ref.make<Record<string, number>>({})
  const reached = yield* Ref.make(0)
  const hit = (label: string) => Ref.update(counts, (m) => ({ ...m, [label]: (m[label] ?? 0) + 1 }))
  const pass = Effect.flatMap(Ref.get(open), (isOpen) =>
    isOpen
      ? Effect.void
      : Effect.zipRight(
          Ref.update(reached, (n) => n + 1),
          Deferred.await(gate)
        )
  )
  return { gate, open, counts, reached, hit, pass }
})

type World = Effect.Effect.Success<typeof makeWorld>

/** A child: `first` notes `<job>:1`; `second` passes the gate, notes `<job>:2`, returns the job upper-cased. */
const childOf = (world: World) =>
  defineWorkflow({ name: "sbs-child", input: Schema.String, output: Schema.String })
    .step(
      StartEvent,
      (start, ctx) =>
        Effect.gen(function* () {
          yield* world.hit(`first ${start.input}`)
          yield* ctx.write(Note.make({ note: `${start.input}:1` }))
          return Next.make({ job: start.input })
        }),
      { name: "first", emits: [Next] }
    )
    .step(
      Next,
      (next, ctx) =>
        Effect.gen(function* () {
          yield* world.hit(`second ${next.job}`)
          yield* world.pass
          yield* ctx.write(Note.make({ note: `${next.job}:2` }))
          return StopEvent.make({ result: next.job.toUpperCase() })
        }),
      { name: "second", emits: [StopEvent] }
    )

/** `[child run, note]` of the parent's ChildEvents that carry a Note. */
const notes = (events: ReadonlyArray<Event.AnyEvent>) =>
  events
    .filter(Event.is(Child.ChildEvent))
    .filter((e) => (e.event as { _tag: string })._tag === "Note")
    .map((e) => [e.runId, (e.event as { note: string }).note])

const sorted = (rows: ReadonlyArray<ReadonlyArray<string>>) => rows.map((r) => r.join(" ")).sort()

/** Runs the parent until every child is in its `second` step, detaches it, opens the gate, resumes it. */
const crashAndResume = (world: World, parent: Workflow.Any, children: number) =>
  Effect.gen(function* () {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const handle = yield* Workflow.start(parent, undefined, { runId: "P", durable: true })
        // Every child is inside `second` and its `first` note is in the parent's stream.
        yield* Stream.runDrain(
          handle.events().pipe(
            Stream.filter((e) => notes([e]).length > 0),
            Stream.take(children)
          )
        )
        for (let i = 0; i < 10_000 && (yield* Ref.get(world.reached)) < children; i++) yield* Effect.yieldNow()
        assert.strictEqual(yield* Ref.get(world.reached), children)
      })
    )
    yield* Ref.set(world.open, true)
    yield* Deferred.succeed(world.gate, undefined)
    const resumed = yield* Workflow.resume(parent, "P")
    const events = yield* allEvents(resumed)
    return { result: yield* resumed.result, events }
  }) as Effect.Effect<
    { readonly result: unknown; readonly events: ReadonlyArray<Event.AnyEvent> },
    unknown,
    RunStore.RunStore
  >

describe("Children side by side after a restart", () => {
  it.scoped("ctx.start: three children alive at once re-attach to their own runs, events once each", () =>
    Effect.gen(function* () {
      const world = yield* makeWorld
      const child = childOf(world)
      const parent = defineWorkflow({ name: "sbs-start", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            const a = yield* ctx.start(child, "a")
            const b = yield* ctx.start(child, "b")
            const c = yield* ctx.start(child, "c")
            const results = yield* Effect.all([a.result, b.result, c.result], { concurrency: "unbounded" })
            return StopEvent.make({ result: results.join(" ") })
          }),
        { name: "fan", emits: [StopEvent], children: [child] }
      )
      const { result, events } = yield* crashAndResume(world, parent, 3)
      // Each handle is its own child's: a's result is "A", and so on.
      assert.strictEqual(result, "A B C")
      const c = (n: number) => `P/fan@0/c${n}`
      assert.deepStrictEqual(
        sorted(notes(events)),
        sorted([
          [c(0), "a:1"],
          [c(0), "a:2"],
          [c(1), "b:1"],
          [c(1), "b:2"],
          [c(2), "c:1"],
          [c(2), "c:2"]
        ])
      )
      // Each child's events in its own order.
      for (const [n, job] of [
        [0, "a"],
        [1, "b"],
        [2, "c"]
      ] as const) {
        assert.deepStrictEqual(
          notes(events)
            .filter(([runId]) => runId === c(n))
            .map(([, note]) => note),
          [`${job}:1`, `${job}:2`]
        )
      }
      // No child started twice: `first` ran once per child, `second` twice (in flight at the restart).
      assert.deepStrictEqual(yield* Ref.get(world.counts), {
        "first a": 1,
        "first b": 1,
        "first c": 1,
        "second a": 2,
        "second b": 2,
        "second c": 2
      })
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.scoped("ctx.run in Effect.all: each result is its own child's after a restart", () =>
    Effect.gen(function* () {
      const world = yield* makeWorld
      const child = childOf(world)
      const parent = defineWorkflow({ name: "sbs-all", output: Schema.String }).step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            const results = yield* Effect.all([ctx.run(child, "x"), ctx.run(child, "y"), ctx.run(child, "z")], {
              concurrency: "unbounded"
            })
            return StopEvent.make({ result: results.join(" ") })
          }),
        { name: "fan", emits: [StopEvent], children: [child] }
      )
      const { result, events } = yield* crashAndResume(world, parent, 3)
      assert.strictEqual(result, "X Y Z")
      for (const [n, job] of [
        [0, "x"],
        [1, "y"],
        [2, "z"]
      ] as const) {
        assert.deepStrictEqual(
          notes(events)
            .filter(([runId]) => runId === `P/fan@0/c${n}`)
            .map(([, note]) => note),
          [`${job}:1`, `${job}:2`]
        )
      }
      assert.strictEqual(notes(events).length, 6)
      assert.deepStrictEqual(yield* Ref.get(world.counts), {
        "first x": 1,
        "first y": 1,
        "first z": 1,
        "second x": 2,
        "second y": 2,
        "second z": 2
      })
    }).pipe(Effect.provide(RunStore.layerMemory))
  )
})
