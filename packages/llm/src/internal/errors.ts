import * as Duration from "effect/Duration"
import type { LLMErrorReason } from "../LLMError.js"
import { LLMError } from "../LLMError.js"

/** The error classes both official SDKs (Stainless-generated) export. */
export interface SdkErrors {
  readonly APIError: abstract new (
    ...args: Array<any>
  ) => Error & {
    readonly status: number | undefined
    readonly headers: Headers | undefined
    readonly error: unknown
  }
  readonly APIConnectionError: abstract new (...args: Array<any>) => Error
  readonly APIConnectionTimeoutError: abstract new (...args: Array<any>) => Error
}

/** Parses `retry-after-ms` / `retry-after` (seconds or an HTTP date). */
export const retryAfterOf = (headers: Headers | undefined, now: number = Date.now()): Duration.Duration | undefined => {
  if (headers === undefined) return undefined
  const ms = headers.get("retry-after-ms")
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) return Duration.millis(Math.max(0, Number(ms)))
  const value = headers.get("retry-after")
  if (value === null || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Duration.seconds(Math.max(0, seconds))
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

export const reasonOfStatus = (status: number): LLMErrorReason => {
  if (status === 429) return "RateLimited"
  if (status === 401 || status === 403) return "Authentication"
  if (status === 408) return "Timeout"
  if (status >= 500) return "Overloaded"
  return "InvalidRequest"
}

/** Error `type`s sent inside a stream (no HTTP status), e.g. Anthropic's `event: error`. */
const reasonOfType = (type: string | undefined): LLMErrorReason | undefined => {
  switch (type) {
    case "rate_limit_error":
      return "RateLimited"
    case "authentication_error":
    case "permission_error":
      return "Authentication"
    case "invalid_request_error":
    case "not_found_error":
    case "request_too_large":
      return "InvalidRequest"
    case "overloaded_error":
    case "api_error":
    case "server_error":
      return "Overloaded"
    case "timeout_error":
      return "Timeout"
    default:
      return undefined
  }
}

/** OpenAI's `insufficient_quota` (a 429 that is not a rate limit): in the error's `code` or `type`. */
const isQuotaError = (cause: { readonly error: unknown }): boolean => {
  const fields = cause as { readonly code?: unknown; readonly type?: unknown }
  const body = cause.error as { readonly code?: unknown; readonly error?: { readonly code?: unknown } } | undefined
  return [fields.code, fields.type, body?.code, body?.error?.code, typeOf(cause.error)].includes("insufficient_quota")
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const typeOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const error = (body as { error?: unknown }).error
  const type = typeof error === "object" && error !== null ? (error as { type?: unknown }).type : undefined
  if (typeof type === "string") return type
  const top = (body as { type?: unknown }).type
  return typeof top === "string" ? top : undefined
}

/** Maps anything an SDK call threw to an `LLMError`. */
export const fromSdkError =
  (provider: string, sdk: SdkErrors) =>
  (cause: unknown): LLMError => {
    if (cause instanceof LLMError) return cause
    if (cause instanceof sdk.APIConnectionTimeoutError) {
      return new LLMError({ reason: "Timeout", provider, detail: messageOf(cause), cause })
    }
    if (cause instanceof sdk.APIConnectionError) {
      const inner = (cause as { cause?: unknown }).cause
      const detail = inner === undefined ? messageOf(cause) : `${messageOf(cause)} (${messageOf(inner)})`
      return new LLMError({ reason: "Network", provider, detail, cause })
    }
    if (cause instanceof sdk.APIError) {
      const status = cause.status
      if (status === undefined) {
        const reason = reasonOfType(typeOf(cause.error)) ?? "Overloaded"
        return new LLMError({ reason, provider, detail: messageOf(cause), cause })
      }
      const reason = status === 429 && isQuotaError(cause) ? "QuotaExceeded" : reasonOfStatus(status)
      return new LLMError({
        reason,
        provider,
        status,
        detail: messageOf(cause),
        retryAfter: reason === "RateLimited" || reason === "Overloaded" ? retryAfterOf(cause.headers) : undefined,
        cause
      })
    }
    if (cause instanceof SyntaxError) {
      return new LLMError({
        reason: "Network",
        provider,
        detail: `the response could not be read, it is not valid JSON (${cause.message})`,
        cause
      })
    }
    // Socket errors surfacing while a body is read (e.g. undici's "terminated" when a stream is cut).
    const inner = (cause as { cause?: unknown } | undefined)?.cause
    return new LLMError({
      reason: "Network",
      provider,
      detail: inner === undefined ? messageOf(cause) : `${messageOf(cause)} (${messageOf(inner)})`,
      cause
    })
  }
