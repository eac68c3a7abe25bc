import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, Event, StartEvent, StopEvent, Testing, Workflow } from "@eventflow/core"
import { LLM, LLMError } from "@eventflow/llm"
import { Cause, Chunk, ConfigProvider, Duration, Effect, Exit, Fiber, Schema, Stream, TestClock } from "effect"

const rateLimited = (seconds: number) =>
  new LLMError.LLMError({
    reason: "RateLimited",
    provider: "scripted",
    detail: "slow down",
    status: 429,
    retryAfter: Duration.seconds(seconds)
  })

describe("LLM.layerScripted", () => {
  it.effect("replies in order and records the requests", () =>
    Effect.gen(function* () {
      const first = yield* LLM.complete("one", { system: "sys", maxTokens: 5 })
      const second = yield* LLM.complete([{ role: "user", content: "two" }])
      assert.strictEqual(first.text, "first")
      assert.strictEqual(second.text, "second")
      const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (s) => s.requests)
      assert.deepStrictEqual(
        requests.map((r) => [r.messages, r.system, r.maxTokens]),
        [
          [[{ role: "user", content: "one" }], "sys", 5],
          [[{ role: "user", content: "two" }], undefined, undefined]
        ]
      )
      assert.deepStrictEqual(yield* Effect.flatMap(LLM.ScriptedLLM, (s) => s.remaining), [])
    }).pipe(Effect.provide(LLM.layerScripted(["first", "second"])))
  )

  it.effect("a scripted LLMError fails the call with it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(LLM.complete("x"))
      assert.strictEqual(error.reason, "Overloaded")
      assert.strictEqual((yield* LLM.complete("y")).text, "ok")
    }).pipe(
      Effect.provide(
        LLM.layerScripted([new LLMError.LLMError({ reason: "Overloaded", provider: "scripted", detail: "busy" }), "ok"])
      )
    )
  )

  it.effect("a call after the script ran out dies with a message that says so", () =>
    Effect.gen(function* () {
      yield* LLM.complete("a")
      const exit = yield* Effect.exit(LLM.complete("one too many"))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      const message = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      assert.include(message, "the script has 1 reply and all were used")
      assert.include(message, "one too many")
    }).pipe(Effect.provide(LLM.layerScripted(["only"])))
  )

  it.effect("stream splits a scripted reply into deltas that concatenate to it", () =>
    Effect.gen(function* () {
      const deltas = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.filter(LLM.stream("go"), LLM.isTextDelta)))
      assert.isAbove(deltas.length, 1)
      assert.strictEqual(deltas.map((d) => d.text).join(""), "The quick brown fox.")
    }).pipe(Effect.provide(LLM.layerScripted(["The quick brown fox."])))
  )

  it.effect("structured decodes a scripted JSON reply and records the schema request", () =>
    Effect.gen(function* () {
      const Score = Schema.Struct({ score: Schema.Number, reason: Schema.String })
      const value = yield* LLM.structured(Score, "Rate this")
      assert.deepStrictEqual(value, { score: 0.8, reason: "fine" })
      const [request] = yield* Effect.flatMap(LLM.ScriptedLLM, (s) => s.requests)
      assert.isDefined(request!.json)
      assert.include(request!.system!, "JSON")
    }).pipe(Effect.provide(LLM.layerScripted([{ json: { score: 0.8, reason: "fine" } }])))
  )
})

describe("LLM.structured", () => {
  const Answer = Schema.Struct({ answer: Schema.String, confidence: Schema.Number.pipe(Schema.between(0, 1)) })

  it.effect("a reply that is not JSON is InvalidOutput showing the parse error and the reply", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(LLM.structured(Answer, "q"))
      assert.strictEqual(error.reason, "InvalidOutput")
      assert.include(error.message, "not JSON")
      assert.include(error.message, "Sure! The answer is 4")
    }).pipe(Effect.provide(LLM.layerScripted(["Sure! The answer is 4"])))
  )

  it.effect("a reply that fails a refinement is InvalidOutput naming the field", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(LLM.structured(Answer, "q"))
      assert.strictEqual(error.reason, "InvalidOutput")
      assert.include(error.message, "confidence")
      assert.include(error.message, "between 0 and 1")
      assert.isFalse(error.isTransient)
    }).pipe(Effect.provide(LLM.layerScripted([{ json: { answer: "4", confidence: 3 } }])))
  )

  it.effect("JSON inside prose or a code fence is extracted", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* LLM.structured(Answer, "q"), { answer: "4", confidence: 0.5 })
      assert.deepStrictEqual(yield* LLM.structured(Answer, "q"), { answer: "5", confidence: 1 })
    }).pipe(
      Effect.provide(
        LLM.layerScripted([
          'Here you go: {"answer": "4", "confidence": 0.5} hope it helps',
          '```json\n{"answer": "5", "confidence": 1}\n```'
        ])
      )
    )
  )
})

