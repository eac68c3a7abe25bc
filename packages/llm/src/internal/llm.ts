import * as RunObserver from "@eventflow/core/RunObserver"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Duration from "effect/Duration"
import type { CompleteOptions, Completion, Message, Prompt, Request, Service, StreamPart, Usage } from "../LLM.js"
import { LLMError } from "../LLMError.js"
import * as Tool from "../Tool.js"
import * as GenAi from "./genAi.js"

/** What a provider implements; `make` adds spans, timeouts, tool-call checks and structured output on top. */
export interface Backend {
  readonly provider: string
  readonly model: string
  /** The max tokens sent when a call sets none (`undefined`: none is sent). */
  readonly defaultMaxTokens: number | undefined
  /** Whether `structured` uses the provider's own mechanism (`Request.json.native`). */
  readonly nativeStructured: boolean
  /** The whole call's deadline (streams included). */
  readonly timeout?: Duration.Duration | undefined
  complete(request: Request): Effect.Effect<Completion, LLMError>
  stream(request: Request): Stream.Stream<StreamPart, LLMError>
}

/** The default deadline of a whole call (the SDKs' default request timeout). */
export const defaultTimeout = Duration.minutes(10)
/** The default longest silence between two events of a stream. */
export const defaultIdleTimeout = Duration.minutes(2)

export const timeoutError = (provider: string, what: string) =>
  new LLMError({ reason: "Timeout", provider, detail: what })

export const toMessages = (prompt: Prompt): ReadonlyArray<Message> =>
  typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt

export const toRequest = (prompt: Prompt, options: CompleteOptions | undefined): Request => ({
  messages: toMessages(prompt),
  system: options?.system,
  maxTokens: options?.maxTokens,
  temperature: options?.temperature,
  stopSequences: options?.stopSequences,
  tools: options?.tools ?? [],
  toolChoice: options?.toolChoice,
  json: undefined
})

const excerpt = (text: string, max = 300): string => (text.length > max ? `${text.slice(0, max)}…` : text)

/** The JSON Schema of `schema`, or `undefined` when the schema has no JSON Schema form (e.g. declarations). */
export const jsonSchemaOf = (schema: Schema.Schema.AnyNoContext): unknown => {
  try {
    return JSONSchema.make(schema)
  } catch {
    return undefined
  }
}

export const jsonInstruction = (jsonSchema: unknown): string =>
  jsonSchema === undefined
    ? "Reply with a single JSON value and nothing else (no prose, no code fences)."
    : `Reply with a single JSON value and nothing else (no prose, no code fences). It must match this JSON Schema:\n${JSON.stringify(
        jsonSchema
      )}`

