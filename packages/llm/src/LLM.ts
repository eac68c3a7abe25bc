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
import * as Embeddings from "./Embeddings.js"
import * as internalAnthropic from "./internal/anthropic.js"
import * as internalLocal from "./internal/local.js"
import * as internalOpenAI from "./internal/openai.js"
import * as internalScripted from "./internal/scripted.js"
import { isTransient, type LLMError } from "./LLMError.js"
import * as Tool from "./Tool.js"

/**
 * One message of a conversation: a user's text, the assistant's text (with the tool calls it made), or the results
 * of those tool calls (sent to the model in its provider's format: OpenAI `tool` messages, Anthropic `tool_result`
 * blocks).
 *
 * @since 0.1.0
 * @category Models
 */
export type Message =
  | { readonly role: "user"; readonly content: string }
  | {
      readonly role: "assistant"
      readonly content: string
      readonly toolCalls?: ReadonlyArray<Tool.ToolCall> | undefined
    }
  | { readonly role: "tool"; readonly results: ReadonlyArray<Tool.ToolResult> }

/**
 * The schema of a {@link Message} (for events and durable state).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Message: Schema.Schema<Message> = Schema.Union(
  Schema.Struct({ role: Schema.Literal("user"), content: Schema.String }),
  Schema.Struct({
    role: Schema.Literal("assistant"),
    content: Schema.String,
    toolCalls: Schema.optional(Schema.Array(Tool.ToolCall))
  }),
  Schema.Struct({ role: Schema.Literal("tool"), results: Schema.Array(Tool.ToolResult) })
)

/**
 * The text of a message: its content, or the contents of its tool results.
 *
 * @since 0.1.0
 * @category Utils
 */
export const textOf = (message: Message): string =>
  message.role === "tool" ? message.results.map((r) => r.content).join("\n") : message.content

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
  /** Tools the model may call (see the `Tool` module). Its calls come back in `Completion.toolCalls`. */
  readonly tools?: ReadonlyArray<Tool.Any> | undefined
  /** `"auto"` (default), `"required"` (some tool), `"none"`, or one tool by name. */
  readonly toolChoice?: ToolChoice | undefined
}

/**
 * Whether and which tool the model must call.
 *
 * @since 0.1.0
 * @category Models
 */
export type ToolChoice = "auto" | "required" | "none" | { readonly name: string }

/**
 * Why the model stopped: it finished (`end`), hit the token limit, a stop sequence, asked for a tool, was
 * filtered, or refused (`refusal`: the text of the refusal is `Completion.refusal`).
 *
 * @since 0.1.0
 * @category Models
 */
export type StopReason = "end" | "max_tokens" | "stop_sequence" | "tool_use" | "content_filter" | "refusal" | "other"

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
  /** The tool calls of the answer, in order, each checked against its tool's `parameters` (empty without tools). */
  readonly toolCalls: ReadonlyArray<Tool.ToolCall>
  /** The model's refusal, when it declined to answer (OpenAI's `refusal`, Anthropic's `stop_reason: "refusal"`). */
  readonly refusal?: string | undefined
}

/**
 * A piece of text streamed by {@link Service.stream}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TextDelta {
  readonly type: "text"
  readonly text: string
}

/**
 * A piece of a refusal streamed by {@link Service.stream} (OpenAI's `delta.refusal`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface RefusalDelta {
  readonly type: "refusal"
  readonly text: string
}

/**
 * A piece of a tool call's arguments as it streams (`index` tells parallel calls apart; `id` and `name` are set on
 * the first piece of a call).
 *
 * @since 0.1.0
 * @category Models
 */
export interface ToolCallDelta {
  readonly type: "tool-call-delta"
  readonly index: number
  readonly id: string | undefined
  readonly name: string | undefined
  readonly inputDelta: string
}

/**
 * A complete tool call, once its arguments have streamed, checked against its tool's `parameters`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ToolCallPart extends Tool.ToolCall {
  readonly type: "tool-call"
}

/**
 * The last part of a stream: why it stopped and the token usage.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FinishPart {
  readonly type: "finish"
  readonly stopReason: StopReason
  readonly usage: Usage
}

/**
 * What {@link Service.stream} emits.
 *
 * @since 0.1.0
 * @category Models
 */
