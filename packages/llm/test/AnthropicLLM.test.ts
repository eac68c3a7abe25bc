import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { AnthropicLLM, LLM, type LLMError, Tool } from "@eventflow/llm"
import {
  Chunk,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Schema,
  Stream,
  TestClock
} from "effect"
import {
  anthropicEvent,
  sseHead,
  anthropicDelta as textDelta,
  anthropicHead as streamHead,
  anthropicMessage as message,
  anthropicTail as streamTail,
  closedPort,
  json,
  type Recorded,
  serve
} from "./server.js"
import { remind, weather } from "./tools.js"
import { recordSpans, spanNamed } from "./tracer.js"

const errorBody = (type: string, msg: string) => ({ type: "error", error: { type, message: msg } })

const llmAt = (url: string, options: Partial<AnthropicLLM.Options> = {}) =>
  AnthropicLLM.make({ model: "claude-test-1", apiKey: "sk-ant-test", baseURL: url, maxTokens: 256, ...options })

const failureOf = <A>(effect: Effect.Effect<A, LLMError.LLMError>) =>
  Effect.flip(effect).pipe(Effect.map((error) => error))

const errorFor = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const server = yield* serve((_, res) => json(res, status, body, headers))
    const llm = yield* llmAt(server.url)
    const error = yield* failureOf(llm.complete("hi"))
    return { error, server }
  })

