/**
 * The errors of `@eventflow/llm`: one tagged error, `LLMError`, whose `reason` says what kind of failure it is
 * (and so whether retrying can help) and whose `message` says what to do about it.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"

/**
 * Why a model call failed.
 *
 * - `RateLimited`: the provider refused the call because of a rate or quota limit (HTTP 429). Transient.
 * - `Authentication`: the API key is missing, wrong, or lacks permission (HTTP 401/403).
 * - `InvalidRequest`: the provider rejected the request itself (HTTP 400/404/422: unknown model, bad parameters).
 * - `Overloaded`: the provider failed or is overloaded (HTTP 500/503/529 and other 5xx). Transient.
 * - `Network`: the connection failed, was cut, or the response could not be read. Transient.
 * - `Timeout`: no complete response in time. Transient.
 * - `InvalidOutput`: the model answered, but not with what was asked (e.g. JSON that does not decode).
 * - `QuotaExceeded`: the account is out of credit or over its spending quota (OpenAI's `insufficient_quota`, an
 *   HTTP 429). Not transient: retrying will not help until billing is fixed.
 * - `Refused`: the model declined to answer (OpenAI's `refusal`, Anthropic's `stop_reason: "refusal"`).
 *
 * @since 0.1.0
 * @category Models
 */
export type LLMErrorReason =
  | "RateLimited"
  | "Authentication"
  | "InvalidRequest"
  | "Overloaded"
  | "Network"
  | "Timeout"
  | "InvalidOutput"
  | "QuotaExceeded"
  | "Refused"

/**
 * The reasons worth retrying: `RateLimited`, `Overloaded`, `Network` and `Timeout`.
 *
 * @since 0.1.0
 * @category Models
 */
export const transientReasons: ReadonlySet<LLMErrorReason> = new Set<LLMErrorReason>([
  "RateLimited",
  "Overloaded",
  "Network",
  "Timeout"
])

const advice: Record<LLMErrorReason, (provider: string) => string> = {
  RateLimited: (p) =>
    `${p} rate-limited the request; retry later (LLM.retrySchedule honours retry-after) or lower the request rate.`,
  Authentication: (p) =>
    `${p} rejected the credentials; check the API key (e.g. ANTHROPIC_API_KEY / OPENAI_API_KEY) and its permissions.`,
  InvalidRequest: (p) =>
    `${p} rejected the request; check the model name and the parameters (max tokens, messages). Retrying will not help.`,
  Overloaded: (p) => `${p} is failing or overloaded; retry later (LLM.retrySchedule retries this).`,
  Network: (p) =>
    `could not talk to ${p} (connection failed, was cut, or the response was unreadable); check the network and baseURL, then retry.`,
  Timeout: (p) => `${p} did not answer in time; retry, or raise the timeout / lower max tokens.`,
  InvalidOutput: (p) =>
    `the ${p} model's answer is not what was asked for; tighten the prompt or the schema, or retry the step.`,
  QuotaExceeded: (p) =>
    `the ${p} account has run out of credit or hit its spending limit; check the plan and billing details in the ${p} console (add credit or raise the limit). Retrying will not help until then.`,
  Refused: (p) =>
    `the ${p} model refused to answer; rephrase the request (the refusal says why). Retrying the same request will likely be refused again.`
}

/**
 * A failed model call. `reason` classifies it, `provider` names who failed (`"anthropic"`, `"openai"`,
 * `"local"`, `"scripted"`), `status` is the HTTP status when there was one, `retryAfter` is the delay the provider
 * asked for (from `retry-after`), and `detail` is what the provider or the decoder said.
 *
 * @example
 * ```ts
 * import { LLMError } from "@eventflow/llm"
 *
 * const error = new LLMError.LLMError({ reason: "Authentication", provider: "openai", status: 401, detail: "bad key" })
 * error.message
 * // openai call failed (Authentication, HTTP 401): bad key
 * // openai rejected the credentials; check the API key (e.g. ANTHROPIC_API_KEY / OPENAI_API_KEY) and its permissions.
 * ```
 *
 * @since 0.1.0
 * @category Errors
 */
export class LLMError extends Data.TaggedError("LLMError")<{
  readonly reason: LLMErrorReason
  readonly provider: string
  readonly detail: string
  readonly status?: number | undefined
  readonly retryAfter?: Duration.Duration | undefined
  readonly cause?: unknown
}> {
  /** Whether retrying can help: `RateLimited`, `Overloaded`, `Network` or `Timeout`. */
  get isTransient(): boolean {
    return transientReasons.has(this.reason)
  }

  override get message(): string {
    const status = this.status === undefined ? "" : `, HTTP ${this.status}`
    const after = this.retryAfter === undefined ? "" : `, retry after ${Duration.format(this.retryAfter)}`
    return `${this.provider} call failed (${this.reason}${status}${after}): ${this.detail}\n${advice[this.reason](
      this.provider
    )}`
  }
}

/**
 * Tests whether a value is an {@link LLMError}.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isLLMError = (u: unknown): u is LLMError => Predicate.isTagged(u, "LLMError") && u instanceof LLMError

/**
 * Tests whether a value is an {@link LLMError} worth retrying (see {@link transientReasons}).
 *
 * @since 0.1.0
 * @category Guards
 */
export const isTransient = (u: unknown): u is LLMError => isLLMError(u) && u.isTransient
