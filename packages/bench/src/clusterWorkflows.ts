/**
 * The workflows of the cluster bench (`clusterBench.ts`), shared by the bench process and its runner processes.
 *
 * - `bench-three`: three steps (a short durable run), for runs/s.
 * - `bench-hops`: a loop of `hops` hops; each hop records how long after the previous one it started (measured in the
 *   process that hosts the run), and the run returns those gaps: the hop latency (one durable checkpoint each).
 */
import { defineWorkflow, Event, StartEvent, StopEvent } from "@eventflow/core"
import { Effect, Ref, Schema } from "effect"

export const A = Event.define("BenchA", { n: Schema.Number })
export const B = Event.define("BenchB", { n: Schema.Number })

export const three = defineWorkflow({ name: "bench-three", input: Schema.Number, output: Schema.Number })
  .step(StartEvent, (start) => Effect.succeed(A.make({ n: start.input })), { name: "first", emits: [A] })
  .step(A, (a) => Effect.succeed(B.make({ n: a.n + 1 })), { name: "second", emits: [B] })
  .step(B, (b) => Effect.succeed(StopEvent.make({ result: b.n + 1 })), { name: "third", emits: [StopEvent] })

export const Hop = Event.define("BenchHop", { n: Schema.Number })

export const hops = defineWorkflow({
  name: "bench-hops",
  input: Schema.Number,
  output: Schema.Array(Schema.Number),
  state: Schema.Struct({ hops: Schema.Number, last: Schema.Number, gaps: Schema.Array(Schema.Number) }),
  initialState: { hops: 0, last: 0, gaps: [] as ReadonlyArray<number> }
})
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.as(Ref.set(ctx.state, { hops: start.input, last: performance.now(), gaps: [] }), Hop.make({ n: 1 })),
    { name: "begin", emits: [Hop] }
  )
  .step(
    Hop,
    (hop, ctx) =>
      Effect.gen(function* () {
        const now = performance.now()
        const s = yield* Ref.updateAndGet(ctx.state, (s) => ({ ...s, last: now, gaps: [...s.gaps, now - s.last] }))
        return hop.n >= s.hops ? StopEvent.make({ result: s.gaps }) : Hop.make({ n: hop.n + 1 })
      }),
    { name: "hop", emits: [Hop, StopEvent] }
  )