describe("LLM.layerLocal", () => {
  it.effect("answers deterministically with the first sentence of the prompt", () =>
    Effect.gen(function* () {
      const a = yield* LLM.complete("Summarise Effect. It is a library for TypeScript.")
      const b = yield* LLM.complete("Summarise Effect. It is a library for TypeScript.")
      assert.strictEqual(a.text, "Summarise Effect.")
      assert.deepStrictEqual(a, b)
      assert.strictEqual(a.stopReason, "end")
      assert.strictEqual(a.usage.outputTokens, 2)
      const streamed = yield* Stream.runCollect(Stream.filter(LLM.stream("Hello there world"), LLM.isTextDelta))
      assert.strictEqual(
        Chunk.toReadonlyArray(streamed)
          .map((d) => d.text)
          .join(""),
        "Hello there world"
      )
    }).pipe(Effect.provide(LLM.layerLocal()))
  )

  it.effect("structured produces JSON of the schema's shape", () =>
    Effect.gen(function* () {
      const Shape = Schema.Struct({
        title: Schema.String,
        score: Schema.Number,
        ok: Schema.Boolean,
        kind: Schema.Literal("a", "b"),
        tags: Schema.Array(Schema.String)
      })
      const value = yield* LLM.structured(Shape, "Write a title. Then more.")
      assert.deepStrictEqual(value, { title: "Write a title.", score: 0, ok: false, kind: "a", tags: [] })
    }).pipe(Effect.provide(LLM.layerLocal()))
  )

  it.effect("a caller-supplied respond function is the model", () =>
    Effect.gen(function* () {
      const value = yield* LLM.structured(Schema.Struct({ score: Schema.Number }), "rate")
      assert.deepStrictEqual(value, { score: 0.9 })
      assert.strictEqual((yield* LLM.complete("hi")).text, "plain")
    }).pipe(
      Effect.provide(
        LLM.layerLocal({ respond: (request) => (request.json ? JSON.stringify({ score: 0.9 }) : "plain") })
      )
    )
  )
})

describe("LLM.retrySchedule", () => {
  it.effect("waits the retry-after of a RateLimited error before retrying", () =>
    Effect.gen(function* () {
      const fiber = yield* LLM.complete("x").pipe(Effect.retry(LLM.retrySchedule()), Effect.fork)
      const requests = Effect.flatMap(LLM.ScriptedLLM, (s) => s.requests)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* requests).length, 1)
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.text, "done")
      assert.strictEqual((yield* requests).length, 2)
    }).pipe(Effect.provide(LLM.layerScripted([rateLimited(10), "done"])))
  )

  it.effect("backs off exponentially without retry-after and gives up after `times` retries", () =>
    Effect.gen(function* () {
      const network = new LLMError.LLMError({ reason: "Network", provider: "scripted", detail: "reset" })
      const fiber = yield* LLM.complete("x").pipe(
        Effect.retry(LLM.retrySchedule({ times: 2, base: "1 second" })),
        Effect.flip,
        Effect.fork
      )
      const count = Effect.flatMap(LLM.ScriptedLLM, (s) => Effect.map(s.requests, (r) => r.length))
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(yield* count, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* count, 2)
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(yield* count, 2)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(yield* count, 3)
      assert.strictEqual(error.detail, network.detail)
    }).pipe(
      Effect.provide(
        LLM.layerScripted([
          new LLMError.LLMError({ reason: "Network", provider: "scripted", detail: "reset" }),
          new LLMError.LLMError({ reason: "Network", provider: "scripted", detail: "reset" }),
          new LLMError.LLMError({ reason: "Network", provider: "scripted", detail: "reset" }),
          "never reached"
        ])
      )
    )
  )

  it.effect("does not retry InvalidRequest, Authentication or InvalidOutput", () =>
    Effect.gen(function* () {
      for (const reason of ["InvalidRequest", "Authentication", "InvalidOutput"] as const) {
        const error = yield* LLM.complete(reason).pipe(Effect.retry(LLM.retrySchedule()), Effect.flip)
        assert.strictEqual(error.reason, reason)
      }
      const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (s) => s.requests)
      assert.strictEqual(requests.length, 3)
    }).pipe(
      Effect.provide(
        LLM.layerScripted(
          (["InvalidRequest", "Authentication", "InvalidOutput"] as const).map(
            (reason) => new LLMError.LLMError({ reason, provider: "scripted", detail: reason })
          )
        )
      )
    )
  )
})

