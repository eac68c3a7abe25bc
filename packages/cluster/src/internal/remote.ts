/**
 * Typed errors across the wire: a failure of a run's message on its runner crosses as `RemoteError` (its tag, message
 * and JSON-safe fields) and is rebuilt into the same core error class on the caller's side.
 */
import * as Errors from "@eventflow/core"
import * as Schema from "effect/Schema"

/** A typed failure of a run's message, as it crosses between processes. */
export class RemoteError extends Schema.TaggedError<RemoteError>("@eventflow/cluster/RemoteError")("RemoteError", {
  tag: Schema.String,
  message: Schema.String,
  fields: Schema.Unknown
}) {}

/** JSON-safe fields of an error (a `cause` becomes its message). */
const fieldsOf = (error: object): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(error)) {
    if (key === "_tag") continue
    if (value instanceof Error) out[key] = { message: value.message, _tag: (value as { _tag?: unknown })._tag }
    else {
      try {
        out[key] = JSON.parse(JSON.stringify(value ?? null))
      } catch {
        out[key] = String(value)
      }
    }
  }
  return out
}

/** @internal */
export const toRemote = (error: unknown): RemoteError => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    return new RemoteError({
      tag: typeof tag === "string" ? tag : "Error",
      message: String((error as { message?: unknown }).message ?? error),
      fields: fieldsOf(error)
    })
  }
  return new RemoteError({ tag: "Error", message: String(error), fields: {} })
}

/** The core error classes a run's message can fail with, by tag. */
const classes: Record<string, new (fields: any) => unknown> = {
  UnknownStepError: Errors.UnknownStepError,
  InvalidEventError: Errors.InvalidEventError,
  RunNotActiveError: Errors.RunNotActiveError,
  EventNotAcceptedError: Errors.EventNotAcceptedError,
  PromptNotOpenError: Errors.PromptNotOpenError,
  RunLimitError: Errors.RunLimitError,
  RunStoreError: Errors.RunStoreError,
  RunNotFoundError: Errors.RunNotFoundError,
  InvalidInputError: Errors.InvalidInputError,
  WorkflowValidationError: Errors.WorkflowValidationError,
  JournalStoreError: Errors.JournalStoreError
}

/** @internal */
export const fromRemote = (error: RemoteError): unknown => {
  const make = classes[error.tag]
  if (make === undefined) return error
  const fields = (typeof error.fields === "object" && error.fields !== null ? error.fields : {}) as Record<
    string,
    unknown
  >
  const cause = fields.cause
  return new make({
    ...fields,
    ...(cause !== undefined ? { cause: new Error(String((cause as { message?: unknown }).message ?? cause)) } : {})
  })
}
