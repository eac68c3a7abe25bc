import { assert, describe, it } from "@effect/vitest"
import { Context, Data, Effect, Layer, Ref, Schema } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  StartEvent,
  StopEvent,
  Testing,
  UnknownStepError,
  WaitTimeoutError
} from "@eventflow/core"

const Query = Event.define("Query", { text: Schema.String })
const Answer = Event.define("Answer", { text: Schema.String })
const Progress = Event.define("Progress", { note: Schema.String })

class Greeter extends Context.Tag("test/Greeter")<
  Greeter,
  { readonly greet: (name: string) => Effect.Effect<string> }
>() {}

class Boom extends Data.TaggedError("Boom")<{ readonly reason: string }> {}

const wf = defineWorkflow({
  name: "testing",
  input: Schema.String,
  output: Schema.String,
  state: Schema.Struct({ count: Schema.Number }),
  initialState: { count: 0 }
})
  .step(StartEvent, (start) => Effect.succeed(Query.make({ text: start.input })), { emits: [Query] })
  .step(
    Query,
    (q, ctx) =>
      Effect.gen(function* () {
        yield* ctx.write(Progress.make({ note: `thinking about ${q.text}` }))
        yield* Ref.update(ctx.state, (s) => ({ count: s.count + 1 }))
        yield* ctx.send(Answer.make({ text: "sent" }))
        yield* ctx.write(Progress.make({ note: "done" }))
        return Answer.make({ text: `echo ${q.text}` })
      }),
    { emits: [Answer] }
  )
  .step(Answer, (a) => Effect.succeed(StopEvent.make({ result: a.text })), { emits: [StopEvent] })
  .step(Progress, (p) => (p.note === "fail" ? Effect.fail(new Boom({ reason: p.note })) : Effect.void), {
    name: "progress",
    emits: []
  })

const greeting = defineWorkflow({ name: "greeting", output: Schema.String })
  .step(StartEvent, () => Effect.succeed(Answer.make({ text: "Ada" })), { emits: [Answer] })
  .step(
    Answer,
    (a) =>
      Effect.gen(function* () {
        const greeter = yield* Greeter
        return StopEvent.make({ result: yield* greeter.greet(a.text) })
      }),
    { emits: [StopEvent] }
  )

const GreeterTest = Layer.succeed(Greeter, { greet: (name) => Effect.succeed(`hello ${name}`) })

