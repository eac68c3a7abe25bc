/**
 * Workflows shared by the server tests.
 */
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent } from "@eventflow/core"
import { Effect, Schema } from "effect"

/** Completes at once with a greeting. */
export const greet = defineWorkflow({
  name: "greet",
  description: "Greets someone",
  input: Schema.Struct({ name: Schema.String }),
  output: Schema.String
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: `hello ${start.input.name}` })), {
  emits: [StopEvent]
})

/** Waits for a person's `HumanResponse`, then completes with `"<item>: <response>"`. */
export const approval = defineWorkflow({
  name: "approval",
  input: Schema.Struct({ item: Schema.String }),
  output: Schema.String
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const answer = yield* ctx.waitFor(HumanResponse, {
        prompt: InputRequired.make({ prompt: `approve ${start.input.item}?` })
      })
      return StopEvent.make({ result: `${start.input.item}: ${answer.response}` })
    }),
  { emits: [StopEvent] }
)

const Line = Event.define("Line", { text: Schema.String })

/** Writes `count` events of `size` characters each (a long log), then waits for a `HumanResponse`. */
export const chatty = defineWorkflow({
  name: "chatty",
  input: Schema.Struct({ count: Schema.Number, size: Schema.Number }),
  output: Schema.String
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const text = "x".repeat(start.input.size)
      for (let i = 0; i < start.input.count; i++) yield* ctx.write(Line.make({ text }))
      const answer = yield* ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "done?" }) })
      return StopEvent.make({ result: answer.response })
    }),
  { emits: [StopEvent] }
)
