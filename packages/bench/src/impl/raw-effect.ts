/**
 * The floor: the same logic written by hand with Effect primitives and no framework. A run is what a person would
 * write for an event-driven loop: an inbox `Queue`, a forked loop fiber that takes an event, runs the step for its
 * `_tag` and offers what the step returns, and a `Deferred` for the result. Events are plain objects.
 */
import { Deferred, Effect, Fiber, Queue, Ref } from "effect"
import type { FanInResult, Implementation } from "../scenarios.js"

interface Counted {
  readonly _tag: string
  readonly n: number
}

type Step = (event: Counted) => Effect.Effect<Counted>

/** One run of a linear or looping workflow whose steps turn `{ _tag, n }` into the next event, until `"Stop"`. */
const runCounted = (steps: Readonly<Record<string, Step>>, start: Counted) =>
  Effect.gen(function* () {
    const inbox = yield* Queue.unbounded<Counted>()
    const done = yield* Deferred.make<number>()
    yield* Effect.fork(
      Effect.gen(function* () {
        while (true) {
          const event = yield* Queue.take(inbox)
          const next = yield* steps[event._tag](event)
          if (next._tag === "Stop") return yield* Deferred.succeed(done, next.n)
          yield* Queue.offer(inbox, next)
        }
      })
    )
    yield* Queue.offer(inbox, start)
    return yield* Deferred.await(done)
  })

// -----------------------------------------------------------------------------
// S1 chain: E0 -> E1 -> ... -> E9 -> Stop, each adds 1 to n
// -----------------------------------------------------------------------------

const chainSteps: Record<string, Step> = {}
for (let k = 0; k < 10; k++) {
  const next = k === 9 ? "Stop" : `E${k + 1}`
  chainSteps[`E${k}`] = (event) => Effect.succeed({ _tag: next, n: event.n + 1 })
}

const runChain = (runs: number) =>
  Effect.gen(function* () {
    const results: Array<number> = []
    for (let i = 0; i < runs; i++) results.push(yield* runCounted(chainSteps, { _tag: "E0", n: i }))
    return results
  })

// -----------------------------------------------------------------------------
// S2 fan-out / fan-in: a forked fiber per work event, the loop collects
// -----------------------------------------------------------------------------

type FanEvent =
  | { readonly _tag: "Start"; readonly n: number }
  | { readonly _tag: "Work"; readonly i: number }
  | { readonly _tag: "Result"; readonly i: number; readonly v: number }

const runFanOut = (n: number) =>
  Effect.gen(function* () {
    const inbox = yield* Queue.unbounded<FanEvent>()
    const done = yield* Deferred.make<FanInResult>()
    const worker = (i: number) => Queue.offer(inbox, { _tag: "Result", i, v: 2 * i })
    yield* Effect.fork(
      Effect.gen(function* () {
        let count = 0
        let sum = 0
        while (true) {
          const event = yield* Queue.take(inbox)
          switch (event._tag) {
            case "Start": {
              const work: Array<FanEvent> = []
              for (let i = 0; i < event.n; i++) work.push({ _tag: "Work", i })
              yield* Queue.offerAll(inbox, work)
              break
            }
            case "Work": {
              yield* Effect.fork(worker(event.i))
              break
            }
            case "Result": {
              count++
              sum += event.v
              if (count === n) return yield* Deferred.succeed(done, { count, sum })
            }
          }
        }
      })
    )
    yield* Queue.offer(inbox, { _tag: "Start", n })
    return yield* Deferred.await(done)
  })

// -----------------------------------------------------------------------------
// S3 loop: Ping -> Pong -> Ping ... each hop adds 1 to n
// -----------------------------------------------------------------------------

const loopSteps = (hops: number): Record<string, Step> => ({
  Start: () => Effect.succeed({ _tag: "Ping", n: 0 }),
  Ping: (event) => Effect.succeed({ _tag: event.n + 1 >= hops ? "Stop" : "Pong", n: event.n + 1 }),
  Pong: (event) => Effect.succeed({ _tag: event.n + 1 >= hops ? "Stop" : "Ping", n: event.n + 1 })
})

// -----------------------------------------------------------------------------
// S4 concurrent: 3-step chains started at once, the first step waits for a shared gate
// -----------------------------------------------------------------------------

