import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { LLM, OpenAILLM } from "@eventflow/llm"
import { Telemetry } from "@eventflow/telemetry"
import { Effect, Layer, Schema } from "effect"
import { json, serve } from "../../llm/test/server.js"
import { makeTelemetry, one, parentId, points } from "./utils.js"

const reply = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-tel-1",
  choices: [{ index: 0, message: { role: "assistant", content: "Bonjour" }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 }
}

const greet = defineWorkflow({ name: "tel-llm", output: Schema.String }).step(
  StartEvent,
  () => Effect.map(LLM.complete("Say hello in French"), (c) => StopEvent.make({ result: c.text })),
  { name: "ask", emits: [StopEvent] }
)

describe("Telemetry of LLM calls", () => {
  it.scoped("an LLM call in a step is a `chat <model>` span under the step span, with usage; tokens are exported", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, reply))
      const t = makeTelemetry()
      const llm = Layer.effect(
        LLM.LLM,
        OpenAILLM.make({ model: "gpt-tel-1", apiKey: "sk-test", baseURL: `${server.url}/v1`, maxTokens: 32 })
      )
      yield* Effect.gen(function* () {
        assert.strictEqual(yield* Workflow.run(greet, undefined, { runId: "llm-1" }), "Bonjour")
        const spans = t.spans()
        const chat = one(spans, "chat gpt-tel-1")
        const step = one(spans, "step ask")
        assert.strictEqual(parentId(chat), step.spanContext().spanId)
        assert.strictEqual(chat.spanContext().traceId, Telemetry.traceIdsOf("llm-1").traceId)
        assert.strictEqual(chat.attributes["gen_ai.provider.name"], "openai")
        assert.strictEqual(chat.attributes["gen_ai.request.model"], "gpt-tel-1")
        assert.strictEqual(chat.attributes["gen_ai.usage.input_tokens"], 12)
        assert.strictEqual(chat.attributes["gen_ai.usage.output_tokens"], 3)
        // An array attribute, as the conventions define it (not a string).
        assert.deepStrictEqual(chat.attributes["gen_ai.response.finish_reasons"], ["end"])
        assert.isUndefined(chat.attributes["gen_ai.input.messages"])
        const usage = (yield* points(t.reader, "gen_ai.client.token.usage")).filter(
          (p) => p.attributes["gen_ai.request.model"] === "gpt-tel-1"
        )
        const sums = Object.fromEntries(
          usage.map((p) => [p.attributes["gen_ai.token.type"], (p.value as { sum: number }).sum])
        )
        assert.deepStrictEqual(sums, { input: 12, output: 3 })
      }).pipe(Effect.provide(Layer.merge(t.layer, llm)))
    })
  )

  it.scoped("captureContent: true records the prompt and the answer", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 200, reply))
      const t = makeTelemetry({ captureContent: true })
      const llm = Layer.effect(
        LLM.LLM,
        OpenAILLM.make({ model: "gpt-tel-1", apiKey: "sk-test", baseURL: `${server.url}/v1`, maxTokens: 32 })
      )
      yield* Workflow.run(greet).pipe(Effect.provide(Layer.merge(t.layer, llm)))
      const chat = one(t.spans(), "chat gpt-tel-1")
      assert.include(chat.attributes["gen_ai.input.messages"] as string, "Say hello in French")
      assert.include(chat.attributes["gen_ai.output.messages"] as string, "Bonjour")
    })
  )
})
