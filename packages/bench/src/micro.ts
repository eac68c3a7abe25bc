/**
 * Microbenchmarks: the pure transition function of the run loop (no fibers, no Effect runtime) and the cost of
 * building one event.
 *
 * The interpreter is internal (`@eventflow/core`'s exports block `./internal/*`), so it is imported from core's
 * compiled output by relative path: `packages/core/dist/internal/*.js`, built by `tsc -b` before the bench runs.
 */
import { defineWorkflow, Event, StartEvent, StopEvent } from "@eventflow/core"
import { Effect, Schema } from "effect"
import * as I from "../../core/dist/internal/interpreter.js"
import { planOf } from "../../core/dist/internal/plan.js"
import { now } from "./measure.js"
import { type MicroId, WrongResultError } from "./scenarios.js"

// -----------------------------------------------------------------------------
// transition: the S3 loop, played by hand through the interpreter
// -----------------------------------------------------------------------------

const Ping = Event.define("Ping", { n: Schema.Number })
const Pong = Event.define("Pong", { n: Schema.Number })

const unused = () => Effect.dieMessage("the microbenchmark never runs a handler")

const loop = defineWorkflow({ name: "micro-loop", output: Schema.Number })
  .step(StartEvent, unused, { emits: [Ping] })
  .step(Ping, unused, { emits: [Pong, StopEvent] })
  .step(Pong, unused, { emits: [Ping, StopEvent] })

const runOf = (commands: ReadonlyArray<I.Command>): I.Invocation => {
  for (const command of commands) if (command._tag === "Run") return command.invocation
  throw new WrongResultError("transition", "no step was started")
}

/**
 * Feeds the inputs the shell would feed for a loop of `hops` hops (per hop: `Attempt`, then `Completed` with the
 * next event) and checks that the run completes with `hops`.
 */
export const transitionLoop = (hops: number, trace: boolean): void => {
  const state = I.make(planOf(loop), "micro", trace)
  let invocation = runOf(I.transition(state, { _tag: "Start", input: undefined }))
  // The start step emits Ping { n: 0 }.
  I.transition(state, { _tag: "Attempt", invocation })
  let commands = I.transition(state, { _tag: "Completed", invocation, output: Ping.make({ n: 0 }) })
  for (let n = 0; n < hops; n++) {
    invocation = runOf(commands)
    I.transition(state, { _tag: "Attempt", invocation })
    const output =
      n + 1 >= hops
        ? StopEvent.make({ result: n + 1 })
        : n % 2 === 0
          ? Pong.make({ n: n + 1 })
          : Ping.make({ n: n + 1 })
    commands = I.transition(state, { _tag: "Completed", invocation, output })
  }
  const end = commands.find((command) => command._tag === "End")
  if (end?._tag !== "End" || end.ending._tag !== "Completed" || end.ending.result !== hops) {
    throw new WrongResultError("transition", `the loop did not complete with ${hops}`)
  }
}

// -----------------------------------------------------------------------------
// events: Event.define(...).make vs Schema.TaggedStruct(...).make vs an object literal
// -----------------------------------------------------------------------------

const Defined = Event.define("Defined", { i: Schema.Number, text: Schema.String })
const Validated = Schema.TaggedStruct("Validated", { i: Schema.Number, text: Schema.String })

/** Builds `count` events with `make` and sums a field, so that the work cannot be optimized away. */
export const buildEvents = (kind: "define" | "schema" | "literal", count: number): number => {
  let sum = 0
  switch (kind) {
    case "define":
      for (let i = 0; i < count; i++) sum += Defined.make({ i, text: "x" }).i
      break
    case "schema":
      for (let i = 0; i < count; i++) sum += Validated.make({ i, text: "x" }).i
      break
    case "literal":
      for (let i = 0; i < count; i++) sum += ({ _tag: "Literal", i, text: "x" } as const).i
      break
  }
  const expected = (count * (count - 1)) / 2
  if (sum !== expected) throw new WrongResultError("events", `${kind}: sum ${sum}, expected ${expected}`)
  return sum
}

const timeMs = (f: () => void): number => {
  const start = now()
  f()
  return now() - start
}

/** Runs one microbenchmark (after a warm-up) and returns its metrics. */
export const runMicro = (id: MicroId, quick: boolean): Record<string, number> => {
  switch (id) {
    case "transition": {
      const hops = quick ? 100_000 : 1_000_000
      transitionLoop(hops / 10, true)
      transitionLoop(hops / 10, false)
      const traced = timeMs(() => transitionLoop(hops, true))
      const untraced = timeMs(() => transitionLoop(hops, false))
      return { eventsPerSecTrace: hops / (traced / 1000), eventsPerSecNoTrace: hops / (untraced / 1000) }
    }
    case "events": {
      const count = quick ? 200_000 : 2_000_000
      for (const kind of ["define", "schema", "literal"] as const) buildEvents(kind, count / 10)
      const ns = (kind: "define" | "schema" | "literal") => (timeMs(() => buildEvents(kind, count)) * 1e6) / count
      return { nsDefineMake: ns("define"), nsSchemaMake: ns("schema"), nsLiteral: ns("literal") }
    }
  }
}
