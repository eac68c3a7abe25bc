/**
 * Human in the loop, durably: a draft is written, a person approves it or gives feedback in the terminal,
 * feedback loops back into a revision. The run is checkpointed in a SQLite file after every step, every answer
 * and every prompt: stop the program (Ctrl-C) while it waits, run it again, and the waiting run resumes.
 *
 *   node --conditions=source --import tsx examples/approval.ts            (or APPROVAL_DB=path/to/file.db)
 */
import { createInterface } from "node:readline"
import { pathToFileURL } from "node:url"
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Console, Effect, Option, Ref, Schema, Stream } from "effect"

export const Draft = Event.define("Draft", { text: Schema.String })
export const Feedback = Event.define("Feedback", { text: Schema.String, feedback: Schema.String })
export const Approved = Event.define("Approved", { text: Schema.String })
export const Shown = Event.define("Shown", { text: Schema.String, revision: Schema.Number })

export const approval = defineWorkflow({
  name: "content-approval",
  input: Schema.Struct({ topic: Schema.String }),
  output: Schema.Struct({ text: Schema.String, revisions: Schema.Number }),
  state: Schema.Struct({ revisions: Schema.Number }),
  initialState: { revisions: 0 }
})
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: `Eventflow makes ${start.input.topic} simple.` })), {
    name: "draft",
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.gen(function* () {
        // Code before the wait runs again after a crash (at-least-once): keep it idempotent.
        const { revisions } = yield* Ref.get(ctx.state)
        yield* ctx.write(Shown.make({ text: draft.text, revision: revisions }))
        // Suspends this step (no worker slot held) until a person answers; the prompt is published once.
        const answer = yield* ctx.waitFor(HumanResponse, {
          prompt: InputRequired.make({ prompt: "Approve? Type yes, or feedback:", requestId: ctx.eventId })
        })
        const text = answer.response.trim()
        return text.toLowerCase() === "yes"
          ? Approved.make({ text: draft.text })
          : Feedback.make({ text: draft.text, feedback: text })
      }),
    { name: "review", emits: [Approved, Feedback], waitsFor: [HumanResponse] }
  )
  .step(
    Feedback,
    (feedback, ctx) =>
      Effect.gen(function* () {
        yield* Ref.update(ctx.state, (s) => ({ revisions: s.revisions + 1 }))
        return Draft.make({ text: `${feedback.text} (${feedback.feedback})` })
      }),
    { name: "revise", emits: [Draft] }
  )
  .step(
    Approved,
    (approved, ctx) =>
      Effect.map(Ref.get(ctx.state), (s) =>
        StopEvent.make({ result: { text: approved.text, revisions: s.revisions } })
      ),
    { name: "publish", emits: [StopEvent] }
  )

/** Lines typed in the terminal (or piped in); `None` at the end of the input. */
const makeLines = Effect.sync(() => {
  const rl = createInterface({ input: process.stdin })
  const iterator = rl[Symbol.asyncIterator]()
  return {
    next: Effect.promise(() => iterator.next()).pipe(
      Effect.map((r) => (r.done === true ? Option.none<string>() : Option.some(r.value)))
    ),
    close: Effect.sync(() => rl.close())
  }
})

export const main = Effect.gen(function* () {
  const lines = yield* Effect.acquireRelease(makeLines, (l) => l.close)
  // Boot: resume the unfinished run if there is one, otherwise start a new one.
  const [resumed] = yield* Workflow.resumeAll(approval)
  const handle = resumed ?? (yield* Workflow.start(approval, { topic: "approvals" }, { durable: true }))
  yield* Console.log(resumed ? `Resuming run ${handle.runId}` : `Started run ${handle.runId}`)
  // Follow the run: show each draft, ask for each prompt that is still open. A resumed run replays its whole
  // log first: its answered prompts are no longer pending and are skipped.
  const outcome = yield* handle.events().pipe(
    Stream.runForEach((event) =>
      Effect.gen(function* () {
        if (Event.is(Shown)(event)) {
          yield* Console.log(`\nDraft (revision ${event.revision}):\n  ${event.text}`)
        } else if (Event.is(InputRequired)(event)) {
          const pending = yield* handle.pending
          if (!pending.some((p) => (p.prompt as InputRequired).requestId === event.requestId)) return
          yield* Console.log(event.prompt)
          const line = yield* lines.next
          if (Option.isNone(line)) return yield* Effect.fail("no more input" as const)
          yield* handle.send(HumanResponse.make({ response: line.value, requestId: event.requestId }))
        }
      })
    ),
    Effect.either
  )
  if (outcome._tag === "Left") {
    yield* Console.log(`No more input: run ${handle.runId} stays waiting in the database; run again to resume.`)
    return
  }
  const result = yield* handle.result
  yield* Console.log(`\nApproved after ${result.revisions} revision(s):\n  ${result.text}`)
}).pipe(Effect.scoped, Effect.provide(SqliteRunStore.layer({ filename: process.env.APPROVAL_DB ?? "approval.db" })))

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  Effect.runPromise(main).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