describe("Testing.runStep", () => {
  it.effect("returns { output, sent, written, state } of one step", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(wf, "Query", Query.make({ text: "hi" }), { state: { count: 41 } })
      assert.deepStrictEqual<unknown>(result.output, [{ _tag: "Answer", text: "echo hi" }])
      assert.deepStrictEqual<unknown>(result.sent, [{ _tag: "Answer", text: "sent" }])
      assert.deepStrictEqual<unknown>(result.written, [
        { _tag: "Progress", note: "thinking about hi" },
        { _tag: "Progress", note: "done" }
      ])
      assert.deepStrictEqual<unknown>(result.state, { count: 42 })
    })
  )

  it.effect("starts from the workflow's initialState when no state is given", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(wf, "Query", Query.make({ text: "hi" }))
      assert.deepStrictEqual<unknown>(result.state, { count: 1 })
    })
  )

  it.effect("runs only the named step: its output is not routed further", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(wf, "StartEvent", StartEvent.make({ input: "question" }))
      assert.deepStrictEqual<unknown>(result.output, [{ _tag: "Query", text: "question" }])
      assert.deepStrictEqual<unknown>(result.sent, [])
      assert.deepStrictEqual<unknown>(result.written, [])
      assert.deepStrictEqual<unknown>(result.state, { count: 0 })
    })
  )

  it.effect("a void output is an empty array", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(wf, "progress", Progress.make({ note: "ok" }))
      assert.deepStrictEqual<unknown>(result.output, [])
    })
  )

  it.effect("a step that uses a service runs with a test Layer", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(greeting, "Answer", Answer.make({ text: "Ada" })).pipe(
        Effect.provide(GreeterTest)
      )
      assert.deepStrictEqual<unknown>(result.output, [{ _tag: "StopEvent", result: "hello Ada" }])
    })
  )

  it("requires the workflow's services in its type", () => {
    const program = Testing.runStep(greeting, "Answer", Answer.make({ text: "Ada" }))
    // @ts-expect-error Greeter is not provided
    const unprovided: Effect.Effect<unknown, unknown, never> = program
    const provided: Effect.Effect<unknown, unknown, never> = Effect.provide(program, GreeterTest)
    assert.isTrue(Effect.isEffect(unprovided) && Effect.isEffect(provided))
  })

  it.effect("a different test Layer gives a different result", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(greeting, "Answer", Answer.make({ text: "Ada" })).pipe(
        Effect.provide(Layer.succeed(Greeter, { greet: (name) => Effect.succeed(`bye ${name}`) }))
      )
      assert.deepStrictEqual<unknown>(result.output, [{ _tag: "StopEvent", result: "bye Ada" }])
    })
  )

  it.effect("fails with the step's own typed error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Testing.runStep(wf, "progress", Progress.make({ note: "fail" })))
      assert.deepStrictEqual(error, new Boom({ reason: "fail" }))
    })
  )

  it.effect("an unknown step name fails with UnknownStepError", () =>
    Effect.gen(function* () {
      // @ts-expect-error "Nope" is not a step name (the run-time path is what this test is about)
      const error = yield* Effect.flip(Testing.runStep(wf, "Nope", Query.make({ text: "hi" })))
      assert.instanceOf(error, UnknownStepError)
      const unknown = error as UnknownStepError
      assert.strictEqual(unknown.step, "Nope")
      assert.strictEqual(unknown.reason, "NoSuchStep")
      assert.include(unknown.known, "Query")
      assert.include(unknown.message, `has no step named "Nope" (given to Testing.runStep with a "Query" event)`)
      assert.notInclude(unknown.message, "sending")
    })
  )

  describe("waitFor", () => {
    const asking = defineWorkflow({ name: "asking", output: Schema.String })
      .step(
        StartEvent,
        (_, ctx) =>
          Effect.gen(function* () {
            const answer = yield* ctx.waitFor(HumanResponse, {
              prompt: InputRequired.make({ prompt: "Your name?" })
            })
            return StopEvent.make({ result: `hi ${answer.response}` })
          }),
        { emits: [StopEvent] }
      )
      .step(
        Query,
        (_, ctx) =>
          Effect.gen(function* () {
            const answer = yield* ctx.waitFor(HumanResponse, { match: (r) => r.response.startsWith("y") })
            return StopEvent.make({ result: answer.response })
          }),
        { emits: [StopEvent] }
      )

    it.effect("is answered from `responses`, and its prompt is recorded as written", () =>
      Effect.gen(function* () {
        const result = yield* Testing.runStep(asking, "StartEvent", StartEvent.make({ input: undefined }), {
          responses: [HumanResponse.make({ response: "Ada" })]
        })
        assert.deepStrictEqual<unknown>(result.output, [{ _tag: "StopEvent", result: "hi Ada" }])
        assert.deepStrictEqual<unknown>(result.written, [{ _tag: "InputRequired", prompt: "Your name?" }])
      })
    )

    it.effect("takes the first response of the waited type that satisfies match", () =>
      Effect.gen(function* () {
        const result = yield* Testing.runStep(asking, "Query", Query.make({ text: "?" }), {
          responses: [
            Query.make({ text: "not a response" }),
            HumanResponse.make({ response: "no" }),
            HumanResponse.make({ response: "yes" }),
            HumanResponse.make({ response: "yeah" })
          ]
        })
        assert.deepStrictEqual<unknown>(result.output, [{ _tag: "StopEvent", result: "yes" }])
      })
    )

    it.effect("fails with WaitTimeoutError when no response fits", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Testing.runStep(asking, "Query", Query.make({ text: "?" }), {
            responses: [HumanResponse.make({ response: "no" })]
          })
        )
        assert.instanceOf(error, WaitTimeoutError)
      })
    )
  })

  it.effect("a targeted ctx.send to an unknown step fails with UnknownStepError", () =>
    Effect.gen(function* () {
      const sending = defineWorkflow({ name: "sending" })
        .step(StartEvent, (_, ctx) => Effect.as(ctx.send(Query.make({ text: "x" }), { step: "Missing" }), undefined), {
          emits: [Query]
        })
        .step(Query, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
      const error = yield* Effect.flip(Testing.runStep(sending, "StartEvent", StartEvent.make({ input: undefined })))
      assert.instanceOf(error, UnknownStepError)
      assert.strictEqual((error as UnknownStepError).step, "Missing")
    })
  )

  it.effect("ctx.attempt and ctx.runId default to 1 and a test id, and can be set", () =>
    Effect.gen(function* () {
      const Seen = Event.define("Seen", { attempt: Schema.Number, runId: Schema.String })
      const probe = defineWorkflow({ name: "probe" })
        .step(StartEvent, (_, ctx) => Effect.succeed(Seen.make({ attempt: ctx.attempt, runId: ctx.runId })), {
          emits: [Seen]
        })
        .step(Seen, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
      const defaults = yield* Testing.runStep(probe, "StartEvent", StartEvent.make({ input: undefined }))
      assert.strictEqual((defaults.output[0] as any).attempt, 1)
      assert.isString((defaults.output[0] as any).runId)
      const set = yield* Testing.runStep(probe, "StartEvent", StartEvent.make({ input: undefined }), {
        attempt: 3,
        runId: "run-42"
      })
      assert.deepStrictEqual<unknown>(set.output, [{ _tag: "Seen", attempt: 3, runId: "run-42" }])
    })
  )
})
