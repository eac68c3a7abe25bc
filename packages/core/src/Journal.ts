/**
 * The run journal (DESIGN.md "The journal"): a durable run as the ordered list of what its interpreter consumed and
 * produced. Each entry is plain JSON (events encoded with their schemas, the state with the workflow's `state`
 * schema, errors as `{ _tag?, message }`) and carries a deterministic id derived from the run's event ids (`"0"`,
 * `p/s/k`, `x/n`) and invocation ids (`step` + event id), so appending the same entry twice is a no-op.
 *
 * | entry                 | id                              | written when                                      |
 * | --------------------- | ------------------------------- | ------------------------------------------------- |
 * | `RunStarted`          | `start`                         | the run starts (input, initial state, signature)  |
 * | `InvocationCompleted` | `done:<step>@<eventId>`         | an invocation returns (events, writes, sends, state) |
 * | `AttemptFailed`       | `attempt:<step>@<eventId>#<n>`  | attempt `n` failed and will be retried            |
 * | `InvocationFailed`    | `failed:<step>@<eventId>`       | an invocation failed for good                     |
 * | `EventSent`           | `emit:<p/s/k>`                  | a step's `ctx.send` (before it is dispatched)     |
 * | `ExternalEventSent`   | `sent:x/<n>`                    | `handle.send` / the HTTP API sent an event        |
 * | `WaiterRegistered`    | `wait:<step>@<eventId>#<i>`     | `ctx.waitFor` registered its i-th waiter          |
 * | `WaiterAnswered`      | `answer:<step>@<eventId>#<i>`   | that waiter got its event (or expired)            |
 * | `RunEnded`            | `end`                           | the run ended                                     |
 *
 * The entries are kept by a {@link JournalStore}; `signature` identifies the workflow definition a run was started
 * with, so a resume can tell a journal written by another definition.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as internal from "./internal/journal.js"
import * as check_ from "./internal/journalCheck.js"
import type * as Workflow from "./Workflow.js"
import { JournalMismatchError } from "./WorkflowError.js"

/**
 * The format version of journal entries; `RunStarted` records it.
 *
 * @since 0.1.0
 * @category Models
 */
export const version = 1

/** A JSON value: an event, a state or a result encoded with its schema. */
const Encoded = Schema.Unknown

/**
 * A step error as stored: its `_tag` when it has one, and a message. A run's end (`RunEnded`) keeps more, so that a
 * durable parent whose step runs again gets its child's error back: the error's own `fields` as JSON (or the `value`
 * itself when it is a string, number or boolean), and `defect` when the run died of a defect.
 *
 * @since 0.1.0
 * @category Models
 */
