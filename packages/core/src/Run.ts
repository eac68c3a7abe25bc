/**
 * Runs: the handle of a started run (result, stream, send, cancel, status) and the options of a run.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { AnyEvent } from "./Event.js"
import type { Snapshot } from "./Snapshot.js"
import type * as Workflow from "./Workflow.js"
import type {
  InvalidEventError,
  RunError,
  RunNotActiveError,
  RunStoreError,
  UnknownStepError
} from "./WorkflowError.js"

/**
 * An event published to a run's stream, as the raw event object (`_tag` plus fields): `ctx.write` events,
 * `InputRequired` prompts, the terminal event and, with `internal: true`, trace events.
 *
 * @since 0.1.0
 * @category Models
 */
export type PublishedEvent = AnyEvent

/**
 * The status of a run. `waiting`: idle with an open `waitFor`, an unanswered `InputRequired`, or a step that
 * accepts events from outside.
 *
 * @since 0.1.0
 * @category Models
 */
export type Status = "running" | "waiting" | "completed" | "failed" | "cancelled" | "timed-out"

/**
 * Options of `Workflow.run`, `Workflow.start` and `Workflow.stream`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunOptions<S = unknown> {
  /** The run's id (default: a random UUID). */
  readonly runId?: string | undefined
  /** Run timeout; overrides the workflow's `timeout`. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Initial state; overrides the workflow's `initialState`. */
  readonly state?: S | undefined
  /** `false` skips the graph checks (not the definition checks). Default `true`. */
  readonly validate?: boolean | undefined
  /**
   * `false` records no trace events (`StepStarted`, `EventDispatched`, ...): for very long or very hot runs
   * whose internal stream nobody reads. Default `true`.
   */
  readonly trace?: boolean | undefined
  /**
   * Checkpoint to the `RunStore` after every step completion and every send, so that a killed process loses
   * nothing: `Workflow.resume(wf, runId)` continues from the last checkpoint. Requires a `RunStore` layer.
   */
  readonly durable?: boolean | undefined
}

/**
 * The handle of a started run.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunHandle<W extends Workflow.Any = Workflow.Any> {
  readonly runId: string
  /** Waits for the end of the run. */
  readonly result: Effect.Effect<Workflow.Output<W>, RunError<Workflow.Error<W>>>
  /**
   * Replays everything published so far, then follows live; ends right after the terminal event
   * (`StopEvent`, `WorkflowFailed`, `WorkflowTimedOut` or `WorkflowCancelled`). `internal: true` adds trace events.
   */
  events(options?: { readonly internal?: boolean | undefined }): Stream.Stream<PublishedEvent>
  /**
   * Sends an event into the run (decoded with its schema): to a waiter, to every step that accepts it, or to one
   * named step. In a durable run, `RunStoreError` when the checkpoint of the event was not saved: the run keeps the
   * event and saves it (and goes on) once the store takes writes again.
   */
  send(
    event: unknown,
    options?: { readonly step?: string | undefined }
  ): Effect.Effect<void, UnknownStepError | InvalidEventError | RunNotActiveError | RunStoreError>
  /** Interrupts all steps, publishes `WorkflowCancelled`; `result` fails with `WorkflowCancelledError`. */
  readonly cancel: Effect.Effect<void>
  readonly status: Effect.Effect<Status>
  /**
   * Waits until the run has ended (`result` is ready) or is `waiting` for input, and succeeds with its status then:
   * e.g. an HTTP handler that starts a run answers with its result, or with the prompt it waits on. A run detached
   * from this process (its scope closed) settles with the status it was left in.
   */
  readonly settled: Effect.Effect<Status>
  /**
   * The prompts (`InputRequired`, or a `waitFor` prompt) that no external event has answered yet, oldest first.
   * `eventId` is the prompt's id (a `waitFor` prompt's is its waiter's key).
   */
  readonly pending: Effect.Effect<ReadonlyArray<{ readonly eventId: string; readonly prompt: AnyEvent }>>
  /** A JSON-safe snapshot of the run, valid at any moment; `Workflow.resume` continues from it. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** The run's current state (a read of `ctx.state`). */
  readonly state: Effect.Effect<Workflow.State<W>>
}
