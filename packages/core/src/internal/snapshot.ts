/**
 * Encoding a run's bookkeeping to a JSON-safe `Snapshot` and back. Pure: no fibers, no clock.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { AnyEvent } from "../Event.js"
import * as Snapshot from "../Snapshot.js"
import { InvalidSnapshotError, StateNotSerializableError } from "../WorkflowError.js"
import * as I from "./interpreter.js"
import type { Plan } from "./plan.js"
import { encodeRunError } from "./runError.js"
import { fastEncode, notFast } from "./fastEncode.js"

/** Step errors are stored as `{ _tag?, message }`. @internal */
export const encodeError = (error: unknown): { readonly _tag?: string; readonly message: string } => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    const text = typeof message === "string" && message.length > 0 ? message : safeJson(error)
    return typeof tag === "string" ? { _tag: tag, message: text } : { message: text }
  }
  return { message: String(error) }
}

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

class DecodeFailure {
  constructor(
    readonly path: string,
    readonly detail: string
  ) {}
}

/** Encodes an event with the workflow's schema for its tag (events of unknown tags are kept as they are). */
export const encodeEvent = (plan: Plan, event: AnyEvent): unknown => {
  switch (event._tag) {
    case "StepFailed": {
      const e = event as any
      return { ...e, event: encodeEvent(plan, e.event), error: encodeError(e.error) }
    }
    case "WorkflowFailed":
    case "StepFailedAttempt":
      return { ...event, error: encodeError((event as any).error) }
    case "WorkflowTimedOut":
      return { ...event, timeout: Duration.toMillis((event as any).timeout) }
  }
  const schema = plan.registry.get(event._tag)
  if (schema === undefined) return event
  const fast = fastEncode(schema, event)
  return fast !== notFast ? fast : Schema.encodeUnknownSync(schema)(event)
}

/** @internal */
export const decodeEvent = (plan: Plan, encoded: unknown, path: string): AnyEvent => {
  if (typeof encoded !== "object" || encoded === null || typeof (encoded as any)._tag !== "string") {
    throw new DecodeFailure(path, `expected an event object with a string "_tag", got ${safeJson(encoded)}`)
  }
  const e = encoded as any
  switch (e._tag) {
    case "StepFailed":
      return { ...e, event: decodeEvent(plan, e.event, `${path}.event`) }
    case "WorkflowFailed":
    case "StepFailedAttempt":
      return e
    case "WorkflowTimedOut":
      return { ...e, timeout: Duration.millis(Number(e.timeout)) }
  }
  const schema = plan.registry.get(e._tag)
  if (schema === undefined) return e
  const result = Schema.decodeUnknownEither(schema)(e)
  if (Either.isLeft(result)) throw new DecodeFailure(path, ParseResult.TreeFormatter.formatErrorSync(result.left))
  return result.right
}

/**
 * Encodes the run's state with the workflow's `state` schema and checks that the result is JSON that decodes back:
 * a state that would not survive a snapshot (a function, a `Date` under `Schema.DateFromSelf`, a `Map`, ...) throws
 * `StateNotSerializableError` naming where, instead of coming back wrong after a resume.
 *
 * @internal
 */
export const encodeState = (
  plan: Plan,
  runId: string,
  schema: Schema.Schema<unknown, unknown, never> | undefined,
  value: unknown
): unknown => {
  const fail = (path: ReadonlyArray<PropertyKey>, detail: string) =>
    new StateNotSerializableError({ workflow: plan.name, runId, path, detail })
  if (schema === undefined) {
    const problem = notJson(value ?? null, [])
    if (problem !== undefined) throw fail(problem.path, `${problem.detail} (the workflow has no \`state\` schema)`)
    return value ?? null
  }
  const encoded = Schema.encodeEither(schema)(value)
  if (Either.isLeft(encoded)) {
    const [first] = ParseResult.ArrayFormatter.formatErrorSync(encoded.left)
    throw fail(first?.path ?? [], `it does not encode with the state schema: ${first?.message ?? "unknown error"}`)
  }
  const problem = notJson(encoded.right, [])
  if (problem !== undefined) throw fail(problem.path, `its encoded form ${problem.detail}`)
  const decoded = Schema.decodeUnknownEither(schema)(JSON.parse(JSON.stringify(encoded.right)))
  if (Either.isLeft(decoded)) {
    const [first] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
    throw fail(first?.path ?? [], `its JSON does not decode back with the state schema: ${first?.message ?? "?"}`)
  }
  return encoded.right
}