describe("AnthropicLLM", () => {
  it.scoped("complete sends a Messages API request and maps the reply", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, message("Hello there")))
      const llm = yield* llmAt(server.url)
      const completion = yield* llm.complete(
        [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
          { role: "user", content: "How are you?" }
        ],
        { system: "Be brief.", temperature: 0.2 }
      )
      assert.deepStrictEqual(completion, {
        text: "Hello there",
        stopReason: "end",
        usage: { inputTokens: 12, outputTokens: 3 },
        model: "claude-test-1",
        toolCalls: []
      })
      assert.strictEqual(server.requests.length, 1)
      const request: Recorded = server.requests[0]!
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url.split("?")[0], "/v1/messages")
      // This SDK version sends the key as a bearer token (older ones used x-api-key).
      assert.include(`${request.headers["x-api-key"] ?? ""} ${request.headers.authorization ?? ""}`, "sk-ant-test")
      assert.isString(request.headers["anthropic-version"])
      assert.strictEqual(request.body.model, "claude-test-1")
      assert.strictEqual(request.body.max_tokens, 256)
      assert.strictEqual(request.body.system, "Be brief.")
      assert.strictEqual(request.body.temperature, 0.2)
      assert.deepStrictEqual(request.body.messages, [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
        { role: "user", content: "How are you?" }
      ])
      assert.notStrictEqual(request.body.stream, true)
    })
  )

  it.scoped("a call's maxTokens overrides the layer's and a string prompt is one user message", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, message("ok")))
      const llm = yield* llmAt(server.url)
      yield* llm.complete("Just this", { maxTokens: 9 })
      assert.strictEqual(server.requests[0]!.body.max_tokens, 9)
      assert.deepStrictEqual(server.requests[0]!.body.messages, [{ role: "user", content: "Just this" }])
    })
  )

  it.scoped("stream reads the SSE events and emits the text deltas", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        res.write('event: ping\ndata: {"type": "ping"}\n\n')
        textDelta(res, "Hel")
        textDelta(res, "lo")
        textDelta(res, " world")
        streamTail(res)
      })
      const llm = yield* llmAt(server.url)
      const deltas = yield* Stream.runCollect(llm.stream("Say hello"))
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(deltas).filter((p) => p.type === "text"),
        [
          { type: "text", text: "Hel" },
          { type: "text", text: "lo" },
          { type: "text", text: " world" }
        ]
      )
      assert.strictEqual(server.requests[0]!.body.stream, true)
      assert.strictEqual(server.requests[0]!.body.max_tokens, 256)
    })
  )

  it.scoped("a stream cut in the middle fails with Network after the deltas already received", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        textDelta(res, "Hel")
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
      assert.strictEqual(error.provider, "anthropic")
    })
  )

  it.scoped("a stream that ends without message_stop fails with Network", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        textDelta(res, "Hel")
        res.end()
      })
      const llm = yield* llmAt(server.url)
      const error = yield* Stream.runDrain(llm.stream("Say hello")).pipe(Effect.flip)
      assert.strictEqual(error.reason, "Network")
      assert.include(error.message, "message_stop")
    })
  )

  it.scoped("an error event inside the stream is mapped by its type", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        res.write(`event: error\ndata: ${JSON.stringify(errorBody("overloaded_error", "Overloaded"))}\n\n`)
        res.end()
      })
      const llm = yield* llmAt(server.url)
      const error = yield* Stream.runDrain(llm.stream("Say hello")).pipe(Effect.flip)
      assert.strictEqual(error.reason, "Overloaded")
    })
  )

  it.scoped("interrupting a stream aborts the HTTP request (the server sees the connection close)", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        textDelta(res, "first")
        // never ends
      })
      const llm = yield* llmAt(server.url)
      const fiber = yield* llm
        .stream("Tell me a long story")
        .pipe(Stream.filter(LLM.isTextDelta), Stream.take(1), Stream.runCollect, Effect.fork)
      const first = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Chunk.toReadonlyArray(first), [{ type: "text", text: "first" }])
      yield* Effect.promise(() => server.clientClosed)
    })
  )

  it.scoped("interrupting a fiber blocked in a stream aborts the HTTP request", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        textDelta(res, "first")
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

  it.scoped("interrupting complete aborts the HTTP request", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => {
        // never answers
      })
      const llm = yield* llmAt(server.url)
      const fiber = yield* Effect.fork(llm.complete("hi"))
      yield* Effect.promise(() => server.firstRequest)
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.clientClosed)
    })
  )

  it.scoped("429 is RateLimited with the retry-after header", () =>
    Effect.gen(function* () {
      const { error, server } = yield* errorFor(429, errorBody("rate_limit_error", "Number of requests exceeded"), {
        "retry-after": "7"
      })
      assert.strictEqual(error.reason, "RateLimited")
      assert.strictEqual(error.status, 429)
      assert.deepStrictEqual(error.retryAfter, Duration.seconds(7))
      assert.include(error.message, "Number of requests exceeded")
      assert.strictEqual(server.requests.length, 1, "the SDK's own retries are disabled")
    })
  )

  it.scoped("529 is Overloaded (and not retried by the SDK)", () =>
    Effect.gen(function* () {
      const { error, server } = yield* errorFor(529, errorBody("overloaded_error", "Overloaded"))
      assert.strictEqual(error.reason, "Overloaded")
      assert.strictEqual(error.status, 529)
      assert.strictEqual(server.requests.length, 1)
    })
  )

  for (const [status, reason] of [
    [503, "Overloaded"],
    [500, "Overloaded"],
    [401, "Authentication"],
    [403, "Authentication"],
    [400, "InvalidRequest"],
    [404, "InvalidRequest"],
    [422, "InvalidRequest"]
  ] as const) {
    it.scoped(`HTTP ${status} is ${reason}`, () =>
      Effect.gen(function* () {
        const { error } = yield* errorFor(status, errorBody("some_error", `status ${status} happened`))
        assert.strictEqual(error.reason, reason)
        assert.strictEqual(error.status, status)
        assert.strictEqual(error.provider, "anthropic")
        assert.include(error.message, `status ${status} happened`)
      })
    )
  }

  it.scoped("a malformed JSON body is a Network error that says the response is not JSON", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end('{"id": "msg_1", "content": [')
      })
      const llm = yield* llmAt(server.url)
      const error = yield* failureOf(llm.complete("hi"))
      assert.strictEqual(error.reason, "Network")
      assert.include(error.message, "not valid JSON")
    })
  )

  it.effect("a refused connection is Network", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const llm = yield* llmAt(`http://127.0.0.1:${port}`)
      const error = yield* failureOf(llm.complete("hi"))
      assert.strictEqual(error.reason, "Network")
    })
  )

  it.scopedLive("a request that outlives the SDK timeout is Timeout", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => {
        // never answers
      })
      const llm = yield* llmAt(server.url, { timeout: "100 millis" })
      const error = yield* failureOf(llm.complete("hi"))
      assert.strictEqual(error.reason, "Timeout")
    })
  )

  it.scoped("retrySchedule retries a 429 (retry-after: 0) and then succeeds", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res, index) =>
        index === 0
          ? json(res, 429, errorBody("rate_limit_error", "slow down"), { "retry-after": "0" })
          : json(res, 200, message("finally"))
      )
      const llm = yield* llmAt(server.url)
      const completion = yield* llm.complete("hi").pipe(Effect.retry(LLM.retrySchedule()))
      assert.strictEqual(completion.text, "finally")
      assert.strictEqual(server.requests.length, 2)
    })
  )

  it.scoped("retrySchedule does not retry a 401", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 401, errorBody("authentication_error", "invalid x-api-key")))
      const llm = yield* llmAt(server.url)
      const error = yield* failureOf(llm.complete("hi").pipe(Effect.retry(LLM.retrySchedule())))
      assert.strictEqual(error.reason, "Authentication")
      assert.strictEqual(server.requests.length, 1)
    })
  )

  it.scoped("structured forces a tool call whose input schema is the JSON Schema, and decodes its input", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) =>
        json(res, 200, {
          ...message(""),
          content: [
            { type: "tool_use", id: "toolu_1", name: "structured_output", input: { city: "Paris", score: 0.9 } }
          ],
          stop_reason: "tool_use"
        })
      )
      const llm = yield* llmAt(server.url)
      const Answer = Schema.Struct({ city: Schema.String, score: Schema.Number })
      const answer = yield* llm.structured(Answer, "Capital of France?", { system: "You are a geographer." })
      assert.deepStrictEqual(answer, { city: "Paris", score: 0.9 })
      const body = server.requests[0]!.body
      assert.strictEqual(body.system, "You are a geographer.", "no JSON instructions in the prompt")
      assert.deepStrictEqual(body.tool_choice, { type: "tool", name: "structured_output" })
      assert.strictEqual(body.tools[0].name, "structured_output")
      assert.deepStrictEqual(body.tools[0].input_schema.required, ["city", "score"])
      assert.strictEqual(body.tools[0].input_schema.properties.city.type, "string")
    })
  )

  it.effect("layer reads ANTHROPIC_API_KEY from the config when no apiKey is given", () =>
    Effect.gen(function* () {
      const exit = yield* LLM.LLM.pipe(
        Effect.provide(AnthropicLLM.layer({ model: "m" })),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const llm = yield* LLM.LLM.pipe(
        Effect.provide(AnthropicLLM.layer({ model: "m" }).pipe(Layer.fresh)),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ANTHROPIC_API_KEY", "k"]])))
      )
      assert.strictEqual(llm.provider, "anthropic")
      assert.strictEqual(llm.model, "m")
    })
  )
})

