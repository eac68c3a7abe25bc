import { Tool } from "@eventflow/llm"
import { Data, Effect, Schema } from "effect"

export class UnknownCity extends Data.TaggedError("UnknownCity")<{ readonly city: string }> {}

/** A tool with a typed failure: the weather of a known city. */
export const weather = Tool.make("get_weather", {
  description: "The current temperature of a city, in degrees Celsius",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ celsius: Schema.Number }),
  failure: Schema.Struct({ _tag: Schema.Literal("UnknownCity"), city: Schema.String }),
  handler: ({ city }) => (city === "Paris" ? Effect.succeed({ celsius: 21 }) : Effect.fail(new UnknownCity({ city })))
})

/** A tool whose parameters transform: `at` is an ISO date on the wire and a Date for the handler. */
export const remind = Tool.make("remind", {
  description: "Sets a reminder",
  parameters: Schema.Struct({ text: Schema.String, at: Schema.Date }),
  success: Schema.String,
  handler: ({ at, text }) => Effect.succeed(`${text} at ${at.toISOString()}`)
})
