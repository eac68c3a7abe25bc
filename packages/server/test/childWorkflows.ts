/**
 * Workflows with child workflows, shared by the child-run tests (API and studio): `family` starts `auto` (completes
 * at once) and then `ask` (waits for a person); `top` starts `middle`, which starts `ask` (a grandchild).
 */
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent } from "@eventflow/core"
import { Effect, Schema } from "effect"

/** Published by `ask` before it waits. */
export const Asked = Event.define("Asked", { question: Schema.String })

/** Waits for a person's answer to `<q>?` (its prompt's requestId is `approve`). */
export const ask = defineWorkflow({
  name: "ask",
  input: Schema.Struct({ q: Schema.String }),
  output: Schema.String
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      yield* ctx.write(Asked.make({ question: start.input.q }))
      const answer = yield* ctx.waitFor(HumanResponse, {
        prompt: InputRequired.make({ prompt: `${start.input.q}?`, requestId: "approve" })
      })
      return StopEvent.make({ result: `${start.input.q}: ${answer.response}` })
    }),
  { name: "question", emits: [StopEvent], waitsFor: [HumanResponse] }
)

/** Doubles its input at once. */
export const auto = defineWorkflow({
  name: "auto",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Number
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: start.input.n * 2 })), {
  name: "double",
  emits: [StopEvent]
})

/** Two children, one after the other: `auto` (`<run>/delegate@0/c0`), then `ask` (`<run>/delegate@0/c1`). */
export const family = defineWorkflow({ name: "family", output: Schema.String }).step(
  StartEvent,
  (_, ctx) =>
    Effect.gen(function* () {
      const doubled = yield* ctx.run(auto, { n: 21 })
      const answer = yield* ctx.run(ask, { q: "ship" })
      return StopEvent.make({ result: `${doubled} and ${answer}` })
    }),
  { name: "delegate", emits: [StopEvent], children: [auto, ask] }
)

/** Runs `ask` as its child. */
export const middle = defineWorkflow({ name: "middle", output: Schema.String }).step(
  StartEvent,
  (_, ctx) => Effect.map(ctx.run(ask, { q: "deploy" }), (answer) => StopEvent.make({ result: `middle: ${answer}` })),
  { name: "relay", emits: [StopEvent], children: [ask] }
)

/** Runs `middle` as its child, so `ask` is its grandchild (`<run>/start@0/c0/relay@0/c0`). */
export const top = defineWorkflow({ name: "top", output: Schema.String }).step(
  StartEvent,
  (_, ctx) => Effect.map(ctx.run(middle), (answer) => StopEvent.make({ result: `top: ${answer}` })),
  { name: "start", emits: [StopEvent], children: [middle] }
)
