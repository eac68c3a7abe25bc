/**
 * The `LLM` service: complete, stream and structured output from a language model, with layers for Anthropic,
 * OpenAI, an offline local model and scripted tests, a retry `Schedule` for transient failures, and a helper that
 * streams tokens into a workflow run.
 *
 * @since 0.1.0
 */
import * as Event from "@eventflow/core/Event"
import type { StepContext } from "@eventflow/core/StepContext"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as internalAnthropic from "./internal/anthropic.js"
import * as internalLocal from "./internal/local.js"
import * as internalOpenAI from "./internal/openai.js"
import * as internalScripted from "./internal/scripted.js"
import { isTransient, type LLMError } from "./LLMError.js"

/**
 * One message of a conversation.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Message {
  readonly role: "user" | "assistant"
  readonly content: string
}

/**
 * What a call sends: a single user prompt, or a conversation.
 *
 * @since 0.1.0
 * @category Models
 */
export type Prompt = string | ReadonlyArray<Message>

/**
 * Options of a call.
 *
 * @since 0.1.0
 * @category Models
 */
export interface CompleteOptions {
  /** The system prompt. */
  readonly system?: string | undefined
  /** The maximum number of tokens to generate (default: the layer's). */
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  readonly stopSequences?: ReadonlyArray<string> | undefined
}

/**
 * Why the model stopped: it finished (`end`), hit the token limit, a stop sequence, asked for a tool, or was
 * filtered.
 *
 * @since 0.1.0
 * @category Models
 */
export type StopReason = "end" | "max_tokens" | "stop_sequence" | "tool_use" | "content_filter" | "other"

/**
 * Token usage of a call.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * The answer of {@link Service.complete}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Completion {
  readonly text: string
  readonly stopReason: StopReason
  readonly usage: Usage
  /** The model that answered, as the provider reports it. */
  readonly model: string
}

/**
 * A piece of text streamed by {@link Service.stream}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TextDelta {
  readonly text: string
}

/**
 * A call as a provider receives it (what {@link ScriptedLLM} records). `json` is set by `structured`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Request {
  readonly messages: ReadonlyArray<Message>
  readonly system: string | undefined
  readonly maxTokens: number | undefined
  readonly temperature: number | undefined
  readonly stopSequences: ReadonlyArray<string> | undefined
  readonly json:
    | {
        readonly schema: Schema.Schema.AnyNoContext
        /** The JSON Schema given to the model, when the schema has one. */
        readonly jsonSchema: unknown
      }
    | undefined
}

/**
 * The service. Every call runs in a span (`LLM.complete`, `LLM.stream`, `LLM.structured`) with the provider, the
 * model and the token usage as attributes; interrupting a call aborts its HTTP request.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** `"anthropic"`, `"openai"`, `"local"` or `"scripted"`. */
  readonly provider: string
  readonly model: string
  complete(prompt: Prompt, options?: CompleteOptions): Effect.Effect<Completion, LLMError>
  stream(prompt: Prompt, options?: CompleteOptions): Stream.Stream<TextDelta, LLMError>
  /**
   * Asks for JSON matching `schema` (its JSON Schema goes into the system prompt) and decodes the reply with it.
   * A reply that is not JSON or does not decode fails with reason `InvalidOutput`, showing the parse error.
   */
  structured<A, I>(
    schema: Schema.Schema<A, I, never>,
    prompt: Prompt,
    options?: CompleteOptions
  ): Effect.Effect<A, LLMError>
}

/**
 * The `LLM` service tag.
 *
 * @since 0.1.0
 * @category Models
 */
export class LLM extends Context.Tag("@eventflow/llm/LLM")<LLM, Service>() {}

/**
 * Calls the model of the current `LLM` service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LLM } from "@eventflow/llm"
 *
 * const program = LLM.complete("Name a colour.").pipe(Effect.map((c) => c.text), Effect.provide(LLM.layerLocal()))
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const complete = (prompt: Prompt, options?: CompleteOptions): Effect.Effect<Completion, LLMError, LLM> =>
  Effect.flatMap(LLM, (llm) => llm.complete(prompt, options))

/**
 * Streams the answer of the model of the current `LLM` service.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const stream = (prompt: Prompt, options?: CompleteOptions): Stream.Stream<TextDelta, LLMError, LLM> =>
  Stream.unwrap(Effect.map(LLM, (llm) => llm.stream(prompt, options)))

/**
 * Structured output from the model of the current `LLM` service (see {@link Service.structured}).
 *
 * @since 0.1.0
 * @category Accessors
 */
