import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import OpenAI from "openai"
import type { Completion, Request, Service, StopReason } from "../LLM.js"
import { LLMError } from "../LLMError.js"
import type { Options } from "../OpenAILLM.js"
import { fromSdkError } from "./errors.js"
import * as Llm from "./llm.js"

const provider = "openai"
const mapError = fromSdkError(provider, OpenAI)

const stopReasonOf = (reason: string | null | undefined): StopReason => {
  switch (reason) {
    case "stop":
      return "end"
    case "length":
      return "max_tokens"
    case "tool_calls":
    case "function_call":
      return "tool_use"
    case "content_filter":
      return "content_filter"
    default:
      return "other"
  }
}

const paramsOf = (
  model: string,
  maxTokens: number | undefined,
  request: Request
): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming => {
  const max = request.maxTokens ?? maxTokens
  const messages: Array<OpenAI.Chat.ChatCompletionMessageParam> = request.messages.map((m) =>
    m.role === "user" ? { role: "user", content: m.content } : { role: "assistant", content: m.content }
  )
  return {
    model,
    messages: request.system === undefined ? messages : [{ role: "system", content: request.system }, ...messages],
    ...(max === undefined ? {} : { max_completion_tokens: max }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.stopSequences === undefined ? {} : { stop: [...request.stopSequences] })
  }
}

export const fromClient = (client: OpenAI, model: string, maxTokens?: number | undefined): Service =>
  Llm.make({
    provider,
    model,
    complete: (request) =>
      Effect.tryPromise({
        try: (signal) => client.chat.completions.create(paramsOf(model, maxTokens, request), { signal }),
        catch: mapError
      }).pipe(
        Effect.flatMap((completion) => {
          const choice = completion.choices[0]
          if (choice === undefined) {
            return Effect.fail(
              new LLMError({ reason: "InvalidOutput", provider, detail: "the response has no choices" })
            )
          }
          return Effect.succeed<Completion>({
            text: choice.message.content ?? "",
            stopReason: stopReasonOf(choice.finish_reason),
            usage: {
              inputTokens: completion.usage?.prompt_tokens ?? 0,
              outputTokens: completion.usage?.completion_tokens ?? 0
            },
            model: completion.model
          })
        })
      ),
    stream: (request) =>
      Llm.deltaStream({
        provider,
        open: (signal) =>
          client.chat.completions.create({ ...paramsOf(model, maxTokens, request), stream: true }, { signal }),
        mapError,
        read: (chunk) => {
          const choice = chunk.choices[0]
          return { text: choice?.delta.content ?? undefined, final: Boolean(choice?.finish_reason) }
        },
        finalEvent: "a finish_reason"
      })
  })

export const make = (options: Options): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const apiKey =
      options.apiKey === undefined
        ? yield* Config.redacted("OPENAI_API_KEY")
        : Redacted.isRedacted(options.apiKey)
          ? options.apiKey
          : Redacted.make(options.apiKey)
    const client = new OpenAI({
      apiKey: Redacted.value(apiKey),
      maxRetries: 0,
      ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
      ...(options.timeout === undefined ? {} : { timeout: Duration.toMillis(Duration.decode(options.timeout)) })
    })
    return fromClient(client, options.model, options.maxTokens)
  })
