/**
 * The `LLM` service on the official Anthropic SDK (`@anthropic-ai/sdk`, Messages API).
 *
 * The SDK's own retries are disabled (`maxRetries: 0`): retry with {@link LLM.retrySchedule} instead, as a step's
 * `retry` or with `Effect.retry`. Interrupting a call aborts its HTTP request.
 *
 * @since 0.1.0
 */
import type Anthropic from "@anthropic-ai/sdk"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/anthropic.js"
import * as LLM from "./LLM.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** The model, e.g. `"claude-sonnet-4-6"`. */
  readonly model: string
  /** The API key; read from the `ANTHROPIC_API_KEY` config (environment) when omitted. */
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
  /** The API base URL (default: the SDK's, `https://api.anthropic.com`). */
  readonly baseURL?: string | undefined
  /** The `max_tokens` of calls that do not set `maxTokens` (default 1024; the Messages API requires one). */
  readonly maxTokens?: number | undefined
  /**
   * The deadline of a whole call, streams included (default 10 minutes); expiry is an `LLMError` with reason
   * `Timeout` (retryable). It is also the SDK's request timeout (until the response headers).
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The longest silence between two events of a stream (default 2 minutes): a server that sends headers and then
   * stalls fails the stream with reason `Timeout` (retryable).
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/**
 * Builds the service on a new SDK client.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: (options: Options) => Effect.Effect<LLM.Service, ConfigError.ConfigError> = internal.make

/**
 * Builds the service on an SDK client you configured yourself. Set `maxRetries: 0` on it so that retries are
 * the `Schedule`'s business.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromClient: (
  client: Anthropic,
  model: string,
  maxTokens?: number,
  timeouts?: { readonly timeout?: Duration.Duration | undefined; readonly idleTimeout?: Duration.Duration | undefined }
) => LLM.Service = internal.fromClient

/**
 * A layer of the `LLM` service on Anthropic.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AnthropicLLM, LLM } from "@eventflow/llm"
 *
 * const program = LLM.complete("Say hi").pipe(Effect.provide(AnthropicLLM.layer({ model: "claude-sonnet-4-6" })))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<LLM.LLM, ConfigError.ConfigError> =>
  Layer.effect(LLM.LLM, make(options))