export const structured = <A, I>(
  schema: Schema.Schema<A, I, never>,
  prompt: Prompt,
  options?: CompleteOptions
): Effect.Effect<A, LLMError, LLM> => Effect.flatMap(LLM, (llm) => llm.structured(schema, prompt, options))

// -----------------------------------------------------------------------------
// Retries
// -----------------------------------------------------------------------------

/**
 * Options of {@link retrySchedule}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RetryOptions {
  /** The maximum number of retries (default 4). */
  readonly times?: number | undefined
  /** The first exponential delay (default 500 millis). */
  readonly base?: Duration.DurationInput | undefined
  /** The growth factor of the delays (default 2). */
  readonly factor?: number | undefined
  /** The largest exponential delay (default 30 seconds). A provider's `retry-after` is honoured as given. */
  readonly maxDelay?: Duration.DurationInput | undefined
}

/**
 * A `Schedule` that retries transient `LLMError`s (`RateLimited`, `Overloaded`, `Network`, `Timeout`) and nothing
 * else, waiting the provider's `retry-after` when it sent one and an exponential delay (capped) otherwise, at most
 * `times` times. Use it as a step's `retry` or with `Effect.retry`; it outputs the delay it chose.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LLM } from "@eventflow/llm"
 *
 * const answer = LLM.complete("Hello").pipe(Effect.retry(LLM.retrySchedule({ times: 3 })))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const retrySchedule = (options?: RetryOptions): Schedule.Schedule<Duration.Duration, unknown> => {
  const maxDelay = Duration.decode(options?.maxDelay ?? "30 seconds")
  return Schedule.exponential(options?.base ?? "500 millis", options?.factor ?? 2).pipe(
    Schedule.intersect(Schedule.identity<unknown>()),
    Schedule.whileInput(isTransient),
    Schedule.modifyDelay(([, error], delay) =>
      isTransient(error) && error.retryAfter !== undefined ? error.retryAfter : Duration.min(delay, maxDelay)
    ),
    Schedule.intersect(Schedule.recurs(options?.times ?? 4)),
    Schedule.map(([[delay, error]]) =>
      isTransient(error) && error.retryAfter !== undefined ? error.retryAfter : Duration.min(delay, maxDelay)
    )
  )
}

// -----------------------------------------------------------------------------
// Layers
// -----------------------------------------------------------------------------

/**
 * A reply of {@link layerScripted}: text, a JSON value (for `structured`), a completion, or an error to fail with.
 *
 * @since 0.1.0
 * @category Models
 */
export type ScriptedReply =
  | string
  | LLMError
  | { readonly json: unknown }
  | { readonly text: string; readonly stopReason?: StopReason | undefined; readonly usage?: Usage | undefined }

/**
 * What {@link layerScripted} recorded.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ScriptedService {
  /** The calls made so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<Request>>
  /** The replies not used yet. */
  readonly remaining: Effect.Effect<ReadonlyArray<ScriptedReply>>
}

/**
 * The recorder of {@link layerScripted}.
 *
 * @since 0.1.0
 * @category Models
 */
export class ScriptedLLM extends Context.Tag("@eventflow/llm/ScriptedLLM")<ScriptedLLM, ScriptedService>() {}

/**
 * A test layer: each call (complete, stream or structured) takes the next reply of the script, in order, and is
 * recorded in {@link ScriptedLLM}. A call after the last reply is a defect that says so.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LLM, LLMError } from "@eventflow/llm"
 *
 * const layer = LLM.layerScripted([
 *   new LLMError.LLMError({ reason: "Overloaded", provider: "scripted", detail: "busy" }),
 *   "Paris"
 * ])
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerScripted = (
  replies: ReadonlyArray<ScriptedReply>,
  options?: { readonly model?: string | undefined }
): Layer.Layer<LLM | ScriptedLLM> =>
  Layer.effectContext(
    Effect.map(internalScripted.make(replies, options?.model), (scripted) =>
      Context.make(LLM, scripted.service).pipe(
        Context.add(ScriptedLLM, { requests: Ref.get(scripted.requests), remaining: Ref.get(scripted.remaining) })
      )
    )
  )

/**
 * Options of {@link layerLocal}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LocalOptions {
  /** The reported model name (default `"local-echo"`). */
  readonly model?: string | undefined
  /**
   * The model: maps a request to its answer. The default answers with the first sentence of the last user message,
   * and, when JSON is asked for, with a JSON value of the schema's shape (strings are that sentence, numbers 0,
   * booleans false, unions their first member).
   */
  readonly respond?: ((request: Request) => string) | undefined
}