describe("AnthropicLLM (issue 17)", () => {
  it.scoped("stop_reason refusal is stopReason refusal with the text, and structured fails with Refused", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) =>
        json(res, 200, { ...message("I won't do that."), stop_reason: "refusal" })
      )
      const llm = yield* llmAt(server.url)
      const result = yield* llm.complete("bad")
      assert.strictEqual(result.stopReason, "refusal")
      assert.strictEqual(result.refusal, "I won't do that.")
      const error = yield* Effect.flip(llm.structured(Schema.Struct({ a: Schema.String }), "bad"))
      assert.strictEqual(error.reason, "Refused")
      assert.include(error.message, "I won't do that.")
    })
  )

  it.scoped("tools: sent with input_schema, parallel tool_use blocks decoded, results sent back as tool_result", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res, index) =>
        json(
          res,
          200,
          index === 0
            ? {
                ...message(""),
                content: [
                  { type: "text", text: "Checking." },
                  { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
                  { type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "Oslo" } }
                ],
                stop_reason: "tool_use"
              }
            : message("21 in Paris.")
        )
      )
      const llm = yield* llmAt(server.url)
      const first = yield* llm.complete("Weather?", { tools: [weather], toolChoice: "required" })
      assert.strictEqual(first.text, "Checking.")
      assert.strictEqual(first.stopReason, "tool_use")
      assert.deepStrictEqual(first.toolCalls, [
        { id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
        { id: "toolu_2", name: "get_weather", input: { city: "Oslo" } }
      ])
      const body = server.requests[0]!.body
      assert.deepStrictEqual(body.tools, [
        {
          name: "get_weather",
          description: "The current temperature of a city, in degrees Celsius",
          input_schema: {
            type: "object",
            required: ["city"],
            properties: { city: { type: "string" } },
            additionalProperties: false
          }
        }
      ])
      assert.deepStrictEqual(body.tool_choice, { type: "any" })
      const results = yield* Effect.forEach(first.toolCalls, (call) => Tool.run([weather], call))
      yield* llm.complete(
        [
          { role: "user", content: "Weather?" },
          { role: "assistant", content: first.text, toolCalls: first.toolCalls },
          { role: "tool", results }
        ],
        { tools: [weather] }
      )
      assert.deepStrictEqual(server.requests[1]!.body.messages, [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Checking." },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
            { type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "Oslo" } }
          ]
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: '{"celsius":21}' },
            {
              type: "tool_result",
              tool_use_id: "toolu_2",
              content: '{"error":{"_tag":"UnknownCity","city":"Oslo"}}',
              is_error: true
            }
          ]
        }
      ])
    })
  )

  it.scoped("streamed tool_use blocks: input_json_delta pieces per block, then each call; usage on the span", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        sseHead(res)
        anthropicEvent(res, {
          type: "message_start",
          message: { ...message(""), content: [], stop_reason: null, usage: { input_tokens: 30, output_tokens: 1 } }
        } as any)
        for (const [index, id, name] of [
          [0, "toolu_a", "get_weather"],
          [1, "toolu_b", "remind"]
        ] as const) {
          anthropicEvent(res, {
            type: "content_block_start",
            index,
            content_block: { type: "tool_use", id, name, input: {} }
          } as any)
        }
        const jsonDelta = (index: number, partial_json: string) =>
          anthropicEvent(res, {
            type: "content_block_delta",
            index,
            delta: { type: "input_json_delta", partial_json }
          } as any)
        jsonDelta(0, '{"city":')
        jsonDelta(1, '{"text":"tea","at":"2026-01-01T00:00:00.000Z"}')
        jsonDelta(0, '"Paris"}')
        anthropicEvent(res, { type: "content_block_stop", index: 0 } as any)
        anthropicEvent(res, { type: "content_block_stop", index: 1 } as any)
        anthropicEvent(res, {
          type: "message_delta",
          delta: { stop_reason: "tool_use", stop_sequence: null },
          usage: { output_tokens: 17 }
        } as any)
        anthropicEvent(res, { type: "message_stop" })
        res.end()
      })
      const { layer, spans } = yield* recordSpans
      const llm = yield* llmAt(server.url)
      const parts = Chunk.toReadonlyArray(
        yield* Stream.runCollect(llm.stream("go", { tools: [weather, remind] })).pipe(Effect.provide(layer))
      )
      assert.deepStrictEqual(
        parts.flatMap((p) => (p.type === "tool-call-delta" ? [[p.index, p.id, p.inputDelta]] : [])),
        [
          [0, "toolu_a", ""],
          [1, "toolu_b", ""],
          [0, undefined, '{"city":'],
          [1, undefined, '{"text":"tea","at":"2026-01-01T00:00:00.000Z"}'],
          [0, undefined, '"Paris"}']
        ]
      )
      assert.deepStrictEqual(
        parts.filter((p) => p.type === "tool-call"),
        [
          { type: "tool-call", id: "toolu_a", name: "get_weather", input: { city: "Paris" } },
          { type: "tool-call", id: "toolu_b", name: "remind", input: { text: "tea", at: "2026-01-01T00:00:00.000Z" } }
        ]
      )
      assert.deepStrictEqual(parts[parts.length - 1], {
        type: "finish",
        stopReason: "tool_use",
        usage: { inputTokens: 30, outputTokens: 17 }
      })
      const span = spanNamed(spans, "chat claude-test-1")
      assert.strictEqual(span.attributes.get("gen_ai.usage.input_tokens"), 30)
      assert.strictEqual(span.attributes.get("gen_ai.usage.output_tokens"), 17)
      assert.strictEqual(span.attributes.get("gen_ai.request.max_tokens"), 256)
    })
  )

  it.scoped("the default max_tokens sent is the one recorded on the span (not -1)", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, message("ok")))
      const { layer, spans } = yield* recordSpans
      const llm = yield* llmAt(server.url)
      yield* llm.complete("hi").pipe(Effect.provide(layer))
      assert.strictEqual(server.requests[0]!.body.max_tokens, 256)
      assert.strictEqual(spanNamed(spans, "chat claude-test-1").attributes.get("gen_ai.request.max_tokens"), 256)
    })
  )

  it.scoped("a stream that stalls after its first delta fails with Timeout after the idle timeout (TestClock)", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        streamHead(res)
        textDelta(res, "Hel")
      })
      const llm = yield* llmAt(server.url, { idleTimeout: "45 seconds" })
      const first = yield* Deferred.make<void>()
      const fiber = yield* llm.stream("hi").pipe(
        Stream.runForEach((p) => (p.type === "text" ? Deferred.succeed(first, undefined) : Effect.void)),
        Effect.flip,
        Effect.fork
      )
      yield* Deferred.await(first)
      yield* TestClock.adjust("44 seconds")
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.provider, "anthropic")
      yield* Effect.promise(() => server.clientClosed)
    })
  )

  it("the default models are not on the pinned Anthropic SDK's deprecation list, nor any model named in src or examples", async () => {
    const sdkDir = dirname(createRequire(import.meta.url).resolve("@anthropic-ai/sdk"))
    const { DEPRECATED_MODELS } = (await import(
      pathToFileURL(join(sdkDir, "internal/data/deprecated-models.js")).href
    )) as { DEPRECATED_MODELS: Record<string, string> }
    assert.isAbove(Object.keys(DEPRECATED_MODELS).length, 0, "the SDK's list was found")
    assert.notProperty(DEPRECATED_MODELS, LLM.defaultAnthropicModel)
    const root = fileURLToPath(new URL("../../..", import.meta.url))
    const files = [
      ...readdirSync(join(root, "packages/llm/src")).map((f) => join(root, "packages/llm/src", f)),
      ...readdirSync(join(root, "examples")).map((f) => join(root, "examples", f)),
      join(root, "README.md")
    ].filter((f) => /\.(ts|md)$/.test(f))
    const named = files.flatMap((f) => [...readFileSync(f, "utf8").matchAll(/claude-[a-z0-9.-]+/g)].map((m) => m[0]))
    assert.include(named, LLM.defaultAnthropicModel)
    for (const model of named) assert.notProperty(DEPRECATED_MODELS, model, `${model} is deprecated`)
  })
})
