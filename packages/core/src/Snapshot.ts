/**
 * Snapshots: a run's whole bookkeeping as plain JSON, valid at any moment (taken between two inputs of the
 * interpreter), from which `Workflow.resume` continues the run.
 *
 * Events are encoded with their schemas, the state with the workflow's `state` schema, step errors as
 * `{ _tag?, message }`. Event ids are the deterministic ids of DESIGN.md, so a resumed run publishes nothing twice.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The current snapshot format version. A snapshot of another version is rejected with `InvalidSnapshotError`.
 *
 * @since 0.1.0
 * @category Models
 */
export const version = 1

/**
 * The status of a run, as recorded in a snapshot.
 *
 * @since 0.1.0
 * @category Models
 */
export const Status = Schema.Literal("running", "waiting", "completed", "failed", "cancelled", "timed-out")

const Encoded = Schema.Unknown

/**
 * An event queued for a step: it starts when the step has a free worker slot.
 *
 * @since 0.1.0
 * @category Models
 */
export const Queued = Schema.Struct({ step: Schema.String, eventId: Schema.String, event: Encoded })

/**
 * An invocation that had started and not finished: re-executed on resume (at-least-once). `emitted`, `writes` and
 * `waits` count what it had already dispatched, published and awaited, so the re-execution does not do it twice;
 * `answers` are the events its finished waits received and `collects` what its completed `ctx.collect` calls
 * returned, which the re-execution gets again.
 *
 * @since 0.1.0
 * @category Models
 */
export const InFlight = Schema.Struct({
  step: Schema.String,
  eventId: Schema.String,
  event: Encoded,
  attempts: Schema.Number,
  emitted: Schema.Number,
  writes: Schema.Number,
  waits: Schema.Number,
  answers: Schema.Array(Schema.Struct({ index: Schema.Number, event: Encoded })),
  collects: Schema.Array(Schema.Struct({ index: Schema.Number, events: Schema.Array(Encoded) }))
})

/**
 * The snapshot of a run.
 *
 * @since 0.1.0
 * @category Models
 */
export const Snapshot = Schema.Struct({
  version: Schema.Number,
  workflow: Schema.String,
  runId: Schema.String,
  status: Status,
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  state: Encoded,
  external: Schema.Number,
  queued: Schema.Array(Queued),
  inFlight: Schema.Array(InFlight),
  collected: Schema.Array(
    Schema.Struct({ step: Schema.String, events: Schema.Array(Schema.Struct({ id: Schema.String, event: Encoded })) })
  ),
  waiters: Schema.Array(
    Schema.Struct({ key: Schema.String, step: Schema.String, eventId: Schema.String, tag: Schema.String })
  ),
  pending: Schema.Array(
    Schema.Struct({ eventId: Schema.String, requestId: Schema.optional(Schema.String), prompt: Encoded })
  ),
  unclaimed: Schema.Array(Schema.Struct({ id: Schema.String, event: Encoded })),
  published: Schema.Array(Encoded),
  result: Schema.optional(Encoded),
  error: Schema.optional(Encoded),
  /** The run whose step runs this one (a child workflow run by `ctx.run` / `ctx.start`). */
  parent: Schema.optional(Schema.String),
  /** The conversation this run continues (`RunOptions.continue`): its id and the run it continues. */
  conversation: Schema.optional(Schema.Struct({ id: Schema.String, previous: Schema.String }))
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Snapshot = typeof Snapshot.Type

/**
 * @since 0.1.0
 * @category Models
 */
export type Status = typeof Status.Type