/**
 * An offline, deterministic model, so that examples and tests run without a key or a network.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerLocal = (options?: LocalOptions): Layer.Layer<LLM> => Layer.succeed(LLM, internalLocal.make(options))

/**
 * Picks a provider from the configuration (environment): Anthropic when `ANTHROPIC_API_KEY` is set (model
 * `ANTHROPIC_MODEL`, default `claude-sonnet-4-5`; `ANTHROPIC_BASE_URL`), else OpenAI when `OPENAI_API_KEY` is set
 * (`OPENAI_MODEL`, default `gpt-4o-mini`; `OPENAI_BASE_URL`), else the offline {@link layerLocal} model. Keys are
 * read as `Redacted` values.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFromEnv: Layer.Layer<LLM, ConfigError.ConfigError> = Layer.effect(
  LLM,
  Effect.gen(function* () {
    const optional = (name: string) => Config.option(Config.string(name)).pipe(Effect.map(Option.getOrUndefined))
    const anthropicKey = yield* Config.option(Config.redacted("ANTHROPIC_API_KEY"))
    if (Option.isSome(anthropicKey)) {
      return yield* internalAnthropic.make({
        apiKey: anthropicKey.value,
        model: (yield* optional("ANTHROPIC_MODEL")) ?? "claude-sonnet-4-5",
        baseURL: yield* optional("ANTHROPIC_BASE_URL")
      })
    }
    const openAIKey = yield* Config.option(Config.redacted("OPENAI_API_KEY"))
    if (Option.isSome(openAIKey)) {
      return yield* internalOpenAI.make({
        apiKey: openAIKey.value,
        model: (yield* optional("OPENAI_MODEL")) ?? "gpt-4o-mini",
        baseURL: yield* optional("OPENAI_BASE_URL")
      })
    }
    return internalLocal.make()
  })
)

// -----------------------------------------------------------------------------
// Streaming into a run
// -----------------------------------------------------------------------------

/**
 * The event {@link streamTo} writes for each streamed piece of text.
 *
 * @since 0.1.0
 * @category Models
 */
export const TokenDelta = Event.define("TokenDelta", { text: Schema.String })

/**
 * @since 0.1.0
 * @category Models
 */
export type TokenDelta = typeof TokenDelta.Type

/**
 * Streams a call into a run: writes each text delta as a {@link TokenDelta} with `ctx.write` (so
 * `handle.events()` shows tokens as they arrive) and returns the full text. Interrupting the step (e.g. cancelling
 * the run) aborts the HTTP request.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { defineWorkflow, StartEvent, StopEvent } from "@eventflow/core"
 * import { LLM } from "@eventflow/llm"
 *
 * const wf = defineWorkflow({ name: "chat" }).step(
 *   StartEvent,
 *   (_, ctx) => Effect.map(LLM.streamTo(ctx, "Tell me a story"), (text) => StopEvent.make({ result: text })),
 *   { emits: [StopEvent] }
 * )
 * ```
 *
 * @since 0.1.0
 * @category Combinators
 */
export const streamTo = (
  ctx: Pick<StepContext<any>, "write">,
  prompt: Prompt,
  options?: CompleteOptions
): Effect.Effect<string, LLMError, LLM> => streamToWrite(ctx, stream(prompt, options))

/**
 * Writes each delta of a text stream as a {@link TokenDelta} with `ctx.write` and returns the full text.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const streamToWrite = <E, R>(
  ctx: Pick<StepContext<any>, "write">,
  deltas: Stream.Stream<TextDelta, E, R>
): Effect.Effect<string, E, R> =>
  Stream.runFoldEffect(deltas, "", (text, delta) =>
    Effect.as(ctx.write(TokenDelta.make({ text: delta.text })), text + delta.text)
  )
