import Anthropic from "@anthropic-ai/sdk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { Options } from "../AnthropicLLM.js"
import type { Completion, Message, Request, Service, StopReason, StreamPart, ToolChoice } from "../LLM.js"
import { LLMError } from "../LLMError.js"
import * as Tool from "../Tool.js"
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
    case "model_context_window_exceeded":
      return "max_tokens"
    case "stop_sequence":
      return "stop_sequence"
    case "tool_use":
      return "tool_use"
    case "refusal":
      return "refusal"
    default:
      return "other"
  }
}

/** The tool `structured` forces the model to call: its input is the answer. */
export const structuredToolName = "structured_output"

const messagesOf = (messages: ReadonlyArray<Message>): Array<Anthropic.MessageParam> =>
  messages.map((m): Anthropic.MessageParam => {
    switch (m.role) {
      case "user":
        return { role: "user", content: m.content }
      case "assistant":
        return m.toolCalls === undefined || m.toolCalls.length === 0
          ? { role: "assistant", content: m.content }
          : {
              role: "assistant",
              content: [
                ...(m.content === "" ? [] : [{ type: "text" as const, text: m.content }]),
                ...m.toolCalls.map((call) => ({
                  type: "tool_use" as const,
                  id: call.id,
                  name: call.name,
                  input: call.input
                }))
              ]
            }
      default:
        return {
          role: "user",
          content: m.results.map((r) => ({
            type: "tool_result" as const,
            tool_use_id: r.id,
            content: r.content,
            ...(r.isError ? { is_error: true } : {})
          }))
        }
    }
  })

const toolChoiceOf = (choice: ToolChoice): Anthropic.ToolChoice =>
  choice === "auto"
    ? { type: "auto" }
    : choice === "required"
      ? { type: "any" }
      : choice === "none"
        ? { type: "none" }
        : { type: "tool", name: choice.name }

const paramsOf = (model: string, maxTokens: number, request: Request): Anthropic.MessageCreateParamsNonStreaming => {
  const tools: Array<Anthropic.Tool> = request.tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    input_schema: Tool.parametersJsonSchema(tool)
  }))
  const json = request.json?.native ? Tool.objectJsonSchema(request.json.schema) : undefined
  if (json !== undefined) {
    tools.push({
      name: structuredToolName,
      description: "Give the answer by calling this tool: its input is the answer.",
      input_schema: json.jsonSchema
    })
  }
  return {
    model,
    max_tokens: request.maxTokens ?? maxTokens,
    messages: messagesOf(request.messages),
    ...(request.system === undefined ? {} : { system: request.system }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.stopSequences === undefined ? {} : { stop_sequences: [...request.stopSequences] }),
    ...(tools.length === 0 ? {} : { tools }),
    ...(json !== undefined
      ? { tool_choice: { type: "tool", name: structuredToolName } }
      : request.toolChoice === undefined || request.tools.length === 0
        ? {}
        : { tool_choice: toolChoiceOf(request.toolChoice) })
  }
}

/** The answer of a forced `structured_output` call, as JSON text (unwrapped when the schema was wrapped). */
const structuredText = (request: Request, input: unknown): string => {
  const wrapped = request.json !== undefined && Tool.objectJsonSchema(request.json.schema).wrapped
  return JSON.stringify(wrapped ? (input as { value?: unknown } | null)?.value : input)
}

const completionOf = (request: Request, message: Anthropic.Message): Completion => {
  const text = message.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("")
  const toolUses = message.content.flatMap((block) => (block.type === "tool_use" ? [block] : []))
  const structured = request.json?.native ? toolUses.find((block) => block.name === structuredToolName) : undefined
  const stopReason = stopReasonOf(message.stop_reason)
  return {
    text: structured === undefined ? text : structuredText(request, structured.input),
    stopReason: structured === undefined ? stopReason : stopReason === "tool_use" ? "end" : stopReason,
    usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
    model: message.model,
    toolCalls: toolUses
      .filter((block) => block !== structured)
      .map((block) => ({ id: block.id, name: block.name, input: block.input })),
    ...(stopReason === "refusal" ? { refusal: text } : {})
  }
}

