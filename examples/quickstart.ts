/**
 * Quickstart: draft -> review -> revise until good enough -> publish.
 *
 * A multi-step workflow with a branch (the review approves or asks for changes) and a loop (revise -> review),
 * typed input, output and state, and progress streamed to the terminal while it runs. The writer and the
 * reviewer are simulated: no API key, no network. Run it with `pnpm start`.
 */
import { pathToFileURL } from "node:url"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { Console, Effect, Ref, Schema, Stream } from "effect"

// The simulated reviewer gives 3 points per sentence and names what is missing; the writer adds a sentence.
const GOOD_ENOUGH = 8
const MISSING = ["why it matters", "an example"]
const sentences = (text: string) => text.split(".").length - 1
const review = (text: string) => ({
  score: Math.min(10, 3 * sentences(text)),
  missing: MISSING[sentences(text) - 1] ?? "polish"
})

// Events are typed messages: each one is a Schema of a tagged struct.
export const Progress = Event.define("Progress", { step: Schema.String, message: Schema.String })
export const Draft = Event.define("Draft", { text: Schema.String })
export const Feedback = Event.define("Feedback", { text: Schema.String, missing: Schema.String })
export const Approved = Event.define("Approved", { text: Schema.String, score: Schema.Number })

export const blogPost = defineWorkflow({
  name: "blog-post",
  input: Schema.Struct({ topic: Schema.String }),
  output: Schema.Struct({ text: Schema.String, score: Schema.Number, revisions: Schema.Number }),
  state: Schema.Struct({ revisions: Schema.Number }),
  initialState: { revisions: 0 }
})
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.gen(function* () {
        yield* ctx.write(Progress.make({ step: "draft", message: `writing about ${start.input.topic}` }))
        return Draft.make({ text: `A post about ${start.input.topic}.` })
      }),
    { name: "draft", emits: [Draft] }
  )
  .step(
    Draft,
    (draft, ctx) =>
      Effect.gen(function* () {
        const { score, missing } = review(draft.text)
        yield* ctx.write(Progress.make({ step: "review", message: `score ${score}/10` }))
        // Branch: approve, or send the draft back with what is missing.
        return score >= GOOD_ENOUGH
          ? Approved.make({ text: draft.text, score })
          : Feedback.make({ text: draft.text, missing })
      }),
    { name: "review", emits: [Approved, Feedback] }
  )
  .step(
    Feedback,
    (feedback, ctx) =>
      Effect.gen(function* () {
        const { revisions } = yield* Ref.updateAndGet(ctx.state, (s) => ({ revisions: s.revisions + 1 }))
        yield* ctx.write(Progress.make({ step: "revise", message: `revision ${revisions}: add ${feedback.missing}` }))
        // Loop: the revised draft goes back to review.
        return Draft.make({ text: `${feedback.text} This part adds ${feedback.missing}.` })
      }),
    { name: "revise", emits: [Draft] }
  )
  .step(
    Approved,
    (approved, ctx) =>
      Effect.gen(function* () {
        const { revisions } = yield* Ref.get(ctx.state)
        yield* ctx.write(Progress.make({ step: "publish", message: "published" }))
        return StopEvent.make({ result: { text: approved.text, score: approved.score, revisions } })
      }),
    { name: "publish", emits: [StopEvent] }
  )

export const main = Effect.scoped(
  Effect.gen(function* () {
    const handle = yield* Workflow.start(blogPost, { topic: "typed errors" })
    // Progress arrives while the run goes on; the stream ends when the run ends.
    yield* handle.events().pipe(
      Stream.filter(Event.is(Progress)),
      Stream.runForEach((progress) => Console.log(`[${progress.step}] ${progress.message}`))
    )
    const post = yield* handle.result
    yield* Console.log(`\nPublished after ${post.revisions} revisions (score ${post.score}/10):\n${post.text}`)
    yield* Console.log(`\n${Workflow.toMermaid(blogPost)}`)
  })
)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main)
}