/** The first place where `u` is not plain JSON (functions, class instances, `Date`s, non-finite numbers...). */
const notJson = (
  u: unknown,
  path: Array<PropertyKey>
): { readonly path: ReadonlyArray<PropertyKey>; readonly detail: string } | undefined => {
  switch (typeof u) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(u) ? undefined : { path, detail: `is ${u}, which JSON turns into null` }
    case "object": {
      if (u === null) return undefined
      if (Array.isArray(u)) {
        for (let i = 0; i < u.length; i++) {
          if (u[i] === undefined) return { path: [...path, i], detail: "is undefined, which JSON turns into null" }
          const problem = notJson(u[i], [...path, i])
          if (problem !== undefined) return problem
        }
        return undefined
      }
      const proto = Object.getPrototypeOf(u)
      if (proto !== Object.prototype && proto !== null) {
        const name = (u as object).constructor?.name ?? "object"
        return { path, detail: `is a ${name}, which is not plain JSON` }
      }
      for (const key of Object.keys(u)) {
        const v = (u as Record<string, unknown>)[key]
        // An absent optional field: JSON drops it, which decodes the same.
        if (v === undefined) continue
        const problem = notJson(v, [...path, key])
        if (problem !== undefined) return problem
      }
      return undefined
    }
    default:
      return { path, detail: `is a ${typeof u}, which JSON cannot hold` }
  }
}

/** What a snapshot needs besides the interpreter state. @internal */
export interface SnapshotContext {
  readonly state: I.RunState
  readonly published: ReadonlyArray<AnyEvent>
  readonly encodedPublished: Array<unknown>
  readonly value: unknown
  /** The id under which an event was buffered by `ctx.collect`. */
  readonly collectedId: (event: AnyEvent) => string
  readonly status: Snapshot.Status
  readonly createdAt: number
  readonly now: number
  readonly result:
    | { readonly _tag: "Success"; readonly value: unknown }
    | { readonly _tag: "Failure"; readonly error: unknown }
    | undefined
}

/** @internal */
export const encode = (ctx: SnapshotContext): Snapshot.Snapshot => {
  const { state } = ctx
  const plan = state.plan
  const stepName = (s: number) => plan.steps[s].name
  // The published log only grows: encode what is new since the previous snapshot.
  for (let i = ctx.encodedPublished.length; i < ctx.published.length; i++) {
    ctx.encodedPublished.push(encodeEvent(plan, ctx.published[i]))
  }
  const queued: Array<Snapshot.Snapshot["queued"][number]> = []
  state.queues.forEach((queue, s) => {
    for (const inv of I.fifoItems(queue)) {
      queued.push({ step: stepName(s), eventId: inv.eventId, event: encodeEvent(plan, inv.event) })
    }
  })
  const inFlight = [...state.active].map((inv) => ({
    step: stepName(inv.step),
    eventId: inv.eventId,
    event: encodeEvent(plan, inv.event),
    attempts: inv.attempts,
    emitted: Math.max(inv.emitted, inv.replay?.emitted ?? 0),
    writes: Math.max(inv.writes, inv.replay?.writes ?? 0),
    waits: Math.max(inv.waits, inv.replay?.waits ?? 0),
    answers:
      inv.answers === undefined
        ? []
        : [...inv.answers].map(([index, event]) => ({ index, event: encodeEvent(plan, event) })),
    collects:
      inv.collectResults === undefined
        ? []
        : [...inv.collectResults].map(([index, events]) => ({
            index,
            events: events.map((event) => encodeEvent(plan, event))
          }))
  }))
  const stateSchema = plan.workflow.state as Schema.Schema<unknown, unknown, never> | undefined
  return {
    version: Snapshot.version,
    workflow: plan.name,
    runId: state.runId,
    status: ctx.status,
    createdAt: ctx.createdAt,
    updatedAt: ctx.now,
    state: encodeState(plan, state.runId, stateSchema, ctx.value),
    external: state.external,
    queued,
    inFlight,
    collected: [...state.collected].map(([step, events]) => ({
      step,
      events: events.map((event) => ({ id: ctx.collectedId(event), event: encodeEvent(plan, event) }))
    })),
    waiters: state.waiters.map((w) => ({
      key: w.key,
      step: stepName(w.invocation.step),
      eventId: w.invocation.eventId,
      tag: w.tag
    })),
    pending: state.pending.map((p) => ({
      eventId: p.eventId,
      requestId: p.requestId,
      prompt: encodeEvent(plan, p.prompt)
    })),
    unclaimed: state.unclaimed.map((u) => ({ id: u.id, event: encodeEvent(plan, u.event) })),
    published: ctx.encodedPublished.slice(),
    ...(ctx.result?._tag === "Success"
      ? {
          result: Schema.encodeUnknownSync(plan.workflow.output as Schema.Schema<unknown, unknown, never>)(
            ctx.result.value
          )
        }
      : {}),
    ...(ctx.result?._tag === "Failure" ? { error: encodeRunError(ctx.result.error) } : {})
  }
}

/** A decoded snapshot, ready to become a run again. @internal */
export interface Restored {
  readonly snapshot: Snapshot.Snapshot
  readonly state: I.RunState
  readonly published: Array<AnyEvent>
  readonly value: unknown
  readonly inFlight: ReadonlyArray<I.Invocation>
  readonly result: unknown
  readonly collectedIds: ReadonlyArray<readonly [AnyEvent, string]>
}