const Question = Event.define("Question", { text: Schema.String })
const Rating = Schema.Struct({ score: Schema.Number })

const workflow = defineWorkflow({ name: "ask" })
  .step(StartEvent, (_, ctx) => Effect.map(LLM.streamTo(ctx, "Tell me"), (text) => StopEvent.make({ result: text })), {
    emits: [StopEvent]
  })
  .step(
    Question,
    (q) =>
      Effect.map(LLM.structured(Rating, q.text), (rating) => StopEvent.make({ result: rating.score })).pipe(
        Effect.retry(LLM.retrySchedule())
      ),
    { emits: [StopEvent] }
  )

describe("LLM in workflow steps", () => {
  it.effect("Testing.runStep of a step that calls the model, with layerScripted", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Testing.runStep(workflow, "Question", Question.make({ text: "How good?" })))
      yield* TestClock.adjust("500 millis") // the first exponential delay of retrySchedule
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result.output, [StopEvent.make({ result: 0.7 })])
      const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (s) => s.requests)
      assert.strictEqual(requests.length, 2)
      assert.deepStrictEqual(requests[1]!.messages, [{ role: "user", content: "How good?" }])
    }).pipe(
      Effect.provide(
        LLM.layerScripted([
          new LLMError.LLMError({ reason: "Overloaded", provider: "scripted", detail: "busy" }),
          { json: { score: 0.7 } }
        ])
      )
    )
  )

  it.effect("streamTo writes each delta as a TokenDelta and returns the full text", () =>
    Effect.gen(function* () {
      const result = yield* Testing.runStep(workflow, "StartEvent", StartEvent.make({ input: undefined }))
      assert.deepStrictEqual(result.output, [StopEvent.make({ result: "Once upon a time" })])
      assert.isAbove(result.written.length, 1)
      assert.isTrue(result.written.every(Event.is(LLM.TokenDelta)))
      assert.strictEqual(result.written.map((e) => (e as LLM.TokenDelta).text).join(""), "Once upon a time")
    }).pipe(Effect.provide(LLM.layerScripted(["Once upon a time"])))
  )
})

const retried = defineWorkflow({ name: "retried-stream" }).step(
  StartEvent,
  (_, ctx) => Effect.map(LLM.streamTo(ctx, "Explain retries"), (text) => StopEvent.make({ result: text })),
  { name: "answer", emits: [StopEvent], retry: LLM.retrySchedule() }
)

describe("retried streams (TokenDelta carries the attempt)", () => {
  it.scoped(
    "a stream cut midway and retried: the run keeps both attempts' tokens, tagged, and foldTokens keeps the last",
    () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(retried)
        const events = yield* Effect.fork(Stream.runCollect(handle.events()))
        yield* TestClock.adjust("500 millis") // retrySchedule's first delay
        const result = yield* handle.result
        assert.strictEqual(result, "A step retries.", "the step's text is the final attempt's only")
        const deltas = Chunk.toReadonlyArray(yield* Fiber.join(events)).filter(Event.is(LLM.TokenDelta))
        assert.deepStrictEqual(
          deltas.map((d) => [d.attempt, d.text]),
          [
            [1, "A "],
            [1, "step "],
            [1, "retries"],
            [2, "A "],
            [2, "step "],
            [2, "retries."]
          ]
        )
        assert.isTrue(deltas.every((d) => d.step === "answer" && d.eventId === deltas[0]!.eventId))
        // Concatenating every delta shows the failed attempt's tokens too; the rule drops them.
        assert.strictEqual(deltas.map((d) => d.text).join(""), "A step retriesA step retries.")
        const texts = deltas.reduce(LLM.foldTokens, new Map() as LLM.TokenTexts)
        assert.deepStrictEqual([...texts.values()], [{ attempt: 2, text: "A step retries." }])
        // A terminal consumer knows where the retry starts.
        const restarts = deltas.filter((d, i) => LLM.isRetryOf(deltas.slice(0, i).reduce(LLM.foldTokens, new Map()), d))
        assert.deepStrictEqual(restarts, [deltas[3]])
      }).pipe(
        Effect.provide(
          LLM.layerScripted([
            {
              text: "A step retries",
              thenFail: new LLMError.LLMError({ reason: "Network", provider: "scripted", detail: "cut" })
            },
            "A step retries."
          ])
        )
      )
  )

  it("foldTokens keeps invocations apart and drops a late token of an earlier attempt", () => {
    const d = (text: string, eventId: string, attempt: number) =>
      LLM.TokenDelta.make({ text, step: "s", eventId, attempt })
    const texts = [d("a", "1", 1), d("x", "2", 1), d("b", "1", 2), d("late", "1", 1), d("c", "1", 2)].reduce(
      LLM.foldTokens,
      new Map() as LLM.TokenTexts
    )
    assert.deepStrictEqual(texts.get("s/1"), { attempt: 2, text: "bc" })
    assert.deepStrictEqual(texts.get("s/2"), { attempt: 1, text: "x" })
  })
})

