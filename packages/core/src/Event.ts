/**
 * Events: the typed messages that steps react to and emit.
 *
 * An event type is an effect `Schema` of a tagged struct. `Event.define(tag, fields)` builds one whose
 * `make` is cheap (no re-validation of fields TypeScript already checked); any `Schema.TaggedStruct` is
 * accepted as an event type too. Events are decoded with their schema only where they cross a boundary
 * (`handle.send`, the HTTP server, snapshots).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as internal from "./internal/event.js"

/**
 * Any event value: a plain object with a string `_tag`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface AnyEvent {
  readonly _tag: string
}

/**
 * An event type: a schema whose decoded values are tagged objects. Routing is by exact `_tag`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EventType<A extends AnyEvent = any, I = any> extends Schema.Schema<A, I, never> {}

/**
 * The event type returned by {@link define}: a `Schema.TaggedStruct` with a cheap `make`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TaggedEvent<Tag extends string, Fields extends Schema.Struct.Fields>
  extends Schema.TaggedStruct<Tag, Fields> {}

/**
 * The type of the events an event type describes.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Type<T extends EventType> = Schema.Schema.Type<T>

/**
 * The `_tag` of the events an event type describes.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Tag<T extends EventType> = Schema.Schema.Type<T>["_tag"]

/**
 * Defines an event type: `Schema.TaggedStruct(tag, fields)` whose `make` builds a plain object without
 * validating the fields again (the compiler already checked them). Decoding with the schema still validates.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Event } from "@eventflow/core"
 *
 * const Query = Event.define("Query", { text: Schema.String })
 * const q = Query.make({ text: "hello" }) // { _tag: "Query", text: "hello" }
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const define: <const Tag extends string, Fields extends Schema.Struct.Fields>(
  tag: Tag,
  fields: Fields
) => TaggedEvent<Tag, Fields> = internal.define

/**
 * Returns the `_tag` an event type routes on.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const tagOf: (type: EventType) => string = internal.tagOf

/**
 * Tests whether a value is an event of the given type (exact `_tag` and a valid shape).
 *
 * @since 0.1.0
 * @category Guards
 */
export const is: <A extends AnyEvent>(type: EventType<A>) => (u: unknown) => u is A = (type) => Schema.is(type)

/**
 * Tests whether a value looks like an event: an object with a string `_tag`.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isEvent = (u: unknown): u is AnyEvent =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"

// -----------------------------------------------------------------------------
// Built-in events
// -----------------------------------------------------------------------------

/**
 * The event every run starts with. `input` has the workflow's `input` schema type.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StartEvent<I = unknown> {
  readonly _tag: "StartEvent"
  readonly input: I
}

/**
 * The event type of {@link StartEvent}s. Steps that match it receive `input` typed by the workflow.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const StartEvent: {
  make<I>(props: { readonly input: I }): StartEvent<I>
} & TaggedEvent<"StartEvent", { input: typeof Schema.Unknown }> = define("StartEvent", { input: Schema.Unknown }) as any

/**
 * The event that ends a run successfully with `result`. The first one wins.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StopEvent<O = unknown> {
  readonly _tag: "StopEvent"
  readonly result: O
}

/**
 * The event type of {@link StopEvent}s: `StopEvent.make({ result })`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const StopEvent: {
  make<O>(props: { readonly result: O }): StopEvent<O>
} & TaggedEvent<"StopEvent", { result: typeof Schema.Unknown }> = define("StopEvent", { result: Schema.Unknown }) as any

/**
 * Asks a person for input: published to the run's stream when a step returns or writes it. It stays
 * unanswered (the run is `"waiting"`) until an external event (`HumanResponse` or an `external` type) arrives.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const InputRequired = define("InputRequired", {
  prompt: Schema.String,
  requestId: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type InputRequired = typeof InputRequired.Type

/**
 * A person's answer, sent from outside with `handle.send(HumanResponse.make({ response }))`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const HumanResponse = define("HumanResponse", {
  response: Schema.String,
  requestId: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type HumanResponse = typeof HumanResponse.Type

/**
 * Routed to the steps that accept it when a step fails for good (after its retries). Such a step may
 * recover by returning a `StopEvent` or another event.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const StepFailed = define("StepFailed", {
  step: Schema.String,
  event: Schema.Unknown,
  error: Schema.Unknown,
  attempts: Schema.Number,
  /** `true` when the step died (a defect, e.g. a rejected `Effect.promise`) rather than failed; defects are not retried. */
  defect: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type StepFailed = typeof StepFailed.Type

// -----------------------------------------------------------------------------
// Published lifecycle events
// -----------------------------------------------------------------------------

/**
 * Terminal event of a run that failed. `step` is `null` when no step failed (a stalled run).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const WorkflowFailed = define("WorkflowFailed", {
  step: Schema.NullOr(Schema.String),
  error: Schema.Unknown,
  attempts: Schema.Number
})

/**
 * @since 0.1.0
 * @category Models
 */
export type WorkflowFailed = typeof WorkflowFailed.Type

/**
 * Terminal event of a run whose `timeout` expired.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const WorkflowTimedOut: TaggedEvent<
  "WorkflowTimedOut",
  { timeout: typeof Schema.DurationFromSelf; activeSteps: Schema.Array$<typeof Schema.String> }
> = define("WorkflowTimedOut", {
  timeout: Schema.DurationFromSelf,
  activeSteps: Schema.Array(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export interface WorkflowTimedOut {
  readonly _tag: "WorkflowTimedOut"
  readonly timeout: Duration.Duration
  readonly activeSteps: ReadonlyArray<string>
}

/**
 * Terminal event of a cancelled run.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const WorkflowCancelled = define("WorkflowCancelled", {})

/**
 * @since 0.1.0
 * @category Models
 */
export type WorkflowCancelled = typeof WorkflowCancelled.Type

/**
 * Trace event (`events({ internal: true })`): an execution of a step started.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const StepStarted = define("StepStarted", {
  step: Schema.String,
  eventId: Schema.String,
  attempt: Schema.Number
})

/**
 * Trace event: an invocation of a step completed; `emitted` lists the ids of the events it returned.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const StepCompleted = define("StepCompleted", {
  step: Schema.String,
  eventId: Schema.String,
  emitted: Schema.Array(Schema.String)
})

/**
 * Trace event: an execution of a step failed (it may be retried).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const StepFailedAttempt = define("StepFailedAttempt", {
  step: Schema.String,
  eventId: Schema.String,
  attempt: Schema.Number,
  error: Schema.Unknown
})

/**
 * Trace event: an event was routed to the listed steps.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const EventDispatched = define("EventDispatched", {
  eventId: Schema.String,
  tag: Schema.String,
  steps: Schema.Array(Schema.String)
})

/**
 * Trace event: nothing runs and nothing is queued; the run waits for something from outside.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const RunIdle = define("RunIdle", {})

/**
 * Trace event: an event that no step and no waiter accepts was dropped.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const UnhandledEvent = define("UnhandledEvent", {
  eventId: Schema.String,
  tag: Schema.String
})

/**
 * The terminal events: every run publishes exactly one of them, last.
 *
 * @since 0.1.0
 * @category Models
 */
export type TerminalEvent = StopEvent<unknown> | WorkflowFailed | WorkflowTimedOut | WorkflowCancelled

/**
 * Tags of the terminal events.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isTerminal = (event: AnyEvent): event is TerminalEvent => internal.terminalTags.has(event._tag)

/**
 * Tags of the trace events that only `events({ internal: true })` shows.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isInternal = (event: AnyEvent): boolean => internal.internalTags.has(event._tag)
