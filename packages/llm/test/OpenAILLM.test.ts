import { assert, describe, it } from "@effect/vitest"
import { LLM, type LLMError, OpenAILLM } from "@eventflow/llm"
import { Chunk, Deferred, Duration, Effect, Exit, Fiber, Schema, Stream } from "effect"
import {
  closedPort,
  json,
  openAIChunk,
  openAIChunkOf as chunk,
  openAIHead as streamHead,
  type Recorded,
  serve
} from "./server.js"

const completion = (text: string) => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-test-1",
  choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 }
})

const errorBody = (type: string, message: string) => ({ error: { message, type, param: null, code: null } })

const llmAt = (url: string, options: Partial<OpenAILLM.Options> = {}) =>
  OpenAILLM.make({ model: "gpt-test-1", apiKey: "sk-openai-test", baseURL: `${url}/v1`, maxTokens: 128, ...options })

const errorFor = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const server = yield* serve((_, res) => json(res, status, body, headers))
    const llm = yield* llmAt(server.url)
    const error: LLMError.LLMError = yield* Effect.flip(llm.complete("hi"))
    return { error, server }
  })

describe("OpenAILLM", () => {
  it.scoped("complete sends a chat.completions request and maps the reply", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, completion("Hi!")))
      const llm = yield* llmAt(server.url)
      const result = yield* llm.complete(
        [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
          { role: "user", content: "Again" }
        ],
        { system: "Be brief." }
      )
      assert.deepStrictEqual(result, {
        text: "Hi!",
        stopReason: "end",
        usage: { inputTokens: 9, outputTokens: 2 },
        model: "gpt-test-1"
      })
      const request: Recorded = server.requests[0]!
      assert.strictEqual(request.url, "/v1/chat/completions")
      assert.strictEqual(request.headers.authorization, "Bearer sk-openai-test")
      assert.strictEqual(request.body.model, "gpt-test-1")
      assert.strictEqual(request.body.max_completion_tokens, 128)
      assert.deepStrictEqual(request.body.messages, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
        { role: "user", content: "Again" }
      ])
    })
  )

  it.scoped("finish_reason length is stopReason max_tokens", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        const body = completion("trunc")
        json(res, 200, { ...body, choices: [{ ...body.choices[0], finish_reason: "length" }] })
      })
      const llm = yield* llmAt(server.url)
      const result = yield* llm.complete("hi", { maxTokens: 3 })
      assert.strictEqual(result.stopReason, "max_tokens")
      assert.strictEqual(server.requests[0]!.body.max_completion_tokens, 3)
    })
  )

  it.scoped("stream reads the SSE chunks up to [DONE] and emits the text deltas", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, chunk("Hel"))
        openAIChunk(res, chunk("lo"))
        openAIChunk(res, chunk(undefined, "stop"))
        res.write("data: [DONE]\n\n")
        res.end()
      })
      const llm = yield* llmAt(server.url)
      const deltas = yield* Stream.runCollect(llm.stream("Say hello"))
      assert.deepStrictEqual(Chunk.toReadonlyArray(deltas), [{ text: "Hel" }, { text: "lo" }])
      assert.strictEqual(server.requests[0]!.body.stream, true)
      assert.strictEqual(server.requests[0]!.body.model, "gpt-test-1")
    })
  )

  it.scoped("a stream cut in the middle fails with Network after the deltas already received", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, chunk("Hel"))
        setTimeout(() => res.socket?.destroy(), 20)
      })
      const llm = yield* llmAt(server.url)
      const received: Array<string> = []
      const error = yield* llm.stream("Say hello").pipe(
        Stream.runForEach((d) => Effect.sync(() => received.push(d.text))),
        Effect.flip
      )
      assert.deepStrictEqual(received, ["Hel"])
      assert.strictEqual(error.reason, "Network")
      assert.strictEqual(error.provider, "openai")
    })
  )

  it.scoped("a stream that ends without a finish_reason fails with Network", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, chunk("Hel"))
        res.end()
      })
      const llm = yield* llmAt(server.url)
      const error = yield* Stream.runDrain(llm.stream("Say hello")).pipe(Effect.flip)
      assert.strictEqual(error.reason, "Network")
      assert.include(error.message, "finish_reason")
    })
  )

  it.scoped("interrupting a stream aborts the HTTP request (the server sees the connection close)", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, chunk("first"))
      })
      const llm = yield* llmAt(server.url)
      const first = yield* Deferred.make<string>()
      const fiber = yield* llm.stream("Tell me a long story").pipe(
        Stream.runForEach((d) => Deferred.succeed(first, d.text)),
        Effect.fork
      )
      assert.strictEqual(yield* Deferred.await(first), "first")
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      yield* Effect.promise(() => server.clientClosed)
    })
  )

  it.scoped("429 is RateLimited with the retry-after header", () =>
    Effect.gen(function* () {
      const { error, server } = yield* errorFor(429, errorBody("rate_limit_exceeded", "Rate limit reached"), {
        "retry-after": "3"
      })
      assert.strictEqual(error.reason, "RateLimited")
      assert.deepStrictEqual(error.retryAfter, Duration.seconds(3))
      assert.include(error.message, "Rate limit reached")
      assert.strictEqual(server.requests.length, 1, "the SDK's own retries are disabled")
    })
  )

  it.scoped("429 with retry-after-ms uses the milliseconds", () =>
    Effect.gen(function* () {
      const { error } = yield* errorFor(429, errorBody("rate_limit_exceeded", "slow"), { "retry-after-ms": "1500" })
      assert.deepStrictEqual(error.retryAfter, Duration.millis(1500))
    })
  )

  for (const [status, reason] of [
    [503, "Overloaded"],
    [529, "Overloaded"],
    [500, "Overloaded"],
    [401, "Authentication"],
    [403, "Authentication"],
    [400, "InvalidRequest"],
    [404, "InvalidRequest"],
    [422, "InvalidRequest"]
  ] as const) {
    it.scoped(`HTTP ${status} is ${reason}`, () =>
      Effect.gen(function* () {
        const { error, server } = yield* errorFor(status, errorBody("some_error", `status ${status} happened`))
        assert.strictEqual(error.reason, reason)
        assert.strictEqual(error.status, status)
        assert.strictEqual(error.provider, "openai")
        assert.include(error.message, `status ${status} happened`)
        assert.strictEqual(server.requests.length, 1)
      })
    )
  }

  it.scoped("a malformed JSON body is a Network error that says the response is not JSON", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end('{"id": "chatcmpl-1", "choices": [')
      })
      const llm = yield* llmAt(server.url)
      const error = yield* Effect.flip(llm.complete("hi"))
      assert.strictEqual(error.reason, "Network")
      assert.include(error.message, "not valid JSON")
    })
  )

  it.effect("a refused connection is Network", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const llm = yield* llmAt(`http://127.0.0.1:${port}`)
      const error = yield* Effect.flip(llm.complete("hi"))
      assert.strictEqual(error.reason, "Network")
    })
  )

  it.scopedLive("a request that outlives the SDK timeout is Timeout", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => {
        // never answers
      })
      const llm = yield* llmAt(server.url, { timeout: "100 millis" })
      const error = yield* Effect.flip(llm.complete("hi"))
      assert.strictEqual(error.reason, "Timeout")
    })
  )

  it.scoped("retrySchedule retries a 503 and a 429 (retry-after: 0) and then succeeds", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res, index) =>
        index === 0
          ? json(res, 429, errorBody("rate_limit_exceeded", "slow down"), { "retry-after": "0" })
          : index === 1
            ? json(res, 503, errorBody("server_error", "busy"), { "retry-after": "0" })
            : json(res, 200, completion("done"))
      )
      const llm = yield* llmAt(server.url)
      const result = yield* llm.complete("hi").pipe(Effect.retry(LLM.retrySchedule()))
      assert.strictEqual(result.text, "done")
      assert.strictEqual(server.requests.length, 3)
    })
  )

  it.scoped("structured output that does not decode is InvalidOutput showing the parse error", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, completion('{"city": 42}')))
      const llm = yield* llmAt(server.url)
      const error = yield* Effect.flip(llm.structured(Schema.Struct({ city: Schema.String }), "Capital of France?"))
      assert.strictEqual(error.reason, "InvalidOutput")
      assert.include(error.message, "city")
      assert.include(error.message, "Expected string, actual 42")
      const messages = server.requests[0]!.body.messages
      assert.strictEqual(messages[0].role, "system")
      assert.include(messages[0].content, "JSON Schema")
    })
  )
})