export type StreamPart = TextDelta | RefusalDelta | ToolCallDelta | ToolCallPart | FinishPart

/**
 * Tests whether a stream part is text (use with `Stream.filter` to keep the text of a stream).
 *
 * @since 0.1.0
 * @category Guards
 */
export const isTextDelta = (part: StreamPart): part is TextDelta => part.type === "text"

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
  readonly tools: ReadonlyArray<Tool.Any>
  readonly toolChoice: ToolChoice | undefined
  readonly json:
    | {
        readonly schema: Schema.Schema.AnyNoContext
        /** The JSON Schema given to the model, when the schema has one. */
        readonly jsonSchema: unknown
        /** Whether the provider's own structured-output mechanism is used (else the prompt asks for JSON). */
        readonly native: boolean
      }
    | undefined
}

/**
 * The service. Every call runs in a span `chat <model>` after the OpenTelemetry GenAI semantic conventions
 * (`gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`/`output_tokens`,
 * `gen_ai.response.finish_reasons`; the prompt and the answer only when `CaptureContent` is on) and records its tokens
 * in the `gen_ai.client.token.usage` histogram; interrupting a call aborts its HTTP request.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** `"anthropic"`, `"openai"`, `"local"` or `"scripted"`. */
  readonly provider: string
  readonly model: string
  complete(prompt: Prompt, options?: CompleteOptions): Effect.Effect<Completion, LLMError>
  stream(prompt: Prompt, options?: CompleteOptions): Stream.Stream<StreamPart, LLMError>
  /**
   * Asks for JSON matching `schema` and decodes the reply with it. Anthropic and OpenAI use their own mechanism
   * (OpenAI `response_format` with a strict JSON Schema, Anthropic a forced tool call); the local and scripted
   * models get the JSON Schema in the system prompt. A reply that is not JSON or does not decode fails with reason
   * `InvalidOutput`, showing the parse error; a refusal fails with reason `Refused`, showing the refusal.
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
export const stream = (prompt: Prompt, options?: CompleteOptions): Stream.Stream<StreamPart, LLMError, LLM> =>
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

/**
 * Embeds texts with the current `Embeddings` service (OpenAI's embeddings API, or the offline deterministic
 * embedder: see the `Embeddings` module): one vector per text, in order.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const embed: (
  texts: ReadonlyArray<string>
) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, LLMError, Embeddings.Embeddings> = Embeddings.embed

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
 * A reply of {@link layerScripted}: text, a JSON value (for `structured`), a refusal, a completion (with tool calls,
 * or cut midway by an error), or an error to fail with.
 *
 * @since 0.1.0
 * @category Models
 */
export type ScriptedReply =
  | string
  | LLMError
  | { readonly json: unknown }
  | { readonly refusal: string }
  | {
      readonly text: string
      readonly stopReason?: StopReason | undefined
      readonly usage?: Usage | undefined
      /** Tool calls of the reply (checked against the request's tools like a provider's). */
      readonly toolCalls?: ReadonlyArray<Tool.ToolCall> | undefined
      /** A stream emits the text, then fails with this error (a stream cut midway); `complete` fails with it. */
      readonly thenFail?: LLMError | undefined
    }

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
   * The model: maps a request to its answer (text, or text and tool calls). The default answers with the first
   * sentence of the last user message, and, when JSON is asked for, with a JSON value of the schema's shape
   * (strings are that sentence, numbers 0, booleans false, unions their first member). It calls no tools.
   */
  readonly respond?:
    | ((request: Request) => string | { readonly text: string; readonly toolCalls?: ReadonlyArray<Tool.ToolCall> })
    | undefined
  /**
   * Prints one line on stderr, the first time the model answers, saying the answers are simulated (default: true
   * for {@link layerFromEnv}'s fallback, false otherwise).
   */
  readonly announce?: boolean | undefined
}

