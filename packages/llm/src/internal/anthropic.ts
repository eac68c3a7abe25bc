import Anthropic from "@anthropic-ai/sdk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { Options } from "../AnthropicLLM.js"
import type { Completion, Request, Service, StopReason } from "../LLM.js"
import { fromSdkError } from "./errors.js"
import * as Llm from "./llm.js"

const provider = "anthropic"
const mapError = fromSdkError(provider, Anthropic)

export const defaultMaxTokens = 1024

const stopReasonOf = (reason: string | null | undefined): StopReason => {
  switch (reason) {
    case "end_turn":
      return "end"
    case "max_tokens":
      return "max_tokens"
    case "stop_sequence":
      return "stop_sequence"
    case "tool_use":
      return "tool_use"
    case "refusal":
      return "content_filter"
    default:
      return "other"
  }
}

const paramsOf = (model: string, maxTokens: number, request: Request): Anthropic.MessageCreateParamsNonStreaming => ({
  model,
  max_tokens: request.maxTokens ?? maxTokens,
  messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
  ...(request.system === undefined ? {} : { system: request.system }),
  ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
  ...(request.stopSequences === undefined ? {} : { stop_sequences: [...request.stopSequences] })
})

export const fromClient = (client: Anthropic, model: string, maxTokens: number = defaultMaxTokens): Service =>
  Llm.make({
    provider,
    model,
    complete: (request) =>
      Effect.tryPromise({
        try: (signal) => client.messages.create({ ...paramsOf(model, maxTokens, request), stream: false }, { signal }),
        catch: mapError
      }).pipe(
        Effect.map(
          (message): Completion => ({
            text: message.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join(""),
            stopReason: stopReasonOf(message.stop_reason),
            usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
            model: message.model
          })
        )
      ),
    stream: (request) =>
      Llm.deltaStream({
        provider,
        open: (signal) => client.messages.create({ ...paramsOf(model, maxTokens, request), stream: true }, { signal }),
        mapError,
        read: (event) => ({
          text:
            event.type === "content_block_delta" && event.delta.type === "text_delta" ? event.delta.text : undefined,
          final: event.type === "message_stop"
        }),
        finalEvent: "message_stop"
      })
  })

export const make = (options: Options): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const apiKey =
      options.apiKey === undefined
        ? yield* Config.redacted("ANTHROPIC_API_KEY")
        : Redacted.isRedacted(options.apiKey)
          ? options.apiKey
          : Redacted.make(options.apiKey)
    const client = new Anthropic({
      apiKey: Redacted.value(apiKey),
      maxRetries: 0,
      ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
      ...(options.timeout === undefined ? {} : { timeout: Duration.toMillis(Duration.decode(options.timeout)) })
    })
    return fromClient(client, options.model, options.maxTokens)
  })
