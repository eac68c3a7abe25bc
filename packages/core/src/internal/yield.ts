/**
 * Fair scheduling of run loops: a worker fiber that goes from step to step without ever suspending (steps that
 * only `Effect.succeed`) would keep Node's event loop busy, so timers (a run's timeout), other runs and HTTP
 * requests would starve. Effect's own cooperative yield does not help: its scheduler resumes a yielding fiber in a
 * microtask (up to 2048 times in a row, see effect/src/Scheduler.ts `MixedScheduler`), and microtasks run before
 * any timer or I/O callback.
 *
 * So the run loop asks {@link shouldYield} between two step executions and, when the current macrotask has
 * already run for {@link sliceMs} of run-loop work, suspends on a macrotask ({@link yieldToEventLoop}). The
 * slice is process-wide: a `setImmediate` armed at the first hop of a macrotask marks when the event loop turned
 * over, so a loop that suspends anyway (I/O, sleeps) never pays for a yield.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** Longest stretch of synchronous run-loop work before the event loop gets a turn. @internal */
export const sliceMs = 5

/**
 * A run yields after {@link sliceMs} only once it has made this many hops since its last yield (or its start), so
 * that short runs are never preempted: they keep the deterministic interleaving of Effect's scheduler (tests that
 * compare snapshots or traces of two runs rely on it), and code that polls a run with `Effect.yieldNow` (which
 * never reaches the macrotask queue) still sees it progress. A run whose steps each block for long yields after
 * this many of them.
 * @internal
 */
export const minHops = 16

const macrotask: (f: () => void) => void =
  typeof setImmediate === "function" ? (f) => setImmediate(f) : (f) => setTimeout(f, 0)

const now: () => number =
  typeof performance === "object" && typeof performance.now === "function" ? () => performance.now() : Date.now

let armed = false
let sliceStart = 0
const disarm = () => {
  armed = false
}

/**
 * Reading the clock costs a few percent of a short hop, so it is read every `stride` hops: the stride doubles
 * (up to 16) while that many hops take under {@link checkMs}, and drops to 1 as soon as they take longer, so the
 * clock is read about every {@link checkMs} of work whatever a hop costs.
 */
const checkMs = 0.5
const maxStride = 16
let stride = 1
let strideHops = 0
let lastCheck = 0

/**
 * `true` when the current macrotask has run long enough: the caller should {@link yieldToEventLoop}. `hops`: how
 * many hops the calling run made since its last yield.
 *
 * @internal
 */
export const shouldYield = (hops: number): boolean => {
  if (armed && ++strideHops < stride) return false
  strideHops = 0
  const t = now()
  if (!armed) {
    // The first hop of this macrotask: the slice starts now, and ends when the event loop turns over.
    armed = true
    sliceStart = t
    lastCheck = t
    macrotask(disarm)
    return false
  }
  if (t - lastCheck < checkMs) {
    if (stride < maxStride) stride *= 2
  } else {
    stride = 1
  }
  lastCheck = t
  const elapsed = t - sliceStart
  return hops >= minHops && elapsed >= sliceMs
}

/** Suspends the calling fiber until a later macrotask (after pending timers and I/O callbacks). @internal */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  macrotask(() => {
    // The resumed fiber gets a fresh slice: several busy runs take turns instead of the first one starving the rest.
    armed = false
    resume(Effect.void)
  })
})