/**
 * An offline, deterministic model, so that examples and tests run without a key or a network. Its answers are not
 * a language model's: they are built from the prompt (see {@link LocalOptions.respond}).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerLocal = (options?: LocalOptions): Layer.Layer<LLM> => Layer.succeed(LLM, internalLocal.make(options))

/**
 * The default Anthropic model ({@link layerFromEnv}, the examples). Not on the pinned SDK's deprecation list (a
 * test checks it).
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultAnthropicModel = "claude-sonnet-4-6"

/**
 * The default OpenAI model ({@link layerFromEnv}, the examples): a non-reasoning model, so that `temperature`,
 * `stop` and small `max_completion_tokens` budgets behave, with strict structured outputs and tools.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultOpenAIModel = "gpt-4.1-mini"

/**
 * Picks a provider from the configuration (environment): Anthropic when `ANTHROPIC_API_KEY` is set (model
 * `ANTHROPIC_MODEL`, default {@link defaultAnthropicModel}; `ANTHROPIC_BASE_URL`), else OpenAI when
 * `OPENAI_API_KEY` is set (`OPENAI_MODEL`, default {@link defaultOpenAIModel}; `OPENAI_BASE_URL`), else the
 * offline {@link layerLocal} model, which prints one line on stderr the first time it answers, saying the answers
 * are simulated. Keys are read as `Redacted` values.
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
        model: (yield* optional("ANTHROPIC_MODEL")) ?? defaultAnthropicModel,
        baseURL: yield* optional("ANTHROPIC_BASE_URL")
      })
    }
    const openAIKey = yield* Config.option(Config.redacted("OPENAI_API_KEY"))
    if (Option.isSome(openAIKey)) {
      return yield* internalOpenAI.make({
        apiKey: openAIKey.value,
        model: (yield* optional("OPENAI_MODEL")) ?? defaultOpenAIModel,
        baseURL: yield* optional("OPENAI_BASE_URL")
      })
    }
    return internalLocal.make({ announce: true })
  })
)

// -----------------------------------------------------------------------------
// Streaming into a run
// -----------------------------------------------------------------------------

/**
 * The event {@link streamTo} writes for each streamed piece of text. `step`, `eventId` and `attempt` name the step
 * invocation and the attempt that streamed it.
 *
 * The rule for consumers: a retried step streams its answer again, so the tokens of a failed attempt stay in the
 * run. Text belongs to its (`step`, `eventId`) invocation; when a `TokenDelta` of that invocation arrives with a
 * higher `attempt` than the ones before, the earlier attempts failed and their text is to be discarded (a UI clears
 * it, a terminal prints a notice). {@link foldTokens} applies the rule; `LLM.streamTo`'s return value and the
 * examples follow it.
 *
 * @since 0.1.0
 * @category Models
 */
export const TokenDelta = Event.define("TokenDelta", {
  text: Schema.String,
  step: Schema.String,
  eventId: Schema.String,
  attempt: Schema.Number
})

/**
 * @since 0.1.0
 * @category Models
 */
export type TokenDelta = typeof TokenDelta.Type

/**
 * The streamed text of each step invocation (key `step/eventId`), with the attempt it came from.
 *
 * @since 0.1.0
 * @category Models
 */
export type TokenTexts = ReadonlyMap<string, { readonly attempt: number; readonly text: string }>

/**
 * Adds a {@link TokenDelta} to the texts so far, following the rule of {@link TokenDelta}: a higher attempt of an
 * invocation replaces its text, a lower one (a late token of a failed attempt) is dropped.
 *
 * @example
 * ```ts
 * import { LLM } from "@eventflow/llm"
 *
 * const texts = [
 *   LLM.TokenDelta.make({ text: "A step ", step: "answer", eventId: "0", attempt: 1 }),
 *   LLM.TokenDelta.make({ text: "A step retries.", step: "answer", eventId: "0", attempt: 2 })
 * ].reduce(LLM.foldTokens, new Map())
 * texts.get("answer/0")?.text // "A step retries."
 * ```
 *
 * @since 0.1.0
 * @category Combinators
 */
