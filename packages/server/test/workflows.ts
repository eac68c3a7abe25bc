/**
 * Workflows shared by the server tests.
 */
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent } from "@eventflow/core"
import { Effect, Ref, Schema } from "effect"

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

/** A round of `rounds`: published before the round's prompt. */
export const Round = Event.define("Round", { round: Schema.Number })

/** The next round of `rounds` (routed, not published). */
export const NextRound = Event.define("NextRound", { round: Schema.Number, of: Schema.Number })

/**
 * `input.rounds` rounds, each publishes `Round` and waits for a person's `HumanResponse`; completes with the
 * answers joined by commas.
 */
export const rounds = defineWorkflow({
  name: "rounds",
  input: Schema.Struct({ rounds: Schema.Number }),
  output: Schema.String,
  state: Schema.Struct({ answers: Schema.Array(Schema.String) }),
  initialState: { answers: [] }
})
  .step(StartEvent, (start) => Effect.succeed(NextRound.make({ round: 1, of: start.input.rounds })), {
    name: "begin",
    emits: [NextRound]
  })
  .step(
    NextRound,
    (next, ctx) =>
      Effect.gen(function* () {
        yield* ctx.write(Round.make({ round: next.round }))
        const answer = yield* ctx.waitFor(HumanResponse, {
          prompt: InputRequired.make({ prompt: `round ${next.round}?`, requestId: ctx.eventId })
        })
        const { answers } = yield* Ref.updateAndGet(ctx.state, (s) => ({ answers: [...s.answers, answer.response] }))
        return next.round >= next.of
          ? StopEvent.make({ result: answers.join(",") })
          : NextRound.make({ round: next.round + 1, of: next.of })
      }),
    { name: "round", emits: [NextRound, StopEvent] }
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

export const Draft = Event.define("Draft", { text: Schema.String, revision: Schema.Number })
export const Approved = Event.define("Approved", { text: Schema.String, revision: Schema.Number })

/** A reviewed draft: "yes" approves it (internal `Approved`), anything else makes a revision with a new prompt. */
export const review = defineWorkflow({
  name: "review",
  input: Schema.Struct({ text: Schema.String }),
  output: Schema.String
})
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: start.input.text, revision: 0 })), {
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.gen(function* () {
        const answer = yield* ctx.waitFor(HumanResponse, {
          prompt: InputRequired.make({ prompt: `Approve revision ${draft.revision}: ${draft.text}?` })
        })
        return answer.response === "yes"
          ? Approved.make({ text: draft.text, revision: draft.revision })
          : Draft.make({ text: `${draft.text} (${answer.response})`, revision: draft.revision + 1 })
      }),
    { emits: [Approved, Draft] }
  )
  .step(Approved, (approved) => Effect.succeed(StopEvent.make({ result: `approved r${approved.revision}` })), {
    emits: [StopEvent]
  })

export const Note = Event.define("Note", { text: Schema.String })

/** Waits for a person; `Note`s from outside are taken by nobody and kept (unclaimed). */
export const notes = defineWorkflow({ name: "notes", output: Schema.String, external: [Note] }).step(
  StartEvent,
  (_, ctx) =>
    Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "?" }) }), (h) =>
      StopEvent.make({ result: h.response })
    ),
  { emits: [StopEvent] }
)
