/**
 * The workloads written with Eventflow the way the README teaches: `Event.define` events, a
 * `defineWorkflow(...).step(...)` builder, `Workflow.run` / `Workflow.start` + `handle.send`, default run options.
 */
import {
  defineWorkflow,
  Event,
  Follower,
  HumanResponse,
  InputRequired,
  type RunHandle,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Deferred, Effect, Fiber, Option, Ref, Schema, Stream } from "effect"
import type { Implementation } from "../scenarios.js"
import { chain, runChain } from "./eventflowChain.js"

// -----------------------------------------------------------------------------
// S2 fan-out / fan-in
// -----------------------------------------------------------------------------

const Work = Event.define("Work", { i: Schema.Number })
const Result = Event.define("Result", { i: Schema.Number, v: Schema.Number })

/**
 * The worker and the collector keep the default `workers` (4): that is what the README teaches and what a user
 * writes, and the steps do no I/O, so more concurrency cannot help them. (Measured by hand: `workers: Infinity` on
 * the worker, or on both steps, gives the same S2 time within the noise.)
 */
const fanOutWorkflow = (n: number) =>
  defineWorkflow({
    name: "fan-out",
    input: Schema.Number,
    output: Schema.Struct({ count: Schema.Number, sum: Schema.Number })
  })
    .step(StartEvent, (start) => Effect.succeed(Array.from({ length: start.input }, (_, i) => Work.make({ i }))), {
      emits: [Work]
    })
    .step(Work, (work) => Effect.succeed(Result.make({ i: work.i, v: 2 * work.i })), { emits: [Result] })
    .step(
      Result,
      (result, ctx) =>
        Effect.gen(function* () {
          const all = yield* ctx.collect(result, Result, n)
          if (Option.isNone(all)) return
          let sum = 0
          for (const r of all.value) sum += r.v
          return StopEvent.make({ result: { count: all.value.length, sum } })
        }),
      { emits: [StopEvent] }
    )

// -----------------------------------------------------------------------------
// S3 loop: Ping -> Pong -> Ping ... each hop adds 1 to n
// -----------------------------------------------------------------------------

const Ping = Event.define("Ping", { n: Schema.Number })
const Pong = Event.define("Pong", { n: Schema.Number })

const loopWorkflow = (hops: number) =>
  defineWorkflow({ name: "loop", output: Schema.Number })
    .step(StartEvent, () => Effect.succeed(Ping.make({ n: 0 })), { emits: [Ping] })
    .step(
      Ping,
      (ping) =>
        Effect.succeed(ping.n + 1 >= hops ? StopEvent.make({ result: ping.n + 1 }) : Pong.make({ n: ping.n + 1 })),
      { emits: [Pong, StopEvent] }
    )
    .step(
      Pong,
      (pong) =>
        Effect.succeed(pong.n + 1 >= hops ? StopEvent.make({ result: pong.n + 1 }) : Ping.make({ n: pong.n + 1 })),
      { emits: [Ping, StopEvent] }
    )

// -----------------------------------------------------------------------------
// S4 concurrent: 3-step chains started at once, the first step waits for a shared gate
// -----------------------------------------------------------------------------

const Second = Event.define("Second", { n: Schema.Number })
const Third = Event.define("Third", { n: Schema.Number })

const concurrentWorkflow = (runs: number, gate: Deferred.Deferred<void>) => {
  let arrived = 0
  return defineWorkflow({ name: "concurrent", input: Schema.Number, output: Schema.Number })
    .step(
      StartEvent,
      (start) =>
        Effect.gen(function* () {
          // The last run to arrive opens the gate: then all runs are in flight together.
          if (++arrived === runs) yield* Deferred.succeed(gate, undefined)
          yield* Deferred.await(gate)
          return Second.make({ n: start.input + 1 })
        }),
      { emits: [Second] }
    )
    .step(Second, (e) => Effect.succeed(Third.make({ n: e.n + 1 })), { emits: [Third] })
    .step(Third, (e) => Effect.succeed(StopEvent.make({ result: e.n + 1 })), { emits: [StopEvent] })
}

const runConcurrent = (runs: number) =>
  Effect.gen(function* () {
    const gate = yield* Deferred.make<void>()
    const wf = concurrentWorkflow(runs, gate)
    return yield* Effect.forEach(
      Array.from({ length: runs }, (_, i) => i),
      (i) => Workflow.run(wf, i),
      { concurrency: "unbounded" }
    )
  })