/** @internal */
export const decode = (plan: Plan, input: unknown, trace: boolean): Restored | InvalidSnapshotError => {
  const fail = (detail: string) => new InvalidSnapshotError({ workflow: plan.name, detail })
  const decoded = Schema.decodeUnknownEither(Snapshot.Snapshot)(input)
  if (Either.isLeft(decoded)) {
    return fail(`it is not a snapshot:\n${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
  }
  const snapshot = decoded.right
  if (snapshot.version !== Snapshot.version) {
    return fail(`format version ${snapshot.version} is not supported (this version reads ${Snapshot.version}).`)
  }
  if (snapshot.workflow !== plan.name) {
    return fail(`it is a snapshot of workflow "${snapshot.workflow}", not "${plan.name}".`)
  }
  try {
    const stepIndex = (name: string, path: string): number => {
      const index = plan.stepIndex.get(name)
      if (index === undefined) {
        throw new DecodeFailure(
          path,
          `the workflow has no step "${name}" (steps: ${plan.steps.map((s) => s.name).join(", ")})`
        )
      }
      return index
    }
    const state = I.make(plan, snapshot.runId, trace)
    state.external = snapshot.external
    snapshot.queued.forEach((q, i) => {
      const s = stepIndex(q.step, `queued[${i}].step`)
      const inv = I.invocation(s, q.eventId, decodeEvent(plan, q.event, `queued[${i}].event`))
      state.queues[s].items.push(inv)
      state.queued++
    })
    const inFlight = snapshot.inFlight.map((f, i) => {
      const s = stepIndex(f.step, `inFlight[${i}].step`)
      const inv = I.invocation(s, f.eventId, decodeEvent(plan, f.event, `inFlight[${i}].event`), {
        emitted: f.emitted,
        writes: f.writes,
        waits: f.waits
      })
      inv.attempts = f.attempts
      if (f.collects.length > 0) {
        inv.collectResults = new Map(
          f.collects.map((c, j) => [
            c.index,
            c.events.map((e, k) => decodeEvent(plan, e, `inFlight[${i}].collects[${j}].events[${k}]`))
          ])
        )
      }
      if (f.answers.length > 0) {
        inv.answers = new Map(
          f.answers.map((a, j) => [a.index, decodeEvent(plan, a.event, `inFlight[${i}].answers[${j}].event`)])
        )
      }
      return inv
    })
    const collectedIds: Array<readonly [AnyEvent, string]> = []
    snapshot.collected.forEach((c, i) => {
      stepIndex(c.step, `collected[${i}].step`)
      state.collected.set(
        c.step,
        c.events.map((e, j) => {
          const event = decodeEvent(plan, e.event, `collected[${i}].events[${j}].event`)
          collectedIds.push([event, e.id])
          return event
        })
      )
    })
    // A waitFor prompt is answered only through its waiter (registered again when its step is re-executed).
    const waiterTags = new Map(snapshot.waiters.map((w) => [w.key, w.tag]))
    snapshot.pending.forEach((p, i) => {
      // A snapshot written before prompts carried their id in `requestId`: the prompt's event id is its id.
      const requestId = p.requestId ?? p.eventId
      const prompt = decodeEvent(plan, p.prompt, `pending[${i}].prompt`)
      const awaits = waiterTags.get(p.eventId)
      state.pending.push({
        eventId: p.eventId,
        requestId,
        prompt:
          prompt._tag === "InputRequired" && (prompt as { requestId?: unknown }).requestId === undefined
            ? ({ ...prompt, requestId } as typeof prompt)
            : prompt,
        ...(awaits === undefined ? {} : { awaits })
      })
    })
    snapshot.unclaimed.forEach((u, i) => {
      state.unclaimed.push({ id: u.id, event: decodeEvent(plan, u.event, `unclaimed[${i}].event`) })
    })
    const published = snapshot.published.map((e, i) => decodeEvent(plan, e, `published[${i}]`))
    const stateSchema = plan.workflow.state as Schema.Schema<unknown, unknown, never> | undefined
    let value: unknown = snapshot.state
    if (stateSchema !== undefined) {
      const result = Schema.decodeUnknownEither(stateSchema)(snapshot.state)
      if (Either.isLeft(result))
        throw new DecodeFailure("state", ParseResult.TreeFormatter.formatErrorSync(result.left))
      value = result.right
    }
    let result: unknown
    if (snapshot.status === "completed") {
      const decodedResult = Schema.decodeUnknownEither(plan.workflow.output as Schema.Schema<unknown, unknown, never>)(
        snapshot.result
      )
      if (Either.isLeft(decodedResult)) {
        throw new DecodeFailure("result", ParseResult.TreeFormatter.formatErrorSync(decodedResult.left))
      }
      result = decodedResult.right
    }
    return { snapshot, state, published, value, inFlight, result, collectedIds }
  } catch (error) {
    if (error instanceof DecodeFailure) return fail(`${error.path}: ${error.detail}`)
    throw error
  }
}
