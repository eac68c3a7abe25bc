/** The workflow of the cluster example: a draft, then a review that waits for a person. */
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent } from "@eventflow/core"
import { Effect, Schema } from "effect"

export const Draft = Event.define("Draft", { text: Schema.String })

export const review = defineWorkflow({
  name: "cluster-review",
  input: Schema.Struct({ topic: Schema.String }),
  output: Schema.Struct({ text: Schema.String, answer: Schema.String })
})
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: `About ${start.input.topic}` })), {
    name: "draft",
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.map(
        ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "Publish?", requestId: ctx.eventId }) }),
        (answer) => StopEvent.make({ result: { text: draft.text, answer: answer.response } })
      ),
    { name: "review", emits: [StopEvent], waitsFor: [HumanResponse] }
  )