// -----------------------------------------------------------------------------
// S5 suspended: keep the input in the run's state, ask a person, answer from outside
// -----------------------------------------------------------------------------

const approval = defineWorkflow({
  name: "approval",
  input: Schema.Number,
  output: Schema.String,
  state: Schema.Struct({ value: Schema.Number }),
  initialState: { value: 0 }
})
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.gen(function* () {
        yield* Ref.set(ctx.state, { value: start.input })
        return InputRequired.make({ prompt: "approve?" })
      }),
    { emits: [InputRequired] }
  )
  .step(
    HumanResponse,
    (answer, ctx) =>
      Effect.gen(function* () {
        const { value } = yield* Ref.get(ctx.state)
        return StopEvent.make({ result: `${value}:${answer.response}` })
      }),
    { emits: [StopEvent] }
  )

const runSuspended = (runs: number, onAllWaiting: () => void) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handles: Array<RunHandle<typeof approval>> = []
      for (let i = 0; i < runs; i++) handles.push(yield* Workflow.start(approval, i))
      // A run is waiting once its InputRequired is unanswered and nothing else runs.
      let waiting = 0
      while (waiting < runs) {
        if ((yield* handles[waiting].status) === "waiting") waiting++
        else yield* Effect.yieldNow()
      }
      onAllWaiting()
      for (const handle of handles) yield* handle.send(HumanResponse.make({ response: "ok" }))
      const results: Array<string> = []
      for (const handle of handles) results.push(yield* handle.result)
      return results
    })
  )

/**
 * S5e: each caller follows its run the way the README teaches, a fiber consuming `handle.events()`. A caller counts
 * its run as waiting when it sees the run's `InputRequired`, and goes on following the stream (to the `StopEvent`):
 * when all runs wait, every run has a subscriber suspended on its log.
 */
const runSuspendedFollowed = (runs: number, onAllWaiting: () => void) =>
  Effect.scoped(
    Effect.gen(function* () {
      const allWaiting = yield* Deferred.make<void>()
      let waiting = 0
      const handles: Array<RunHandle<typeof approval>> = []
      const followers: Array<Fiber.RuntimeFiber<void>> = []
      for (let i = 0; i < runs; i++) {
        const handle = yield* Workflow.start(approval, i)
        handles.push(handle)
        followers.push(
          yield* Effect.fork(
            handle
              .events()
              .pipe(
                Stream.runForEach((event) =>
                  event._tag === "InputRequired" && ++waiting === runs
                    ? Deferred.succeed(allWaiting, undefined)
                    : Effect.void
                )
              )
          )
        )
      }
      yield* Deferred.await(allWaiting)
      onAllWaiting()
      for (const handle of handles) yield* handle.send(HumanResponse.make({ response: "ok" }))
      const results: Array<string> = []
      for (const handle of handles) results.push(yield* handle.result)
      yield* Fiber.joinAll(followers)
      return results
    })
  )

/**
 * S5f: S5e's callers follow their runs with `handle.follow(f)` (a callback per published event, on the caller's
 * fiber) instead of a `Stream` consumer of `handle.events()`: one forked fiber per run, suspended on the run's log.
 */
const runSuspendedFollowedCallback = (runs: number, onAllWaiting: () => void) =>
  Effect.scoped(
    Effect.gen(function* () {
      const allWaiting = yield* Deferred.make<void>()
      let waiting = 0
      const handles: Array<RunHandle<typeof approval>> = []
      const followers: Array<Fiber.RuntimeFiber<void>> = []
      for (let i = 0; i < runs; i++) {
        const handle = yield* Workflow.start(approval, i)
        handles.push(handle)
        followers.push(
          yield* Effect.fork(
            handle.follow((event) =>
              event._tag === "InputRequired" && ++waiting === runs
                ? Deferred.succeed(allWaiting, undefined)
                : Effect.void
            )
          )
        )
      }
      yield* Deferred.await(allWaiting)
      onAllWaiting()
      for (const handle of handles) yield* handle.send(HumanResponse.make({ response: "ok" }))
      const results: Array<string> = []
      for (const handle of handles) results.push(yield* handle.result)
      yield* Fiber.joinAll(followers)
      return results
    })
  )

/**
 * S5m: S5e's runs all followed by one `Follower` (one fiber for every run, a callback per published event): each
 * run is followed from its start, and counted as waiting when its `InputRequired` is passed.
 */