const runConcurrent = (runs: number) =>
  Effect.gen(function* () {
    const gate = yield* Deferred.make<void>()
    let arrived = 0
    const steps: Record<string, Step> = {
      First: (event) =>
        Effect.gen(function* () {
          // The last run to arrive opens the gate: then all runs are in flight together.
          if (++arrived === runs) yield* Deferred.succeed(gate, undefined)
          yield* Deferred.await(gate)
          return { _tag: "Second", n: event.n + 1 }
        }),
      Second: (event) => Effect.succeed({ _tag: "Third", n: event.n + 1 }),
      Third: (event) => Effect.succeed({ _tag: "Stop", n: event.n + 1 })
    }
    return yield* Effect.forEach(
      Array.from({ length: runs }, (_, i) => i),
      (i) => runCounted(steps, { _tag: "First", n: i }),
      { concurrency: "unbounded" }
    )
  })

// -----------------------------------------------------------------------------
// S5 suspended: keep the input in a Ref, signal that an answer is needed, wait in the inbox for it
// -----------------------------------------------------------------------------

type ApprovalEvent =
  | { readonly _tag: "Start"; readonly value: number }
  | { readonly _tag: "HumanResponse"; readonly response: string }

const runSuspended = (runs: number, onAllWaiting: () => void) =>
  Effect.gen(function* () {
    const allWaiting = yield* Deferred.make<void>()
    let waiting = 0
    const started: Array<{ inbox: Queue.Queue<ApprovalEvent>; done: Deferred.Deferred<string> }> = []
    for (let i = 0; i < runs; i++) {
      const inbox = yield* Queue.unbounded<ApprovalEvent>()
      const done = yield* Deferred.make<string>()
      const state = yield* Ref.make(0)
      yield* Effect.fork(
        Effect.gen(function* () {
          while (true) {
            const event = yield* Queue.take(inbox)
            if (event._tag === "Start") {
              yield* Ref.set(state, event.value)
              if (++waiting === runs) yield* Deferred.succeed(allWaiting, undefined)
            } else {
              const value = yield* Ref.get(state)
              return yield* Deferred.succeed(done, `${value}:${event.response}`)
            }
          }
        })
      )
      yield* Queue.offer(inbox, { _tag: "Start", value: i })
      started.push({ inbox, done })
    }
    yield* Deferred.await(allWaiting)
    onAllWaiting()
    for (const run of started) yield* Queue.offer(run.inbox, { _tag: "HumanResponse", response: "ok" })
    const results: Array<string> = []
    for (const run of started) results.push(yield* Deferred.await(run.done))
    return results
  })

/**
 * S5e's floor, as the issue names it: a fiber and a `Deferred` per run. The fiber keeps the input (its state), counts
 * itself waiting, and waits on its `Deferred` for the answer; nobody follows a stream.
 */
const runSuspendedFollowed = (runs: number, onAllWaiting: () => void) =>
  Effect.gen(function* () {
    const allWaiting = yield* Deferred.make<void>()
    let waiting = 0
    const answers: Array<Deferred.Deferred<string>> = []
    const fibers: Array<Fiber.RuntimeFiber<string>> = []
    for (let i = 0; i < runs; i++) {
      const answer = yield* Deferred.make<string>()
      answers.push(answer)
      fibers.push(
        yield* Effect.fork(
          Effect.gen(function* () {
            const value = i
            if (++waiting === runs) yield* Deferred.succeed(allWaiting, undefined)
            const response = yield* Deferred.await(answer)
            return `${value}:${response}`
          })
        )
      )
    }
    yield* Deferred.await(allWaiting)
    onAllWaiting()
    for (const answer of answers) yield* Deferred.succeed(answer, "ok")
    return yield* Effect.forEach(fibers, Fiber.join)
  })

export const rawEffect: Implementation = {
  name: "raw-effect",
  chain: (runs) => Effect.runPromise(runChain(runs)),
  fanOut: (n) => Effect.runPromise(runFanOut(n)),
  loop: (hops) => Effect.runPromise(runCounted(loopSteps(hops), { _tag: "Start", n: 0 })),
  concurrent: (runs) => Effect.runPromise(runConcurrent(runs)),
  suspended: (runs, onAllWaiting) => Effect.runPromise(runSuspended(runs, onAllWaiting)),
  suspendedFollowed: (runs, onAllWaiting) => Effect.runPromise(runSuspendedFollowed(runs, onAllWaiting))
}
