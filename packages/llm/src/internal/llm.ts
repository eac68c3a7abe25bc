import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { CompleteOptions, Completion, Message, Prompt, Request, Service, TextDelta } from "../LLM.js"
import { LLMError } from "../LLMError.js"

/** What a provider implements; `make` adds spans and structured output on top. */
export interface Backend {
  readonly provider: string
  readonly model: string
  complete(request: Request): Effect.Effect<Completion, LLMError>
  stream(request: Request): Stream.Stream<TextDelta, LLMError>
}

export const toMessages = (prompt: Prompt): ReadonlyArray<Message> =>
  typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt

export const toRequest = (prompt: Prompt, options: CompleteOptions | undefined): Request => ({
  messages: toMessages(prompt),
  system: options?.system,
  maxTokens: options?.maxTokens,
  temperature: options?.temperature,
  stopSequences: options?.stopSequences,
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

/** Builds the service of a backend: spans on every call, `structured` on top of `complete`. */
export const make = (backend: Backend): Service => {
  const attributes = { "llm.provider": backend.provider, "llm.model": backend.model }
  const complete = (request: Request, span: string) =>
    backend.complete(request).pipe(
      Effect.tap((completion) =>
        Effect.annotateCurrentSpan({
          "llm.response.model": completion.model,
          "llm.usage.input_tokens": completion.usage.inputTokens,
          "llm.usage.output_tokens": completion.usage.outputTokens,
          "llm.stop_reason": completion.stopReason
        })
      ),
      Effect.tapError((error) => Effect.annotateCurrentSpan({ "llm.error.reason": error.reason })),
      Effect.withSpan(span, { attributes: { ...attributes, "llm.request.max_tokens": request.maxTokens ?? -1 } })
    )
  return {
    provider: backend.provider,
    model: backend.model,
    complete: (prompt, options) => complete(toRequest(prompt, options), "LLM.complete"),
    stream: (prompt, options) =>
      Stream.suspend(() => backend.stream(toRequest(prompt, options))).pipe(
        Stream.withSpan("LLM.stream", { attributes })
      ),
    structured: (schema, prompt, options) =>
      Effect.suspend(() => {
        const jsonSchema = jsonSchemaOf(schema)
        const base = toRequest(prompt, options)
        const instruction = jsonInstruction(jsonSchema)
        const request: Request = {
          ...base,
          system: base.system === undefined ? instruction : `${base.system}\n\n${instruction}`,
          json: { schema, jsonSchema }
        }
        return complete(request, "LLM.structured").pipe(
          Effect.flatMap((completion) => decodeReply(schema, backend.provider, completion.text))
        )
      })
  }
}

/**
 * The text deltas of a provider's SSE stream, opened with an `AbortSignal`: closing the stream (done, failed or
 * interrupted) aborts the HTTP request; a stream that ends before its final event is a `Network` error.
 */
export const deltaStream = <Event>(options: {
  readonly provider: string
  readonly open: (signal: AbortSignal) => Promise<AsyncIterable<Event> & { readonly controller: AbortController }>
  readonly mapError: (cause: unknown) => LLMError
  /** The text of an event, if any, and whether it is the stream's final event. */
  readonly read: (event: Event) => { readonly text: string | undefined; readonly final: boolean }
  /** What a stream cut before its final event lacks, e.g. "message_stop". */
  readonly finalEvent: string
}): Stream.Stream<TextDelta, LLMError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const events = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: options.open, catch: options.mapError }),
        (events) => Effect.sync(() => events.controller.abort())
      )
      const iterator = events[Symbol.asyncIterator]()
      let finished = false
      const pull: Effect.Effect<ReadonlyArray<TextDelta>, Option.Option<LLMError>> = Effect.tryPromise({
        try: () => iterator.next(),
        catch: (cause) => Option.some(options.mapError(cause))
      }).pipe(
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
          const { final, text } = options.read(result.value)
          if (final) finished = true
          return Effect.succeed(text ? [{ text }] : [])
        })
      )
      return Stream.repeatEffectOption(pull).pipe(Stream.flattenIterables)
    })
  )