export const ErrorInfo = Schema.Struct({
  _tag: Schema.optional(Schema.String),
  message: Schema.String,
  defect: Schema.optional(Schema.Boolean),
  fields: Schema.optional(Schema.Record({ key: Schema.String, value: Encoded })),
  value: Schema.optional(Schema.Union(Schema.String, Schema.Number, Schema.Boolean))
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ErrorInfo = typeof ErrorInfo.Type

/**
 * An event with its deterministic id (`"0"`, `p/s/k`, `x/n`), encoded with its schema.
 *
 * @since 0.1.0
 * @category Models
 */
export const IdentifiedEvent = Schema.Struct({ id: Schema.String, event: Encoded })

/**
 * @since 0.1.0
 * @category Models
 */
export type IdentifiedEvent = typeof IdentifiedEvent.Type

/** Fields every entry has: its id, and when it was written (epoch ms; informative, for timelines). */
const common = {
  id: Schema.String,
  at: Schema.optional(Schema.Number)
}

/**
 * The run started: what it needs to be rebuilt from nothing.
 *
 * - `signature`: {@link signature} of the workflow the run was started with.
 * - `input`: the StartEvent's input (encoded); `state`: the initial state (encoded, `null` without a state schema).
 * - `options`: what changes the journal's meaning (`trace`: whether trace events are published; `timeout`: the run
 *   timeout in ms, from the run's start).
 * - `forkedFrom`: on a fork, where it came from.
 * - `parent`: on a child workflow's run (`ctx.run` / `ctx.start`), the run whose step runs it (its parent resumes
 *   it, `resumeAll` does not).
 * - `conversation`: on a run that continues another (`RunOptions.continue`), the conversation's id (its first run's
 *   id) and the run it continues.
 *
 * @since 0.1.0
 * @category Models
 */
export const RunStarted = Schema.TaggedStruct("RunStarted", {
  ...common,
  version: Schema.Number,
  runId: Schema.String,
  workflow: Schema.String,
  signature: Schema.String,
  input: Encoded,
  state: Encoded,
  options: Schema.Struct({ trace: Schema.Boolean, timeout: Schema.optional(Schema.Number) }),
  /**
   * Set on a fork (`Workflow.fork`): the run it was copied from, the offset of the last entry copied, and the
   * offset of the entry whose event was edited, if one was.
   */
  forkedFrom: Schema.optional(
    Schema.Struct({ runId: Schema.String, offset: Schema.Number, edited: Schema.optional(Schema.Number) })
  ),
  /** Set on a child workflow's run: the id of its parent run. */
  parent: Schema.optional(Schema.String),
  /** Set on a run that continues a conversation: the conversation's id and the run it continues. */
  conversation: Schema.optional(Schema.Struct({ id: Schema.String, previous: Schema.String })),
  /**
   * The W3C trace context the run continues (e.g. a server request's incoming `traceparent`): the trace id and the
   * id of the span the run is a child of. Recorded when the run was started under such a trace with a
   * `RunObserver` (telemetry) installed, so that a resume in another process continues the same trace.
   */
  traceParent: Schema.optional(Schema.Struct({ traceId: Schema.String, spanId: Schema.String }))
})

/**
 * An invocation (`step` handling the event `eventId` of tag `tag`) returned. Everything it did is committed here at
 * once: the events it returned (with their ids), the events it sent with `ctx.send` (with their ids and target step
 * when `ctx.send` named one), what it published with `ctx.write` (by write index), and the run's state after it.
 *
 * @since 0.1.0
 * @category Models
 */
export const InvocationCompleted = Schema.TaggedStruct("InvocationCompleted", {
  ...common,
  step: Schema.String,
  eventId: Schema.String,
  tag: Schema.String,
  attempts: Schema.Number,
  /** When its last attempt started (epoch ms; informative, for timelines: `at - startedAt` is how long it ran). */
  startedAt: Schema.optional(Schema.Number),
  /**
   * The chunk of the published log appended with this completion (the same content as a {@link Published} entry
   * `log:<from>`, carried here so that a durable hop is one entry).
   */
  log: Schema.optional(Schema.Struct({ from: Schema.Number, events: Schema.Array(Encoded) })),
  events: Schema.Array(IdentifiedEvent),
  sends: Schema.Array(Schema.Struct({ id: Schema.String, event: Encoded, step: Schema.optional(Schema.String) })),
  writes: Schema.Array(Schema.Struct({ index: Schema.Number, event: Encoded })),
  state: Encoded
})

/**
 * Attempt `attempt` of an invocation failed and the step's retry schedule will run it again.
 *
 * @since 0.1.0
 * @category Models
 */
export const AttemptFailed = Schema.TaggedStruct("AttemptFailed", {
  ...common,
  step: Schema.String,
  eventId: Schema.String,
  attempt: Schema.Number,
  /** When this attempt started (epoch ms; informative, for timelines). */
  startedAt: Schema.optional(Schema.Number),
  error: ErrorInfo
})

/**
 * An invocation failed for good after `attempts` attempts (`defect`: a defect or interruption, neither retried nor
 * routed to `StepFailed`). `event` is the `StepFailed` it dispatched when a step recovers, with its id.
 *
 * @since 0.1.0
 * @category Models
 */
export const InvocationFailed = Schema.TaggedStruct("InvocationFailed", {
  ...common,
  step: Schema.String,
  eventId: Schema.String,
  attempts: Schema.Number,
  /** When its last attempt started (epoch ms; informative, for timelines). */
  startedAt: Schema.optional(Schema.Number),
  defect: Schema.Boolean,
  error: ErrorInfo,
  event: Schema.optional(IdentifiedEvent),
  /** The step's own fiber was interrupted (never routed to `StepFailed`). */
  interrupted: Schema.optional(Schema.Boolean),
  /** The run's state with this invocation's updates committed (encoded with the state schema). */
  state: Schema.optional(Encoded)
})

/**
 * A step's `ctx.send`, journaled when it happens (before the event is dispatched, so that whatever handles it is
 * journaled after it): `eventId` is the sent event's `p/s/k` id, `step`/`from` the sending invocation, `target` the step
 * it was addressed to, if any. An engine that journals sends this way leaves `InvocationCompleted.sends` empty (that
 * field is for sends staged until their invocation completes).
 *
 * @since 0.1.0
 * @category Models
 */
export const EventSent = Schema.TaggedStruct("EventSent", {
  ...common,
  step: Schema.String,
  from: Schema.String,
  eventId: Schema.String,
  event: Encoded,
  target: Schema.optional(Schema.String)
})

/**
 * An event sent into the run from outside (`handle.send`, the server's events route): `eventId` is `x/<n>`, `step`
 * the step it was addressed to, if any.
 *
 * @since 0.1.0
 * @category Models
 */
export const ExternalEventSent = Schema.TaggedStruct("ExternalEventSent", {
  ...common,
  eventId: Schema.String,
  event: Encoded,
  step: Schema.optional(Schema.String),
  /** The admission verdict: the open prompt (its event id) it answered. */
  prompt: Schema.optional(Schema.String),
  /** The admission verdict: the open waiter (its key) it resolved. */
  waiter: Schema.optional(Schema.String),
  /** The admission verdict: kept for a waiter not registered yet (a resumed step re-executing up to its waitFor). */
  park: Schema.optional(Schema.Boolean)
})

/**
 * `ctx.waitFor` registered a waiter: `key` is `<step>@<eventId>#<index>` (the index-th wait of that invocation), `tag`
 * the awaited tag, `prompt` the event it published (with its id, the waiter key) and `requestId` the prompt's.
 *
 * @since 0.1.0
 * @category Models
 */
export const WaiterRegistered = Schema.TaggedStruct("WaiterRegistered", {
  ...common,
  key: Schema.String,
  step: Schema.String,
  eventId: Schema.String,
  index: Schema.Number,
  tag: Schema.String,
  prompt: Schema.optional(IdentifiedEvent),
  requestId: Schema.optional(Schema.String)
})

/**
 * A waiter was resolved: by an event (with that event's id), or by its timeout.
 *
 * @since 0.1.0
 * @category Models
 */
export const WaiterAnswered = Schema.TaggedStruct("WaiterAnswered", {
  ...common,
  key: Schema.String,
  step: Schema.String,
  eventId: Schema.String,
  index: Schema.Number,
  outcome: Schema.Union(
    Schema.TaggedStruct("Event", { answer: IdentifiedEvent }),
    Schema.TaggedStruct("Expired", {}),
    Schema.TaggedStruct("Abandoned", {})
  )
})

/**
 * A `ctx.write` of an invocation (id `write:<eventId>/<step>/w<index>`). Its event is in the published log
 * ({@link Published}); it is kept here only when it is a prompt (`InputRequired`), which opens a pending prompt. A
 * re-executed invocation does not publish again the writes journaled for it.
 *
 * @since 0.1.0
 * @category Models
 */
export const Written = Schema.TaggedStruct("Written", {
  ...common,
  step: Schema.String,
  eventId: Schema.String,
  index: Schema.Number,
  prompt: Schema.optional(Encoded)
})

/**
 * A `ctx.collect` call of an invocation (id `collect:<step>@<eventId>#<call>`): the event it offered (buffered when
 * `pushed`), what it expected (tags, or `count` events of one tag) and, by replaying it, what it returned.
 *
 * @since 0.1.0
 * @category Models
 */
export const Collected = Schema.TaggedStruct("Collected", {
  ...common,
  step: Schema.String,
  eventId: Schema.String,
  call: Schema.Number,
  bufferedAs: Schema.String,
  event: Encoded,
  pushed: Schema.Boolean,
  expected: Schema.Array(Schema.String),
  count: Schema.optional(Schema.Number)
})

/**
 * A chunk of the run's published log (id `log:<from>`): the events published at positions `from`, `from + 1`, ...
 * The published log of a durable run is the concatenation of its chunks, so positions (SSE offsets) are the same
 * after a restart.
 *
 * @since 0.1.0
 * @category Models
 */
export const Published = Schema.TaggedStruct("Published", {
  ...common,
  from: Schema.Number,
  events: Schema.Array(Encoded)
})

/**
 * The status a run ended with.
 *
 * @since 0.1.0
 * @category Models
 */
export const EndStatus = Schema.Literal("completed", "failed", "cancelled", "timed-out")

/**
 * The run ended: its result (encoded with the output schema) or its error.
 *
 * @since 0.1.0
 * @category Models
 */
export const RunEnded = Schema.TaggedStruct("RunEnded", {
  ...common,
  status: EndStatus,
  result: Schema.optional(Encoded),
  error: Schema.optional(ErrorInfo)
})

/**
 * A journal entry.
 *
 * @since 0.1.0
 * @category Models
 */
export const Entry = Schema.Union(
  RunStarted,
  InvocationCompleted,
  AttemptFailed,
  InvocationFailed,
  EventSent,
  ExternalEventSent,
  WaiterRegistered,
  WaiterAnswered,
  RunEnded,
  Written,
  Collected,
  Published
)

/**
 * @since 0.1.0
 * @category Models
 */
export type Entry = typeof Entry.Type

/**
 * @since 0.1.0
 * @category Models
 */
export type EndStatus = typeof EndStatus.Type

/**
 * An entry with its offset in the run's journal (0 for `RunStarted`, then one more per entry).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stored {
  readonly offset: number
  readonly entry: Entry
}

/**
 * The deterministic entry ids. `step`/`eventId` name an invocation (DESIGN.md "Identity"), `key` a waiter
 * (`<step>@<eventId>#<index>`, as built by {@link waiterKey}).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const ids: {
  readonly runStarted: string
  readonly invocationCompleted: (step: string, eventId: string) => string
  readonly attemptFailed: (step: string, eventId: string, attempt: number) => string
  readonly invocationFailed: (step: string, eventId: string) => string
  readonly eventSent: (eventId: string) => string
  readonly externalEventSent: (eventId: string) => string
  readonly waiterRegistered: (key: string) => string
  readonly waiterAnswered: (key: string) => string
  readonly runEnded: string
  readonly written: (writeId: string) => string
  readonly collected: (step: string, eventId: string, call: number) => string
  readonly published: (from: number) => string
} = internal.ids

/**
 * The key of the `index`-th waiter of an invocation: `<step>@<eventId>#<index>`, the key today's interpreter gives
 * its waiters.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const waiterKey: (step: string, eventId: string, index: number) => string = internal.waiterKey

/**
 * The text an entry is stored and compared as: JSON with object keys sorted at every level, so the same entry has
 * the same text whatever order its keys were built in.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const toJson: (entry: Entry) => string = internal.canonicalJson

/**
 * `true` when two entries are the same entry (equal as JSON, key order aside).
 *
 * @since 0.1.0
 * @category Guards
 */
export const isSame = (self: Entry, that: Entry): boolean =>
  self === that || internal.canonicalJson(self) === internal.canonicalJson(that)

/**
 * The definition signature of a workflow: a stable hash (56 hex digits) of its name, its input, output and state
 * schemas, its steps in order (names, accepted tags, declared emitted tags) and the schema of every event tag it
 * knows, taken from the schemas' ASTs. The same definition has the same signature in every process; renaming a step,
 * changing what it accepts or emits, or changing a schema's structure or constraints changes it. Docs (titles,
 * descriptions), workers, retries and timeouts do not. Computed once per workflow value.
 *
 * `RunStarted` records it, so an operator can see which runs predate a deploy and a resume can check the journal.
 *
 * @since 0.1.0
 * @category Accessors
 * @example
 * ```ts
 * import { defineWorkflow, Journal, StartEvent, StopEvent } from "@eventflow/core"
 * import { Effect } from "effect"
 *
 * const wf = defineWorkflow({ name: "echo" }).step(StartEvent, () => Effect.succeed(StopEvent.make({ result: 1 })), {
 *   name: "echo",
 *   emits: [StopEvent]
 * })
 * Journal.signature(wf) // "3f0c…" (56 hex digits)
 * ```
 */
export const signature: (self: Workflow.Any) => string = internal.signature

/**
 * Checks a journal against the workflow definition a resume would replay it with, and returns every mismatch (empty
 * when it fits): a journal of another workflow, a journaled step that no longer exists or no longer accepts the tag
 * it handled, an event id handled as two different tags, or an input, state, event or result the current schemas
 * cannot decode. Pure: nothing is run.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const check: (self: Workflow.Any, entries: ReadonlyArray<Stored>) => ReadonlyArray<string> = check_.check

/**
 * {@link check} as an effect: fails with one `JournalMismatchError` listing every mismatch.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const verify = (
  self: Workflow.Any,
  runId: string,
  entries: ReadonlyArray<Stored>
): Effect.Effect<void, JournalMismatchError> =>
  Effect.suspend(() => {
    const mismatches = check_.check(self, entries)
    return mismatches.length === 0
      ? Effect.void
      : Effect.fail(new JournalMismatchError({ workflow: self.name, runId, mismatches }))
  })