const runSuspendedFollowedShared = (runs: number, onAllWaiting: () => void) =>
  Effect.scoped(
    Effect.gen(function* () {
      const allWaiting = yield* Deferred.make<void>()
      let waiting = 0
      let stopped = 0
      const follower = yield* Follower.make((event) => {
        if (event._tag === "InputRequired" && ++waiting === runs) return Deferred.succeed(allWaiting, undefined)
        if (event._tag === "StopEvent") stopped++
        return Effect.void
      })
      const handles: Array<RunHandle<typeof approval>> = []
      for (let i = 0; i < runs; i++) {
        const handle = yield* Workflow.start(approval, i)
        handles.push(handle)
        yield* follower.follow(handle)
      }
      yield* Deferred.await(allWaiting)
      onAllWaiting()
      for (const handle of handles) yield* handle.send(HumanResponse.make({ response: "ok" }))
      const results: Array<string> = []
      for (const handle of handles) results.push(yield* handle.result)
      while ((yield* follower.following) > 0) yield* Effect.yieldNow()
      if (stopped !== runs) throw new Error(`S5m: the follower saw ${stopped} StopEvents of ${runs} runs`)
      return results
    })
  )

// -----------------------------------------------------------------------------
// S6 durable: the S1 chain with `durable: true`, checkpointed to a SQLite file
// -----------------------------------------------------------------------------

/** One store for all the runs, provided as a layer the way the README's "Durable runs" section does. */
const runDurableChain = (runs: number, filename: string, trace: boolean) =>
  Effect.gen(function* () {
    const results: Array<number> = []
    for (let i = 0; i < runs; i++) results.push(yield* Workflow.run(chain, i, { durable: true, trace }))
    return results
  }).pipe(Effect.provide(SqliteRunStore.layer({ filename })))

// -----------------------------------------------------------------------------
// S6L durable loop: one run of `hops` hops, one ctx.write per hop, on a SQLite file
// -----------------------------------------------------------------------------

const Tick = Event.define("Tick", { n: Schema.Number })
const Note = Event.define("Note", { n: Schema.Number })

const durableLoopWorkflow = (hops: number) =>
  defineWorkflow({ name: "durable-loop", output: Schema.Number })
    .step(StartEvent, () => Effect.succeed(Tick.make({ n: 0 })), { emits: [Tick] })
    .step(
      Tick,
      (tick, ctx) =>
        Effect.as(
          ctx.write(Note.make({ n: tick.n })),
          tick.n + 1 >= hops ? StopEvent.make({ result: tick.n + 1 }) : Tick.make({ n: tick.n + 1 })
        ),
      { emits: [Tick, StopEvent] }
    )

/** The loops one after another on one store (opened once, so that its opening is not counted in a loop's time). */
const runDurableLoops = (hops: ReadonlyArray<number>, filename: string) =>
  Effect.forEach(hops, (n) =>
    Effect.gen(function* () {
      const start = performance.now()
      const result = yield* Workflow.run(durableLoopWorkflow(n), undefined, { durable: true })
      return { result, ms: performance.now() - start }
    })
  ).pipe(Effect.provide(SqliteRunStore.layer({ filename })))

export const eventflow: Implementation = {
  name: "eventflow",
  chain: (runs) => Effect.runPromise(runChain(runs)),
  // Loaded by S1t's cell only: the telemetry packages and the OpenTelemetry SDK (about 5 MB of heap and their code)
  // stay out of every other scenario's process, as they stay out of a program that does not trace.
  tracedChain: (runs) => import("./eventflowTraced.js").then((traced) => traced.runTracedChain(runs)),
  fanOut: (n) => Effect.runPromise(Workflow.run(fanOutWorkflow(n), n)),
  loop: (hops) => Effect.runPromise(Workflow.run(loopWorkflow(hops))),
  concurrent: (runs) => Effect.runPromise(runConcurrent(runs)),
  suspended: (runs, onAllWaiting) => Effect.runPromise(runSuspended(runs, onAllWaiting)),
  suspendedFollowed: (runs, onAllWaiting) => Effect.runPromise(runSuspendedFollowed(runs, onAllWaiting)),
  suspendedFollowedShared: (runs, onAllWaiting) => Effect.runPromise(runSuspendedFollowedShared(runs, onAllWaiting)),
  suspendedFollowedCallback: (runs, onAllWaiting) =>
    Effect.runPromise(runSuspendedFollowedCallback(runs, onAllWaiting)),
  durableChain: (runs, filename, { trace }) => Effect.runPromise(runDurableChain(runs, filename, trace)),
  durableLoop: (hops, filename) => Effect.runPromise(runDurableLoops(hops, filename))
}