/** Extracts the JSON text of a reply: the whole reply, the inside of a code fence, or the outermost object/array. */
export const extractJson = (text: string): string => {
  const trimmed = text.trim()
  const fence = /^```(?:json)?\s*([\s\S]*?)\s*```$/i.exec(trimmed)
  if (fence) return fence[1]!
  if (trimmed.startsWith("{") || trimmed.startsWith("[") || trimmed.startsWith('"')) return trimmed
  const start = trimmed.search(/[[{]/)
  const end = Math.max(trimmed.lastIndexOf("}"), trimmed.lastIndexOf("]"))
  return start >= 0 && end > start ? trimmed.slice(start, end + 1) : trimmed
}

/** Parses and decodes a reply with `schema`; a reply that does not parse or decode is `InvalidOutput`. */
export const decodeReply = <A, I>(
  schema: Schema.Schema<A, I, never>,
  provider: string,
  text: string
): Effect.Effect<A, LLMError> =>
  Effect.try({
    try: () => JSON.parse(extractJson(text)) as unknown,
    catch: (cause) =>
      new LLMError({
        reason: "InvalidOutput",
        provider,
        detail: `the reply is not JSON (${cause instanceof Error ? cause.message : String(cause)}). Reply: ${excerpt(
          text
        )}`,
        cause
      })
  }).pipe(
    Effect.flatMap((json) =>
      Schema.decodeUnknown(schema, { errors: "all" })(json).pipe(
        Effect.mapError(
          (cause) =>
            new LLMError({
              reason: "InvalidOutput",
              provider,
              detail: `the reply does not match the schema:\n${ParseResult.TreeFormatter.formatErrorSync(
                cause
              )}\nReply: ${excerpt(text)}`,
              cause
            })
        )
      )
    )
  )

/** Checks the tool calls of an answer against the request's tools: a call that does not check is `InvalidOutput`. */
const checkToolCall = (provider: string, request: Request, call: Tool.ToolCall): Effect.Effect<void, LLMError> =>
  Tool.check(request.tools, call).pipe(
    Effect.asVoid,
    Effect.mapError(
      (detail) =>
        new LLMError({
          reason: "InvalidOutput",
          provider,
          detail: `tool call ${call.id}: ${detail}. Input: ${excerpt(JSON.stringify(call.input) ?? "undefined")}`
        })
    )
  )

/** Builds the service of a backend: spans, timeouts and tool-call checks on every call, `structured` on top. */
export const make = (backend: Backend): Service => {
  const { provider } = backend
  const timeout = backend.timeout ?? defaultTimeout
  const spanName = `chat ${backend.model}`
  const requestAttributes = (request: Request, call: "complete" | "stream" | "structured") => {
    const max = request.maxTokens ?? backend.defaultMaxTokens
    return {
      ...GenAi.base(provider, backend.model),
      "eventflow.llm.call": call,
      ...(max === undefined ? {} : { "gen_ai.request.max_tokens": max }),
      ...(request.temperature === undefined ? {} : { "gen_ai.request.temperature": request.temperature }),
      ...(request.json === undefined ? {} : { "gen_ai.output.type": "json" })
    }
  }
  const finished = (request: Request, usage: Usage, stopReason: string, output: unknown, model?: string) =>
    Effect.zipRight(
      GenAi.recordUsage(provider, backend.model, usage),
      Effect.flatMap(RunObserver.CaptureContent, (capture) =>
        Effect.annotateCurrentSpan({
          ...(model === undefined ? {} : { "gen_ai.response.model": model }),
          "gen_ai.usage.input_tokens": usage.inputTokens,
          "gen_ai.usage.output_tokens": usage.outputTokens,
          "gen_ai.response.finish_reasons": [stopReason],
          ...(capture ? GenAi.content(request, output) : {})
        })
      )
    )
  const complete = (request: Request, call: "complete" | "structured") =>
    backend.complete(request).pipe(
      Effect.tap((completion) =>
        Effect.forEach(completion.toolCalls, (call) => checkToolCall(provider, request, call))
      ),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          timeoutError(provider, `no complete answer within ${Duration.format(timeout)} (the call's timeout)`)
      }),
      Effect.tap((completion) =>
        finished(
          request,
          completion.usage,
          completion.stopReason,
          { text: completion.text, toolCalls: completion.toolCalls },
          completion.model
        )
      ),
      Effect.tapError((error) => Effect.annotateCurrentSpan({ "error.type": error.reason })),
      Effect.withSpan(spanName, { kind: "client", attributes: requestAttributes(request, call) })
    )
  const stream = (request: Request) => {
    let text = ""
    return Stream.suspend(() => backend.stream(request)).pipe(
      Stream.tap((part) =>
        part.type === "tool-call"
          ? checkToolCall(provider, request, part)
          : part.type === "finish"
            ? finished(request, part.usage, part.stopReason, { text })
            : Effect.sync(() => {
                if (part.type === "text") text += part.text
              })
      ),
      Stream.interruptWhen(
        Effect.zipRight(
          Effect.sleep(timeout),
          Effect.fail(
            timeoutError(provider, `the stream did not finish within ${Duration.format(timeout)} (the call's timeout)`)
          )
        )
      ),
      Stream.tapError((error) => Effect.annotateCurrentSpan({ "error.type": error.reason })),
      Stream.withSpan(spanName, { kind: "client", attributes: requestAttributes(request, "stream") })
    )
  }
  return {
    provider,
    model: backend.model,
    complete: (prompt, options) => complete(toRequest(prompt, options), "complete"),
    stream: (prompt, options) => stream(toRequest(prompt, options)),
    structured: (schema, prompt, options) =>
      Effect.suspend(() => {
        const jsonSchema = jsonSchemaOf(schema)
        const base = toRequest(prompt, options)
        const native = backend.nativeStructured && jsonSchema !== undefined
        const instruction = jsonInstruction(jsonSchema)
        const request: Request = {
          ...base,
          system: native ? base.system : base.system === undefined ? instruction : `${base.system}\n\n${instruction}`,
          json: { schema, jsonSchema, native }
        }
        return complete(request, "structured").pipe(
          Effect.flatMap((completion) =>
            completion.refusal !== undefined || completion.stopReason === "refusal"
              ? Effect.fail(
                  new LLMError({
                    reason: "Refused",
                    provider,
                    detail: `the model refused to answer: ${completion.refusal || "(no reason given)"}`
                  })
                )
              : decodeReply(schema, provider, completion.text)
          )
        )
      })
  }
}

