/**
 * Helpers shared by the tests: wait for a condition without hanging, read a run's whole stream, gates and counters
 * for steps.
 */
import { Chunk, Deferred, Effect, Layer, Ref, Schema, Stream } from "effect"
import {
  defineWorkflow,
  Event,
  JournalStore,
  type RunHandle,
  RunStore,
  StartEvent,
  StopEvent,
  type Workflow
} from "@eventflow/core"

/** Yields until `check` holds; dies (instead of hanging) when it never does. */
export const waitUntil = <E, R>(check: Effect.Effect<boolean, E, R>, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000; i++) {
      if (yield* check) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`never happened: ${what}`)
  })

/** Waits until the run's status is one of `statuses`. */
export const statusIs = (handle: RunHandle, ...statuses: ReadonlyArray<string>) =>
  waitUntil(
    Effect.map(handle.status, (s) => statuses.includes(s)),
    `status ${statuses.join(" or ")}`
  )

/** Waits for the end of a run without hanging when it never ends. */
export const resultOf = <W extends Workflow.Any, E>(handle: RunHandle<W, E>) =>
  Effect.zipRight(statusIs(handle, "completed", "failed", "cancelled", "timed-out"), handle.result)

/** Everything the run publishes (replayed and live) until its terminal event. */
export const allEvents = (handle: RunHandle, internal = false) =>
  Effect.map(Stream.runCollect(handle.events({ internal })), Chunk.toReadonlyArray)

/**
 * A gate a step passes through: while closed, the step signals `reached` and blocks forever (until its fiber is
 * interrupted, e.g. the run is cancelled); once opened (e.g. for the resumed run) it passes.
 */
export const makeGate = Effect.gen(function* () {
  const closed = yield* Ref.make(true)
  const reached = yield* Deferred.make<void>()
  return {
    pass: Effect.flatMap(Ref.get(closed), (isClosed) =>
      isClosed ? Effect.zipRight(Deferred.succeed(reached, undefined), Effect.never) : Effect.void
    ),
    reached: Deferred.await(reached),
    open: Ref.set(closed, false)
  }
})

/** Counts executions per label. */
export const makeCounter = Effect.map(Ref.make<Record<string, number>>({}), (ref) => ({
  hit: (label: string) => Ref.update(ref, (m) => ({ ...m, [label]: (m[label] ?? 0) + 1 })),
  get: Ref.get(ref)
}))

/** A RunStore and a JournalStore in memory, built once so that a "new process" (a new scope) shares them. */
export const stores = Effect.map(Layer.build(RunStore.layerMemory), (context) => ({
  provide: <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.provide(effect, context),
  journal: Effect.provide(JournalStore.JournalStore, context)
}))

const Hop = Event.define("A", { n: Schema.Number })
const HopProgress = Event.define("Progress", { n: Schema.Number })

/** `hops` durable hops (a `Progress` write and a state update each); completes with the number of hops. */
export const loop = (name: string, hops: number) =>
  defineWorkflow({
    name,
    input: Schema.Number,
    output: Schema.Number,
    state: Schema.Struct({ count: Schema.Number }),
    initialState: { count: 0 }
  })
    .step(StartEvent, (s) => Effect.succeed(Hop.make({ n: s.input })), { emits: [Hop] })
    .step(
      Hop,
      (a, ctx) =>
        Effect.gen(function* () {
          yield* ctx.write(HopProgress.make({ n: a.n }))
          yield* Ref.update(ctx.state, (s) => ({ count: s.count + 1 }))
          return a.n + 1 >= hops
            ? StopEvent.make({ result: (yield* Ref.get(ctx.state)).count })
            : Hop.make({ n: a.n + 1 })
        }),
      { emits: [Hop, StopEvent], name: "hop" }
    )
