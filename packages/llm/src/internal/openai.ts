import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import OpenAI from "openai"
import type { Completion, Request, Service, StopReason, StreamPart, ToolChoice, Usage } from "../LLM.js"
import { LLMError } from "../LLMError.js"
import type { Options } from "../OpenAILLM.js"
import * as Tool from "../Tool.js"
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

/** Whether a JSON Schema meets OpenAI's strict mode: every object closed, with all its properties required. */
export const isStrictCompatible = (schema: unknown): boolean => {
  if (Array.isArray(schema)) return schema.every(isStrictCompatible)
  if (typeof schema !== "object" || schema === null) return true
  const node = schema as Record<string, unknown>
  if (node.type === "object" || node.properties !== undefined) {
    const keys = Object.keys((node.properties as object | undefined) ?? {})
    const required = (node.required as Array<string> | undefined) ?? []
    if (node.additionalProperties !== false || !keys.every((k) => required.includes(k))) return false
  }
  return Object.values(node).every(isStrictCompatible)
}

const messagesOf = (request: Request): Array<OpenAI.Chat.ChatCompletionMessageParam> => {
  const messages: Array<OpenAI.Chat.ChatCompletionMessageParam> = []
  if (request.system !== undefined) messages.push({ role: "system", content: request.system })
  for (const m of request.messages) {
    switch (m.role) {
      case "user":
        messages.push({ role: "user", content: m.content })
        break
      case "assistant":
        messages.push(
          m.toolCalls === undefined || m.toolCalls.length === 0
            ? { role: "assistant", content: m.content }
            : {
                role: "assistant",
                content: m.content === "" ? null : m.content,
                tool_calls: m.toolCalls.map((call) => ({
                  id: call.id,
                  type: "function" as const,
                  function: { name: call.name, arguments: JSON.stringify(call.input ?? {}) }
                }))
              }
        )
        break
      case "tool":
        for (const r of m.results) messages.push({ role: "tool", tool_call_id: r.id, content: r.content })
        break
    }
  }
  return messages
}

const toolChoiceOf = (choice: ToolChoice): OpenAI.Chat.ChatCompletionToolChoiceOption =>
  typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } }

const paramsOf = (
  model: string,
  maxTokens: number | undefined,
  request: Request
): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming => {
  const max = request.maxTokens ?? maxTokens
  const json = request.json?.native ? Tool.objectJsonSchema(request.json.schema).jsonSchema : undefined
  return {
    model,
    messages: messagesOf(request),
    ...(max === undefined ? {} : { max_completion_tokens: max }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.stopSequences === undefined ? {} : { stop: [...request.stopSequences] }),
    ...(request.tools.length === 0
      ? {}
      : {
          tools: request.tools.map((tool) => {
            const parameters = Tool.parametersJsonSchema(tool)
            return {
              type: "function" as const,
              function: {
                name: tool.name,
                description: tool.description,
                parameters,
                strict: isStrictCompatible(parameters)
              }
            }
          }),
          ...(request.toolChoice === undefined ? {} : { tool_choice: toolChoiceOf(request.toolChoice) })
        }),
    ...(json === undefined
      ? {}
      : {
          response_format: {
            type: "json_schema" as const,
            json_schema: { name: "structured_output", schema: json, strict: isStrictCompatible(json) }
          }
        })
  }
}

/** The JSON text of a native structured answer, unwrapped when the schema was wrapped in `{ value }`. */
const structuredText = (request: Request, text: string): string => {
  if (!request.json?.native || !Tool.objectJsonSchema(request.json.schema).wrapped) return text
  try {
    return JSON.stringify((JSON.parse(text) as { value?: unknown }).value)
  } catch {
    return text
  }
}

const parseArguments = (call: { id: string; name: string; arguments: string }): unknown => {
  try {
    return call.arguments.trim() === "" ? {} : JSON.parse(call.arguments)
  } catch (cause) {
    throw new LLMError({
      reason: "InvalidOutput",
      provider,
      detail: `the arguments of tool call ${call.id} (${call.name}) are not JSON: ${call.arguments.slice(0, 300)}`,
      cause
    })
  }
}