describe("offline honesty", () => {
  it.effect(
    "an announcing local model prints one line on stderr, the first time it answers; a plain one prints none",
    () =>
      Effect.gen(function* () {
        const written: Array<string> = []
        const original = process.stderr.write
        process.stderr.write = ((chunk: string) => {
          written.push(String(chunk))
          return true
        }) as typeof process.stderr.write
        try {
          yield* LLM.complete("one").pipe(Effect.provide(LLM.layerLocal()))
          assert.deepStrictEqual(written, [])
          const layer = LLM.layerLocal({ announce: true })
          yield* Effect.gen(function* () {
            yield* LLM.complete("one")
            yield* Stream.runDrain(LLM.stream("two"))
            yield* LLM.structured(Schema.Struct({ a: Schema.String }), "three")
          }).pipe(Effect.provide(layer))
        } finally {
          process.stderr.write = original
        }
        assert.strictEqual(written.length, 1)
        assert.include(written[0], "simulated")
        assert.include(written[0], "ANTHROPIC_API_KEY")
      })
  )

  it.effect("layerFromEnv's fallback is the announcing local model", () =>
    Effect.gen(function* () {
      const written: Array<string> = []
      const original = process.stderr.write
      process.stderr.write = ((chunk: string) => {
        written.push(String(chunk))
        return true
      }) as typeof process.stderr.write
      try {
        yield* LLM.complete("hi").pipe(
          Effect.provide(LLM.layerFromEnv),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      } finally {
        process.stderr.write = original
      }
      assert.strictEqual(written.length, 1)
    })
  )
})

describe("LLM.layerFromEnv", () => {
  const providerWith = (env: Record<string, string>) =>
    Effect.map(LLM.LLM, (llm) => [llm.provider, llm.model]).pipe(
      Effect.provide(LLM.layerFromEnv),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )

  it.effect("picks Anthropic, else OpenAI, else the local model", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* providerWith({ ANTHROPIC_API_KEY: "a", OPENAI_API_KEY: "o" }), [
        "anthropic",
        LLM.defaultAnthropicModel
      ])
      assert.deepStrictEqual(yield* providerWith({ OPENAI_API_KEY: "o", OPENAI_MODEL: "gpt-x" }), ["openai", "gpt-x"])
      assert.deepStrictEqual(yield* providerWith({ OPENAI_API_KEY: "o" }), ["openai", LLM.defaultOpenAIModel])
      assert.deepStrictEqual(yield* providerWith({}), ["local", "local-echo"])
    })
  )
})

describe("LLMError", () => {
  it("explains itself: provider, reason, status, retry-after and what to do", () => {
    const error = rateLimited(5)
    assert.include(error.message, "scripted call failed (RateLimited, HTTP 429, retry after 5s): slow down")
    assert.include(error.message, "retry later")
    assert.isTrue(error.isTransient)
    assert.isTrue(LLMError.isLLMError(error))
    assert.isFalse(LLMError.isLLMError(new Error("x")))
    const auth = new LLMError.LLMError({ reason: "Authentication", provider: "openai", detail: "bad key" })
    assert.include(auth.message, "check the API key")
    assert.isFalse(auth.isTransient)
  })
})