/** Reads one Anthropic stream: text deltas, tool-call deltas and calls, the finish part. */
const reader = () => {
  const calls = new Map<number, { id: string; name: string; json: string }>()
  let inputTokens = 0
  let outputTokens = 0
  let stopReason: StopReason = "other"
  const read = (event: Anthropic.RawMessageStreamEvent): { parts: ReadonlyArray<StreamPart>; final: boolean } => {
    switch (event.type) {
      case "message_start":
        inputTokens = event.message.usage.input_tokens
        outputTokens = event.message.usage.output_tokens
        return { parts: [], final: false }
      case "content_block_start":
        if (event.content_block.type === "tool_use") {
          const { id, name } = event.content_block
          calls.set(event.index, { id, name, json: "" })
          return {
            parts: [{ type: "tool-call-delta", index: event.index, id, name, inputDelta: "" }],
            final: false
          }
        }
        return { parts: [], final: false }
      case "content_block_delta":
        if (event.delta.type === "text_delta")
          return { parts: [{ type: "text", text: event.delta.text }], final: false }
        if (event.delta.type === "input_json_delta") {
          const call = calls.get(event.index)
          if (call !== undefined) call.json += event.delta.partial_json
          return {
            parts: [
              {
                type: "tool-call-delta",
                index: event.index,
                id: undefined,
                name: undefined,
                inputDelta: event.delta.partial_json
              }
            ],
            final: false
          }
        }
        return { parts: [], final: false }
      case "content_block_stop": {
        const call = calls.get(event.index)
        if (call === undefined) return { parts: [], final: false }
        calls.delete(event.index)
        let input: unknown = {}
        try {
          input = call.json.trim() === "" ? {} : JSON.parse(call.json)
        } catch (cause) {
          throw new LLMError({
            reason: "InvalidOutput",
            provider,
            detail: `the arguments of tool call ${call.id} (${call.name}) are not JSON: ${call.json.slice(0, 300)}`,
            cause
          })
        }
        return { parts: [{ type: "tool-call", id: call.id, name: call.name, input }], final: false }
      }
      case "message_delta":
        stopReason = stopReasonOf(event.delta.stop_reason)
        outputTokens = event.usage.output_tokens ?? outputTokens
        if (typeof event.usage.input_tokens === "number") inputTokens = event.usage.input_tokens
        return { parts: [], final: false }
      case "message_stop":
        return { parts: [{ type: "finish", stopReason, usage: { inputTokens, outputTokens } }], final: true }
      default:
        return { parts: [], final: false }
    }
  }
  return { read }
}

export const fromClient = (
  client: Anthropic,
  model: string,
  maxTokens: number = defaultMaxTokens,
  timeouts?: { readonly timeout?: Duration.Duration | undefined; readonly idleTimeout?: Duration.Duration | undefined }
): Service =>
  Llm.make({
    provider,
    model,
    defaultMaxTokens: maxTokens,
    nativeStructured: true,
    timeout: timeouts?.timeout,
    complete: (request) =>
      Effect.tryPromise({
        try: (signal) => client.messages.create({ ...paramsOf(model, maxTokens, request), stream: false }, { signal }),
        catch: mapError
      }).pipe(Effect.map((message) => completionOf(request, message))),
    stream: (request) =>
      Llm.deltaStream({
        provider,
        open: (signal) => client.messages.create({ ...paramsOf(model, maxTokens, request), stream: true }, { signal }),
        mapError,
        reader,
        finalEvent: "message_stop",
        idleTimeout: timeouts?.idleTimeout ?? Llm.defaultIdleTimeout
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
    return fromClient(client, options.model, options.maxTokens, {
      timeout: options.timeout === undefined ? undefined : Duration.decode(options.timeout),
      idleTimeout: options.idleTimeout === undefined ? undefined : Duration.decode(options.idleTimeout)
    })
  })