const completionOf = (request: Request, completion: OpenAI.Chat.ChatCompletion): Effect.Effect<Completion, LLMError> =>
  Effect.try({
    try: (): Completion => {
      const choice = completion.choices[0]
      if (choice === undefined) {
        throw new LLMError({ reason: "InvalidOutput", provider, detail: "the response has no choices" })
      }
      const refusal = choice.message.refusal ?? undefined
      return {
        text: structuredText(request, choice.message.content ?? ""),
        stopReason: refusal !== undefined ? "refusal" : stopReasonOf(choice.finish_reason),
        usage: {
          inputTokens: completion.usage?.prompt_tokens ?? 0,
          outputTokens: completion.usage?.completion_tokens ?? 0
        },
        model: completion.model,
        toolCalls: (choice.message.tool_calls ?? []).flatMap((call) =>
          call.type === "function"
            ? [
                {
                  id: call.id,
                  name: call.function.name,
                  input: parseArguments({ id: call.id, ...call.function })
                }
              ]
            : []
        ),
        ...(refusal === undefined ? {} : { refusal })
      }
    },
    catch: mapError
  })

/** Reads one OpenAI stream: text and refusal deltas, tool-call deltas (by index) and calls, the finish part. */
const reader = () => {
  const calls = new Map<number, { id: string; name: string; arguments: string }>()
  let stopReason: StopReason | undefined
  let refused = false
  let usage: Usage | undefined
  const callsDone = (): Array<StreamPart> => {
    const parts = [...calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]): StreamPart => ({ type: "tool-call", id: call.id, name: call.name, input: parseArguments(call) }))
    calls.clear()
    return parts
  }
  return {
    read: (chunk: OpenAI.Chat.ChatCompletionChunk): { parts: ReadonlyArray<StreamPart>; final: boolean } => {
      const parts: Array<StreamPart> = []
      if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens }
      const choice = chunk.choices[0]
      if (choice === undefined) return { parts, final: false }
      if (choice.delta.content) parts.push({ type: "text", text: choice.delta.content })
      if (choice.delta.refusal) {
        refused = true
        parts.push({ type: "refusal", text: choice.delta.refusal })
      }
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = calls.get(delta.index) ?? { id: "", name: "", arguments: "" }
        if (delta.id) call.id = delta.id
        if (delta.function?.name) call.name += delta.function.name
        call.arguments += delta.function?.arguments ?? ""
        calls.set(delta.index, call)
        parts.push({
          type: "tool-call-delta",
          index: delta.index,
          id: delta.id ?? undefined,
          name: delta.function?.name ?? undefined,
          inputDelta: delta.function?.arguments ?? ""
        })
      }
      if (choice.finish_reason) {
        stopReason = refused ? "refusal" : stopReasonOf(choice.finish_reason)
        parts.push(...callsDone())
        return { parts, final: true }
      }
      return { parts, final: false }
    },
    end: (): ReadonlyArray<StreamPart> => [
      { type: "finish", stopReason: stopReason ?? "other", usage: usage ?? { inputTokens: 0, outputTokens: 0 } }
    ]
  }
}

export const fromClient = (
  client: OpenAI,
  model: string,
  maxTokens?: number | undefined,
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
        try: (signal) => client.chat.completions.create(paramsOf(model, maxTokens, request), { signal }),
        catch: mapError
      }).pipe(Effect.flatMap((completion) => completionOf(request, completion))),
    stream: (request) =>
      Llm.deltaStream({
        provider,
        open: (signal) =>
          client.chat.completions.create(
            { ...paramsOf(model, maxTokens, request), stream: true, stream_options: { include_usage: true } },
            { signal }
          ),
        mapError,
        reader,
        finalEvent: "a finish_reason",
        idleTimeout: timeouts?.idleTimeout ?? Llm.defaultIdleTimeout
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
    return fromClient(client, options.model, options.maxTokens, {
      timeout: options.timeout === undefined ? undefined : Duration.decode(options.timeout),
      idleTimeout: options.idleTimeout === undefined ? undefined : Duration.decode(options.idleTimeout)
    })
  })
