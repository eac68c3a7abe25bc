/**
 * S1's workload written with Eventflow, shared by the plain run (`eventflow.ts`) and the traced one
 * (`eventflowTraced.ts`, loaded by S1t's cell only).
 */
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { Effect, Schema } from "effect"

// -----------------------------------------------------------------------------
// S1 chain: 10 steps, StartEvent -> E1 -> ... -> E9 -> StopEvent, each adds 1 to n
// -----------------------------------------------------------------------------

const E1 = Event.define("E1", { n: Schema.Number })
const E2 = Event.define("E2", { n: Schema.Number })
const E3 = Event.define("E3", { n: Schema.Number })
const E4 = Event.define("E4", { n: Schema.Number })
const E5 = Event.define("E5", { n: Schema.Number })
const E6 = Event.define("E6", { n: Schema.Number })
const E7 = Event.define("E7", { n: Schema.Number })
const E8 = Event.define("E8", { n: Schema.Number })
const E9 = Event.define("E9", { n: Schema.Number })

export const chain = defineWorkflow({ name: "chain", input: Schema.Number, output: Schema.Number })
  .step(StartEvent, (start) => Effect.succeed(E1.make({ n: start.input + 1 })), { emits: [E1] })
  .step(E1, (e) => Effect.succeed(E2.make({ n: e.n + 1 })), { emits: [E2] })
  .step(E2, (e) => Effect.succeed(E3.make({ n: e.n + 1 })), { emits: [E3] })
  .step(E3, (e) => Effect.succeed(E4.make({ n: e.n + 1 })), { emits: [E4] })
  .step(E4, (e) => Effect.succeed(E5.make({ n: e.n + 1 })), { emits: [E5] })
  .step(E5, (e) => Effect.succeed(E6.make({ n: e.n + 1 })), { emits: [E6] })
  .step(E6, (e) => Effect.succeed(E7.make({ n: e.n + 1 })), { emits: [E7] })
  .step(E7, (e) => Effect.succeed(E8.make({ n: e.n + 1 })), { emits: [E8] })
  .step(E8, (e) => Effect.succeed(E9.make({ n: e.n + 1 })), { emits: [E9] })
  .step(E9, (e) => Effect.succeed(StopEvent.make({ result: e.n + 1 })), { emits: [StopEvent] })

export const runChain = (runs: number) =>
  Effect.gen(function* () {
    const results: Array<number> = []
    for (let i = 0; i < runs; i++) results.push(yield* Workflow.run(chain, i))
    return results
  })