/**
 * The parts of a provider's SSE stream, opened with an `AbortSignal`: closing the stream (done, failed or
 * interrupted) aborts the HTTP request; a stream that ends before its final event is a `Network` error, one silent
 * for longer than `idleTimeout` is a `Timeout`.
 */
export const deltaStream = <Event>(options: {
  readonly provider: string
  readonly open: (signal: AbortSignal) => Promise<AsyncIterable<Event> & { readonly controller: AbortController }>
  readonly mapError: (cause: unknown) => LLMError
  /** A reader for one stream: the parts of an event and whether it is the final one; `end`: parts after the end. */
  readonly reader: () => {
    readonly read: (event: Event) => { readonly parts: ReadonlyArray<StreamPart>; readonly final: boolean }
    readonly end?: (() => ReadonlyArray<StreamPart>) | undefined
  }
  /** What a stream cut before its final event lacks, e.g. "message_stop". */
  readonly finalEvent: string
  readonly idleTimeout: Duration.Duration
}): Stream.Stream<StreamPart, LLMError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const events = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: options.open, catch: options.mapError }),
        (events) => Effect.sync(() => events.controller.abort())
      )
      const iterator = events[Symbol.asyncIterator]()
      const { end, read } = options.reader()
      let finished = false
      const pull: Effect.Effect<ReadonlyArray<StreamPart>, Option.Option<LLMError>> = Effect.tryPromise({
        try: () => iterator.next(),
        catch: (cause) => options.mapError(cause)
      }).pipe(
        Effect.timeoutFail({
          duration: options.idleTimeout,
          onTimeout: () =>
            timeoutError(
              options.provider,
              `the stream was silent for ${Duration.format(options.idleTimeout)} (the idle timeout between events)`
            )
        }),
        Effect.mapError(Option.some),
        Effect.flatMap((result) => {
          if (result.done) {
            return Effect.fail(
              finished
                ? Option.none()
                : Option.some(
                    new LLMError({
                      reason: "Network",
                      provider: options.provider,
                      detail: `the event stream ended before ${options.finalEvent} (the response was cut)`
                    })
                  )
            )
          }
          return Effect.try({
            try: () => read(result.value),
            catch: (cause) => Option.some(options.mapError(cause))
          }).pipe(
            Effect.map(({ final, parts }) => {
              if (final) finished = true
              return parts
            })
          )
        })
      )
      const tail = Stream.suspend(() => Stream.fromIterable(end?.() ?? []))
      return Stream.repeatEffectOption(pull).pipe(Stream.flattenIterables, Stream.concat(tail))
    })
  )