export const foldTokens = (texts: TokenTexts, delta: TokenDelta): TokenTexts => {
  const key = `${delta.step}/${delta.eventId}`
  const previous = texts.get(key)
  if (previous !== undefined && previous.attempt > delta.attempt) return texts
  const text = previous !== undefined && previous.attempt === delta.attempt ? previous.text + delta.text : delta.text
  return new Map(texts).set(key, { attempt: delta.attempt, text })
}

/**
 * Whether `delta` starts a new attempt of an invocation whose earlier attempt already streamed text (seen as
 * `texts`): a terminal consumer prints a notice that the text above it is discarded.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const isRetryOf = (texts: TokenTexts, delta: TokenDelta): boolean => {
  const previous = texts.get(`${delta.step}/${delta.eventId}`)
  return previous !== undefined && previous.attempt < delta.attempt
}

/**
 * Streams a call into a run: writes each text delta as a {@link TokenDelta} (tagged with the step, the event and
 * the attempt) with `ctx.write` (so `handle.events()` shows tokens as they arrive) and returns the full text of
 * this attempt. Interrupting the step (e.g. cancelling the run) aborts the HTTP request.
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
  ctx: Pick<StepContext<any>, "write" | "stepName" | "eventId" | "attempt">,
  prompt: Prompt,
  options?: CompleteOptions
): Effect.Effect<string, LLMError, LLM> => streamToWrite(ctx, stream(prompt, options))

/**
 * Writes each text delta of a stream as a {@link TokenDelta} with `ctx.write` and returns the full text (other
 * parts, e.g. tool calls, are not written).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const streamToWrite = <E, R>(
  ctx: Pick<StepContext<any>, "write" | "stepName" | "eventId" | "attempt">,
  parts: Stream.Stream<StreamPart, E, R>
): Effect.Effect<string, E, R> =>
  Stream.runFoldEffect(parts, "", (text, part) =>
    part.type === "text"
      ? Effect.as(
          ctx.write(
            TokenDelta.make({ text: part.text, step: ctx.stepName, eventId: ctx.eventId, attempt: ctx.attempt })
          ),
          text + part.text
        )
      : Effect.succeed(text)
  )

/**
 * Streams a call into a run like {@link streamTo} (text deltas become {@link TokenDelta}s) and returns the whole
 * answer: the text, the tool calls (each checked against its tool), the stop reason and the usage. The step of an
 * agent that lets the model call tools and shows its tokens as they arrive.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const streamToCompletion = (
  ctx: Pick<StepContext<any>, "write" | "stepName" | "eventId" | "attempt">,
  prompt: Prompt,
  options?: CompleteOptions
): Effect.Effect<Completion, LLMError, LLM> =>
  Effect.flatMap(LLM, (llm) =>
    Stream.runFoldEffect(
      llm.stream(prompt, options),
      {
        text: "",
        refusal: undefined as string | undefined,
        toolCalls: [] as Array<Tool.ToolCall>,
        stopReason: "end" as StopReason,
        usage: { inputTokens: 0, outputTokens: 0 } as Usage
      },
      (acc, part) => {
        switch (part.type) {
          case "text":
            return Effect.as(
              ctx.write(
                TokenDelta.make({ text: part.text, step: ctx.stepName, eventId: ctx.eventId, attempt: ctx.attempt })
              ),
              { ...acc, text: acc.text + part.text }
            )
          case "refusal":
            return Effect.succeed({ ...acc, refusal: (acc.refusal ?? "") + part.text })
          case "tool-call":
            return Effect.succeed({
              ...acc,
              toolCalls: [...acc.toolCalls, { id: part.id, name: part.name, input: part.input }]
            })
          case "finish":
            return Effect.succeed({ ...acc, stopReason: part.stopReason, usage: part.usage })
          default:
            return Effect.succeed(acc)
        }
      }
    ).pipe(
      Effect.map(
        (acc): Completion => ({
          text: acc.text,
          stopReason: acc.stopReason,
          usage: acc.usage,
          model: llm.model,
          toolCalls: acc.toolCalls,
          ...(acc.refusal === undefined ? {} : { refusal: acc.refusal })
        })
      )
    )
  )
