/**
 * A self-refining answer generator: draft -> critique -> revise, looping until the critic's score passes or the
 * budget of attempts is spent.
 *
 * - the critique is structured output: `LLM.structured(Critique, ...)` decodes the model's JSON with a Schema;
 * - the typed state counts the attempts (answers written) and keeps every score;
 * - every model call is retried on transient failures with `retry: LLM.retrySchedule()`.
 *
 * With `ANTHROPIC_API_KEY` or `OPENAI_API_KEY` set it uses that provider (`LLM.layerFromEnv`); otherwise an offline
 * local model with a simulated writer and critic. Run it with `node --conditions=source --import tsx examples/refine.ts`.
 */
import { pathToFileURL } from "node:url"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { LLM } from "@eventflow/llm"
import { Config, Console, Effect, Layer, Option, Schema, Stream, SynchronizedRef } from "effect"

export const PASS_SCORE = 8
export const BUDGET = 3

export const Critique = Schema.Struct({
  score: Schema.Number.pipe(Schema.between(0, 10)),
  feedback: Schema.String
})

export const DRAFT_SYSTEM = "Answer the question in one or two sentences."
export const CRITIQUE_SYSTEM =
  "You are a strict reviewer. Score the answer to the question from 0 (useless) to 10 (complete and correct) " +
  "and say in one sentence what would improve it most."
export const REVISE_SYSTEM = "Rewrite the answer so that it follows the feedback. Answer with the new answer only."

export const Progress = Event.define("Progress", { step: Schema.String, message: Schema.String })
export const Answer = Event.define("Answer", { question: Schema.String, text: Schema.String })
export const Critiqued = Event.define("Critiqued", {
  question: Schema.String,
  text: Schema.String,
  feedback: Schema.String
})

export const critiquePrompt = (question: string, answer: string) => `Question: ${question}\n\nAnswer:\n${answer}`
export const revisePrompt = (question: string, answer: string, feedback: string) =>
  `${critiquePrompt(question, answer)}\n\nFeedback: ${feedback}`

export const refine = defineWorkflow({
  name: "refine",
  input: Schema.Struct({ question: Schema.String }),
  output: Schema.Struct({
    answer: Schema.String,
    score: Schema.Number,
    attempts: Schema.Number,
    passed: Schema.Boolean
  }),
  // attempts: answers written so far (the draft and each revision); scores: the critic's score of each.
  state: Schema.Struct({ attempts: Schema.Number, scores: Schema.Array(Schema.Number) }),
  initialState: { attempts: 0, scores: [] }
})
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.gen(function* () {
        const draft = yield* LLM.complete(start.input.question, { system: DRAFT_SYSTEM })
        yield* SynchronizedRef.update(ctx.state, (s) => ({ ...s, attempts: s.attempts + 1 }))
        yield* ctx.write(Progress.make({ step: "draft", message: draft.text }))
        return Answer.make({ question: start.input.question, text: draft.text })
      }),
    { name: "draft", emits: [Answer], retry: LLM.retrySchedule() }
  )
  .step(
    Answer,
    (answer, ctx) =>
      Effect.gen(function* () {
        const critique = yield* LLM.structured(Critique, critiquePrompt(answer.question, answer.text), {
          system: CRITIQUE_SYSTEM
        })
        const { attempts } = yield* SynchronizedRef.updateAndGet(ctx.state, (s) => ({
          ...s,
          scores: [...s.scores, critique.score]
        }))
        yield* ctx.write(Progress.make({ step: "critique", message: `${critique.score}/10: ${critique.feedback}` }))
        // Stop when the answer is good enough or the budget is spent; otherwise loop through revise.
        if (critique.score >= PASS_SCORE || attempts >= BUDGET) {
          return StopEvent.make({
            result: { answer: answer.text, score: critique.score, attempts, passed: critique.score >= PASS_SCORE }
          })
        }
        return Critiqued.make({ question: answer.question, text: answer.text, feedback: critique.feedback })
      }),
    { name: "critique", emits: [StopEvent, Critiqued], retry: LLM.retrySchedule() }
  )
  .step(
    Critiqued,
    (critiqued, ctx) =>
      Effect.gen(function* () {
        const revised = yield* LLM.complete(revisePrompt(critiqued.question, critiqued.text, critiqued.feedback), {
          system: REVISE_SYSTEM
        })
        yield* SynchronizedRef.update(ctx.state, (s) => ({ ...s, attempts: s.attempts + 1 }))
        yield* ctx.write(Progress.make({ step: "revise", message: revised.text }))
        return Answer.make({ question: critiqued.question, text: revised.text })
      }),
    { name: "revise", emits: [Answer], retry: LLM.retrySchedule() }
  )

// -----------------------------------------------------------------------------
// Offline: a simulated writer and critic on the local model
// -----------------------------------------------------------------------------

// The critic gives 3 points per sentence and asks for what is missing; the writer adds that sentence.
const ADDITIONS = ["It matters because retries hide transient failures.", "For example, a 429 is retried."]
const sentences = (text: string) => text.split(/[.!?](?=\s|$)/).length - 1

/** The local model's `respond`: deterministic answers for the three system prompts of this workflow. */
export const simulated = (request: LLM.Request): string => {
  const last = request.messages[request.messages.length - 1]
  const prompt = last === undefined ? "" : LLM.textOf(last)
  const answer = prompt.split("Answer:\n")[1]?.split("\n\nFeedback:")[0] ?? ""
  // `structured` appends the JSON instructions to the system prompt, so the critic is recognised by `json`.
  if (request.json !== undefined) {
    const n = sentences(answer)
    const feedback = n <= ADDITIONS.length ? `Add: ${ADDITIONS[n - 1] ?? ADDITIONS[0]}` : "Nothing to add."
    return JSON.stringify({ score: Math.min(10, 3 * n), feedback })
  }
  if (request.system === REVISE_SYSTEM) return `${answer} ${prompt.split("Feedback: Add: ")[1] ?? ""}`.trim()
  return "A step retries with a Schedule."
}

/**
 * `LLM.layerFromEnv` when an API key is set, else the local model with the simulated writer and critic (which says
 * on stderr that its answers are simulated).
 */
export const llmLayer = Layer.unwrapEffect(
  Effect.map(
    Config.all([Config.option(Config.redacted("ANTHROPIC_API_KEY")), Config.option(Config.redacted("OPENAI_API_KEY"))]),
    ([anthropic, openai]) =>
      Option.isSome(anthropic) || Option.isSome(openai)
        ? LLM.layerFromEnv
        : LLM.layerLocal({ model: "local-simulated", respond: simulated, announce: true })
  )
)

export const main = Effect.scoped(
  Effect.gen(function* () {
    const handle = yield* Workflow.start(refine, { question: "How does Eventflow retry a failed model call?" })
    yield* handle.events().pipe(
      Stream.filter(Event.is(Progress)),
      Stream.runForEach((progress) => Console.log(`[${progress.step}] ${progress.message}`))
    )
    const result = yield* handle.result
    yield* Console.log(
      `\n${result.passed ? "Passed" : "Budget spent"} after ${result.attempts} attempts (score ${result.score}/10):\n${
        result.answer
      }`
    )
  })
).pipe(Effect.provide(llmLayer))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main)
}
