/**
 * A run's error as its journal's `RunEnded` (or a snapshot) keeps it, and back: the `_tag` and message, the error's
 * own fields as JSON (or the value itself when it is a string, number or boolean), and whether it was a defect. A
 * durable parent whose step is executed again after a restart gets its ended child's error back from it (`ctx.run`).
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import { WorkflowTimeoutError } from "../WorkflowError.js"

/** What is kept of a run's error. @internal */
export interface EncodedRunError {
  readonly _tag?: string
  readonly message: string
  readonly defect?: boolean
  readonly fields?: { readonly [key: string]: unknown }
  readonly value?: string | number | boolean
}

/** The error's own enumerable fields (but `_tag`), as JSON; `undefined` when they do not make JSON. */
const fieldsOf = (error: object): { readonly [key: string]: unknown } | undefined => {
  const fields: Record<string, unknown> = {}
  let any = false
  for (const key of Object.keys(error)) {
    if (key === "_tag" || key === "message" || key === "stack") continue
    fields[key] = (error as Record<string, unknown>)[key]
    any = true
  }
  if (!any) return undefined
  try {
    const json = JSON.stringify(fields)
    return json === undefined ? undefined : (JSON.parse(json) as Record<string, unknown>)
  } catch {
    return undefined
  }
}

/** `{ _tag?, message }`, as step errors are stored (`snapshot.ts`'s `encodeError`). */
const encodeError = (error: unknown): { readonly _tag?: string; readonly message: string } => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    let text = typeof message === "string" && message.length > 0 ? message : undefined
    if (text === undefined) {
      try {
        text = JSON.stringify(error) ?? String(error)
      } catch {
        text = String(error)
      }
    }
    return typeof tag === "string" ? { _tag: tag, message: text } : { message: text }
  }
  return { message: String(error) }
}

/** Encodes a run's error for its end (`RunEnded.error`, a snapshot's `error`). @internal */
export const encodeRunError = (error: unknown, defect = false): EncodedRunError => {
  const base = encodeError(error)
  const extra: { defect?: boolean; fields?: { readonly [key: string]: unknown }; value?: string | number | boolean } =
    {}
  if (defect) extra.defect = true
  if (typeof error === "object" && error !== null) {
    let fields = fieldsOf(error)
    // An empty message is stored as the error's JSON (for people); the error's own message is kept as it was.
    const own = (error as { readonly message?: unknown }).message
    if (typeof own === "string" && own !== base.message) fields = { ...fields, message: own }
    if (fields !== undefined) extra.fields = fields
  } else if (typeof error === "string" || typeof error === "boolean" || Number.isFinite(error)) {
    extra.value = error as string | number | boolean
  }
  return { ...base, ...extra }
}

/** A `WorkflowTimeoutError`'s `timeout` as JSON: milliseconds, or a `Duration`'s JSON form. */
const timeoutOf = (u: unknown): Duration.Duration => {
  if (typeof u === "number") return Duration.millis(u)
  if (typeof u === "object" && u !== null) {
    const o = u as { readonly millis?: unknown; readonly nanos?: unknown; readonly _tag?: unknown }
    if (typeof o.millis === "number") return Duration.millis(o.millis)
    if (typeof o.nanos === "string") return Duration.nanos(BigInt(o.nanos))
    if (o._tag === "Infinity") return Duration.infinity
  }
  return Duration.zero
}

/**
 * The error a run ended with, made again from what its end kept: the core's `WorkflowTimeoutError` as itself, any
 * other tagged error as a `Data.TaggedError` with the same `_tag`, fields and message (so `Effect.catchTag` and its
 * fields work; `instanceof` the original class does not), a string, number or boolean failure as that value, an
 * untagged object as an `Error` with its message and fields. `undefined` when nothing was kept. @internal
 */
export const decodeRunError = (
  info: unknown,
  run: { readonly workflow: string; readonly runId: string }
): { readonly error: unknown; readonly defect: boolean } | undefined => {
  if (typeof info !== "object" || info === null) return undefined
  const e = info as Partial<EncodedRunError>
  if (typeof e.message !== "string") return undefined
  const defect = e.defect === true
  if (e.value !== undefined) return { error: e.value, defect }
  const fields = typeof e.fields === "object" && e.fields !== null ? e.fields : {}
  if (e._tag === "WorkflowTimeoutError") {
    const steps = (fields as { readonly activeSteps?: unknown }).activeSteps
    return {
      error: new WorkflowTimeoutError({
        workflow: typeof fields.workflow === "string" ? fields.workflow : run.workflow,
        runId: typeof fields.runId === "string" ? fields.runId : run.runId,
        timeout: timeoutOf(fields.timeout),
        activeSteps: Array.isArray(steps) ? steps.filter((s): s is string => typeof s === "string") : []
      }),
      defect
    }
  }
  const error: Error =
    typeof e._tag === "string"
      ? new (Data.TaggedError(e._tag) as unknown as new (args: object) => Error)(fields)
      : Object.assign(new Error(e.message), fields)
  // The message as the original had it (a class's `message` getter is not here to compute it).
  const message = typeof fields.message === "string" ? fields.message : e.message
  Object.defineProperty(error, "message", { value: message, enumerable: false, writable: true, configurable: true })
  return { error, defect }
}
