import { assert, describe, it } from "@effect/vitest"
import { RunObserver } from "@eventflow/core"
import { AnthropicLLM, OpenAILLM, Tool } from "@eventflow/llm"
import { Chunk, Effect, Layer, Metric, MetricLabel, Stream } from "effect"
import { tokenUsage } from "../src/internal/genAi.js"
import { anthropicMessage, json, serve } from "./server.js"
import { weather } from "./tools.js"
import { recordSpans, spanNamed } from "./tracer.js"

const openAIReply = (text: string) => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-test-1-2026",
  choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 }
})

const openAIAt = (url: string) =>
  OpenAILLM.make({ model: "gpt-test-1", apiKey: "sk-openai-test", baseURL: `${url}/v1`, maxTokens: 128 })

const tokens = (model: string, type: "input" | "output") =>
  Metric.value(
    tokenUsage.pipe(
      Metric.taggedWithLabels([
        MetricLabel.make("gen_ai.operation.name", "chat"),
        MetricLabel.make("gen_ai.provider.name", "openai"),
        MetricLabel.make("gen_ai.request.model", model),
        MetricLabel.make("gen_ai.token.type", type)
      ])
    )
  )

describe("GenAI semantic conventions", () => {
  it.scoped(
    "a chat call is a span `chat <model>` with the gen_ai attributes and its usage, no content by default",
    () =>
      Effect.gen(function* () {
        const server = yield* serve((_, res) => json(res, 200, openAIReply("Bonjour")))
        const { layer, spans } = yield* recordSpans
        const llm = yield* openAIAt(server.url)
        yield* llm.complete("Say hello in French", { system: "Be brief", temperature: 0.2 }).pipe(Effect.provide(layer))
        const span = spanNamed(spans, "chat gpt-test-1")
        const expected: Record<string, unknown> = {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "openai",
          "gen_ai.system": "openai",
          "gen_ai.request.model": "gpt-test-1",
          "gen_ai.request.max_tokens": 128,
          "gen_ai.request.temperature": 0.2,
          "gen_ai.response.model": "gpt-test-1-2026",
          "gen_ai.usage.input_tokens": 9,
          "gen_ai.usage.output_tokens": 2
        }
        for (const [key, value] of Object.entries(expected)) assert.strictEqual(span.attributes.get(key), value, key)
        assert.deepStrictEqual(span.attributes.get("gen_ai.response.finish_reasons"), ["end"])
        for (const key of ["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"]) {
          assert.isFalse(span.attributes.has(key), `${key} recorded without CaptureContent`)
        }
      })
  )

  it.scoped("with CaptureContent the prompt, the system instructions and the answer are recorded", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, anthropicMessage("Bonjour")))
      const { layer, spans } = yield* recordSpans
      const llm = yield* AnthropicLLM.make({ model: "claude-test-1", apiKey: "k", baseURL: server.url, maxTokens: 64 })
      yield* llm
        .complete("Say hello in French", { system: "Be brief" })
        .pipe(Effect.provide(Layer.merge(layer, Layer.succeed(RunObserver.CaptureContent, true))))
      const span = spanNamed(spans, "chat claude-test-1")
      assert.strictEqual(span.attributes.get("gen_ai.provider.name"), "anthropic")
      assert.strictEqual(span.attributes.get("gen_ai.system_instructions"), "Be brief")
      assert.deepStrictEqual(JSON.parse(span.attributes.get("gen_ai.input.messages") as string), [
        { role: "user", content: "Say hello in French" }
      ])
      assert.deepStrictEqual(JSON.parse(span.attributes.get("gen_ai.output.messages") as string), [
        { role: "assistant", text: "Bonjour", toolCalls: [] }
      ])
    })
  )

  it.scoped("a streamed call records its usage and finish reason on the same `chat <model>` span", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        const chunk = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`)
        const base = { id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-test-1" }
        chunk({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] })
        chunk({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })
        chunk({ ...base, choices: [], usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 } })
        res.end("data: [DONE]\n\n")
      })
      const { layer, spans } = yield* recordSpans
      const llm = yield* openAIAt(server.url)
      yield* Stream.runCollect(llm.stream("hi")).pipe(Effect.map(Chunk.size), Effect.provide(layer))
      const span = spanNamed(spans, "chat gpt-test-1")
      assert.strictEqual(span.attributes.get("eventflow.llm.call"), "stream")
      assert.strictEqual(span.attributes.get("gen_ai.usage.input_tokens"), 4)
      assert.strictEqual(span.attributes.get("gen_ai.usage.output_tokens"), 1)
      assert.deepStrictEqual(span.attributes.get("gen_ai.response.finish_reasons"), ["end"])
    })
  )

  it.scoped("tokens are counted in gen_ai.client.token.usage by type", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, openAIReply("ok")))
      const llm = yield* OpenAILLM.make({
        model: "gpt-metric-1",
        apiKey: "sk-openai-test",
        baseURL: `${server.url}/v1`,
        maxTokens: 16
      })
      yield* llm.complete("a")
      yield* llm.complete("b")
      const input = yield* tokens("gpt-metric-1", "input")
      const output = yield* tokens("gpt-metric-1", "output")
      assert.strictEqual(input.count, 2)
      assert.strictEqual(input.sum, 18)
      assert.strictEqual(output.count, 2)
      assert.strictEqual(output.sum, 4)
    })
  )

  it.effect("a tool call runs in a span `execute_tool <name>`; arguments and result only with CaptureContent", () =>
    Effect.gen(function* () {
      const { layer, spans } = yield* recordSpans
      const call = { id: "call_1", name: "get_weather", input: { city: "Paris" } }
      yield* Tool.run([weather], call).pipe(Effect.provide(layer))
      const span = spanNamed(spans, "execute_tool get_weather")
      assert.strictEqual(span.attributes.get("gen_ai.operation.name"), "execute_tool")
      assert.strictEqual(span.attributes.get("gen_ai.tool.name"), "get_weather")
      assert.strictEqual(span.attributes.get("gen_ai.tool.call.id"), "call_1")
      assert.isFalse(span.attributes.has("gen_ai.tool.call.arguments"))
      spans.length = 0
      yield* Tool.run([weather], { ...call, input: { city: "Atlantis" } }).pipe(
        Effect.provide(Layer.merge(layer, Layer.succeed(RunObserver.CaptureContent, true)))
      )
      const failed = spanNamed(spans, "execute_tool get_weather")
      assert.strictEqual(failed.attributes.get("error.type"), "tool_error")
      assert.strictEqual(failed.attributes.get("gen_ai.tool.call.arguments"), '{"city":"Atlantis"}')
      assert.include(failed.attributes.get("gen_ai.tool.call.result") as string, "UnknownCity")
    })
  )
})
