import { assert, describe, it } from "@effect/vitest"
import { LLM, type LLMError, OpenAILLM, Tool } from "@eventflow/llm"
import { Chunk, Clock, Deferred, Duration, Effect, Exit, Fiber, Schema, Stream, TestClock } from "effect"
import {
  closedPort,
  json,
  openAIChunk,
  openAIChunkOf as chunk,
  openAIHead as streamHead,
  type Recorded,
  serve
} from "./server.js"
import { remind, weather } from "./tools.js"
import { recordSpans, spanNamed } from "./tracer.js"

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
        model: "gpt-test-1",
        toolCalls: []
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
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(deltas).filter((p) => p.type === "text"),
        [
          { type: "text", text: "Hel" },
          { type: "text", text: "lo" }
        ]
      )
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
        Stream.filter(LLM.isTextDelta),
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
        Stream.filter(LLM.isTextDelta),
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
      const body = server.requests[0]!.body
      assert.deepStrictEqual(body.messages, [{ role: "user", content: "Capital of France?" }])
      assert.strictEqual(body.response_format.type, "json_schema")
    })
  )
})

describe("OpenAILLM (issue 17)", () => {
  it.scoped("a refusal is surfaced (stopReason refusal, the refusal text) and structured fails with Refused", () =>
    Effect.gen(function* () {
      const refusing = {
        ...completion(""),
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: null, refusal: "I can't help with that." },
            finish_reason: "stop",
            logprobs: null
          }
        ]
      }
      const server = yield* serve((_, res) => json(res, 200, refusing))
      const llm = yield* llmAt(server.url)
      const result = yield* llm.complete("something bad")
      assert.strictEqual(result.stopReason, "refusal")
      assert.strictEqual(result.refusal, "I can't help with that.")
      assert.strictEqual(result.text, "")
      const error = yield* Effect.flip(llm.structured(Schema.Struct({ city: Schema.String }), "something bad"))
      assert.strictEqual(error.reason, "Refused")
      assert.include(error.message, "refused")
      assert.include(error.message, "I can't help with that.")
      assert.isFalse(error.isTransient)
    })
  )

  it.scoped("a streamed refusal arrives as refusal parts and the finish part says refusal", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, {
          ...chunk(undefined),
          choices: [{ index: 0, delta: { refusal: "No." }, finish_reason: null }]
        })
        openAIChunk(res, chunk(undefined, "stop"))
        res.end("data: [DONE]\n\n")
      })
      const llm = yield* llmAt(server.url)
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(llm.stream("bad")))
      assert.deepStrictEqual(parts[0], { type: "refusal", text: "No." })
      assert.deepStrictEqual(parts[parts.length - 1], {
        type: "finish",
        stopReason: "refusal",
        usage: { inputTokens: 0, outputTokens: 0 }
      })
    })
  )

  it.scoped("insufficient_quota (HTTP 429) is QuotaExceeded: not retried, and the message is about billing", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) =>
        json(
          res,
          429,
          {
            error: {
              message: "You exceeded your current quota, please check your plan and billing details.",
              type: "insufficient_quota",
              param: null,
              code: "insufficient_quota"
            }
          },
          { "retry-after": "0" }
        )
      )
      const llm = yield* llmAt(server.url)
      const error = yield* Effect.flip(llm.complete("hi").pipe(Effect.retry(LLM.retrySchedule())))
      assert.strictEqual(error.reason, "QuotaExceeded")
      assert.strictEqual(error.status, 429)
      assert.isFalse(error.isTransient)
      assert.include(error.message, "billing")
      assert.strictEqual(server.requests.length, 1, "not retried")
    })
  )

  it.scoped("streams ask for usage (stream_options.include_usage); the finish part and the span carry it", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, chunk("Hi"))
        openAIChunk(res, chunk(undefined, "stop"))
        openAIChunk(res, {
          ...chunk(undefined),
          choices: [],
          usage: { prompt_tokens: 7, completion_tokens: 1, total_tokens: 8 }
        })
        res.end("data: [DONE]\n\n")
      })
      const { layer, spans } = yield* recordSpans
      const llm = yield* llmAt(server.url)
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(llm.stream("hi")).pipe(Effect.provide(layer)))
      assert.deepStrictEqual(server.requests[0]!.body.stream_options, { include_usage: true })
      assert.deepStrictEqual(parts[parts.length - 1], {
        type: "finish",
        stopReason: "end",
        usage: { inputTokens: 7, outputTokens: 1 }
      })
      const span = spanNamed(spans, "chat gpt-test-1")
      assert.strictEqual(span.attributes.get("gen_ai.usage.input_tokens"), 7)
      assert.strictEqual(span.attributes.get("gen_ai.usage.output_tokens"), 1)
      assert.strictEqual(span.attributes.get("gen_ai.request.max_tokens"), 128)
    })
  )

  it.scoped("a call without max tokens records no gen_ai.request.max_tokens (not -1); with one, the one sent", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, completion("ok")))
      const { layer, spans } = yield* recordSpans
      const bare = yield* llmAt(server.url, { maxTokens: undefined })
      yield* bare.complete("hi").pipe(Effect.provide(layer))
      assert.isUndefined(server.requests[0]!.body.max_completion_tokens)
      assert.isFalse(spanNamed(spans, "chat gpt-test-1").attributes.has("gen_ai.request.max_tokens"))
      const withDefault = yield* llmAt(server.url)
      spans.length = 0
      yield* withDefault.complete("hi").pipe(Effect.provide(layer))
      assert.strictEqual(spanNamed(spans, "chat gpt-test-1").attributes.get("gen_ai.request.max_tokens"), 128)
    })
  )

  it.scoped(
    "a stream whose server sends headers then stalls fails with Timeout after the idle timeout (TestClock)",
    () =>
      Effect.gen(function* () {
        const server = yield* serve((_, res) => {
          streamHead(res)
          openAIChunk(res, chunk("Hel"))
          // ...and nothing more
        })
        const llm = yield* llmAt(server.url, { idleTimeout: "30 seconds" })
        const first = yield* Deferred.make<void>()
        const fiber = yield* llm.stream("hi").pipe(
          Stream.runForEach((p) => (p.type === "text" ? Deferred.succeed(first, undefined) : Effect.void)),
          Effect.flip,
          Effect.fork
        )
        yield* Deferred.await(first)
        yield* TestClock.adjust("30 seconds")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error.reason, "Timeout")
        assert.isTrue(error.isTransient)
        assert.include(error.message, "silent for 30s")
        yield* Effect.promise(() => server.clientClosed)
      })
  )

  it.scoped("complete against a server that sends headers then stalls fails with Timeout (whole call, TestClock)", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.write('{"id": "chatcmpl-1", ')
      })
      const llm = yield* llmAt(server.url, { timeout: "20 seconds" })
      const fiber = yield* Effect.fork(Effect.flip(llm.complete("hi")))
      yield* Effect.promise(() => server.firstRequest)
      yield* Effect.sleep("1 second").pipe(
        Effect.withClock(Clock.make()),
        Effect.zipRight(TestClock.adjust("20 seconds"))
      )
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
      assert.include(error.message, "within 20s")
      yield* Effect.promise(() => server.clientClosed)
    })
  )

  it.scoped("tools: sent as strict functions, parallel tool_calls decoded, results sent back as tool messages", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res, index) =>
        json(
          res,
          200,
          index === 0
            ? {
                ...completion(""),
                choices: [
                  {
                    index: 0,
                    message: {
                      role: "assistant",
                      content: null,
                      tool_calls: [
                        {
                          id: "call_1",
                          type: "function",
                          function: { name: "get_weather", arguments: '{"city":"Paris"}' }
                        },
                        {
                          id: "call_2",
                          type: "function",
                          function: { name: "get_weather", arguments: '{"city":"Oslo"}' }
                        }
                      ]
                    },
                    finish_reason: "tool_calls",
                    logprobs: null
                  }
                ]
              }
            : completion("21 in Paris; Oslo is unknown.")
        )
      )
      const llm = yield* llmAt(server.url)
      const first = yield* llm.complete("Weather in Paris and Oslo?", { tools: [weather], toolChoice: "auto" })
      assert.strictEqual(first.stopReason, "tool_use")
      assert.deepStrictEqual(first.toolCalls, [
        { id: "call_1", name: "get_weather", input: { city: "Paris" } },
        { id: "call_2", name: "get_weather", input: { city: "Oslo" } }
      ])
      const body = server.requests[0]!.body
      assert.deepStrictEqual(body.tools, [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The current temperature of a city, in degrees Celsius",
            parameters: {
              type: "object",
              required: ["city"],
              properties: { city: { type: "string" } },
              additionalProperties: false
            },
            strict: true
          }
        }
      ])
      assert.strictEqual(body.tool_choice, "auto")
      const results = yield* Effect.forEach(first.toolCalls, (call) => Tool.run([weather], call))
      assert.deepStrictEqual(results, [
        { id: "call_1", name: "get_weather", content: '{"celsius":21}', isError: false },
        { id: "call_2", name: "get_weather", content: '{"error":{"_tag":"UnknownCity","city":"Oslo"}}', isError: true }
      ])
      const second = yield* llm.complete(
        [
          { role: "user", content: "Weather in Paris and Oslo?" },
          { role: "assistant", content: "", toolCalls: first.toolCalls },
          { role: "tool", results }
        ],
        { tools: [weather] }
      )
      assert.strictEqual(second.text, "21 in Paris; Oslo is unknown.")
      assert.deepStrictEqual(server.requests[1]!.body.messages, [
        { role: "user", content: "Weather in Paris and Oslo?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }
          ]
        },
        { role: "tool", tool_call_id: "call_1", content: '{"celsius":21}' },
        { role: "tool", tool_call_id: "call_2", content: '{"error":{"_tag":"UnknownCity","city":"Oslo"}}' }
      ])
    })
  )

  it.scoped("a tool call whose arguments do not decode is InvalidOutput naming the tool and the field", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) =>
        json(res, 200, {
          ...completion(""),
          choices: [
            {
              index: 0,
              message: {
                role: "assistant",
                content: null,
                tool_calls: [
                  { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"town":1}' } }
                ]
              },
              finish_reason: "tool_calls",
              logprobs: null
            }
          ]
        })
      )
      const llm = yield* llmAt(server.url)
      const error = yield* Effect.flip(llm.complete("Weather?", { tools: [weather] }))
      assert.strictEqual(error.reason, "InvalidOutput")
      assert.include(error.message, "get_weather")
      assert.include(error.message, "city")
    })
  )

  it.scoped("streamed parallel tool calls: deltas by index, then each call decoded once complete", () =>
    Effect.gen(function* () {
      const toolDelta = (index: number, fn: { name?: string; arguments?: string }, id?: string) => ({
        ...chunk(undefined),
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index, ...(id ? { id, type: "function" } : {}), function: fn }] },
            finish_reason: null
          }
        ]
      })
      const server = yield* serve((_, res) => {
        streamHead(res)
        openAIChunk(res, toolDelta(0, { name: "get_weather", arguments: "" }, "call_a"))
        openAIChunk(res, toolDelta(1, { name: "remind", arguments: "" }, "call_b"))
        openAIChunk(res, toolDelta(0, { arguments: '{"ci' }))
        openAIChunk(res, toolDelta(1, { arguments: '{"text":"tea","at":"2026-01-01T00:00:00.000Z"}' }))
        openAIChunk(res, toolDelta(0, { arguments: 'ty":"Paris"}' }))
        openAIChunk(res, chunk(undefined, "tool_calls"))
        res.end("data: [DONE]\n\n")
      })
      const llm = yield* llmAt(server.url)
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(llm.stream("go", { tools: [weather, remind] })))
      const deltas = parts.filter((p) => p.type === "tool-call-delta")
      assert.deepStrictEqual(
        deltas.map((d) => [d.index, d.inputDelta]),
        [
          [0, ""],
          [1, ""],
          [0, '{"ci'],
          [1, '{"text":"tea","at":"2026-01-01T00:00:00.000Z"}'],
          [0, 'ty":"Paris"}']
        ]
      )
      assert.deepStrictEqual(
        parts.filter((p) => p.type === "tool-call"),
        [
          { type: "tool-call", id: "call_a", name: "get_weather", input: { city: "Paris" } },
          { type: "tool-call", id: "call_b", name: "remind", input: { text: "tea", at: "2026-01-01T00:00:00.000Z" } }
        ]
      )
      assert.strictEqual(parts[parts.length - 1]!.type === "finish" && parts[parts.length - 1]!.type, "finish")
      const reminded = yield* Tool.run([weather, remind], {
        id: "call_b",
        name: "remind",
        input: { text: "tea", at: "2026-01-01T00:00:00.000Z" }
      })
      assert.strictEqual(reminded.content, '"tea at 2026-01-01T00:00:00.000Z"')
    })
  )

  it.scoped("structured sends response_format with a strict JSON Schema and no JSON instructions in the prompt", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res, index) =>
        json(res, 200, completion(index === 0 ? '{"city":"Paris","score":0.9}' : '{"value":["a","b"]}'))
      )
      const llm = yield* llmAt(server.url)
      const Answer = Schema.Struct({ city: Schema.String, score: Schema.Number })
      assert.deepStrictEqual(yield* llm.structured(Answer, "Capital of France?"), { city: "Paris", score: 0.9 })
      assert.deepStrictEqual(server.requests[0]!.body.response_format, {
        type: "json_schema",
        json_schema: {
          name: "structured_output",
          schema: {
            type: "object",
            required: ["city", "score"],
            properties: { city: { type: "string" }, score: { type: "number" } },
            additionalProperties: false
          },
          strict: true
        }
      })
      assert.deepStrictEqual(server.requests[0]!.body.messages, [{ role: "user", content: "Capital of France?" }])
      // A non-object schema is wrapped in { value } on the wire and unwrapped for the caller.
      assert.deepStrictEqual(yield* llm.structured(Schema.Array(Schema.String), "Two letters"), ["a", "b"])
      assert.deepStrictEqual(server.requests[1]!.body.response_format.json_schema.schema.required, ["value"])
    })
  )
})

describe("OpenAILLM strict mode", () => {
  it.scoped(
    "a tool whose parameters have an optional field is sent with strict: false (strict needs every field required)",
    () =>
      Effect.gen(function* () {
        const server = yield* serve((_, res) => json(res, 200, completion("ok")))
        const llm = yield* llmAt(server.url)
        const search = Tool.make("search", {
          description: "Searches",
          parameters: Schema.Struct({ query: Schema.String, limit: Schema.optional(Schema.Number) }),
          success: Schema.String,
          handler: ({ query }) => Effect.succeed(query)
        })
        yield* llm.complete("find", { tools: [search, weather], toolChoice: { name: "search" } })
        const body = server.requests[0]!.body
        assert.deepStrictEqual(
          body.tools.map((t: any) => [t.function.name, t.function.strict]),
          [
            ["search", false],
            ["get_weather", true]
          ]
        )
        assert.deepStrictEqual(body.tool_choice, { type: "function", function: { name: "search" } })
      })
  )
})
