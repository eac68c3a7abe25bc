import { assert, describe, it } from "@effect/vitest"
import { AnthropicLLM, LLM, type LLMError } from "@eventflow/llm"
import { Chunk, ConfigProvider, Deferred, Duration, Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"
import {
  anthropicDelta as textDelta,
  anthropicHead as streamHead,
  anthropicMessage as message,
  anthropicTail as streamTail,
  closedPort,
  json,
  type Recorded,
  serve
} from "./server.js"

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
        model: "claude-test-1"
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
      assert.deepStrictEqual(Chunk.toReadonlyArray(deltas), [{ text: "Hel" }, { text: "lo" }, { text: " world" }])
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
      const fiber = yield* llm.stream("Tell me a long story").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      const first = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Chunk.toReadonlyArray(first), [{ text: "first" }])
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

  it.scoped("structured asks for JSON in the system prompt and decodes the reply", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, message('```json\n{"city":"Paris","score":0.9}\n```')))
      const llm = yield* llmAt(server.url)
      const Answer = Schema.Struct({ city: Schema.String, score: Schema.Number })
      const answer = yield* llm.structured(Answer, "Capital of France?", { system: "You are a geographer." })
      assert.deepStrictEqual(answer, { city: "Paris", score: 0.9 })
      const system: string = server.requests[0]!.body.system
      assert.isTrue(system.startsWith("You are a geographer."))
      assert.include(system, "JSON Schema")
      assert.include(system, '"city"')
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
