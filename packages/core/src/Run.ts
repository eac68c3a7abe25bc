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
  EventNotAcceptedError,
  InvalidEventError,
  PromptNotOpenError,
  RunError,
  RunLimitError,
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
  /** Caps on what sends from outside (`handle.send`, HTTP) may pile up in this run; see {@link RunLimits}. */
  readonly limits?: RunLimits | undefined
  /** Overrides the workflow's `maxRecoveries`: how many step failures this run may route to `StepFailed`. */
  readonly maxRecoveries?: number | undefined
  /**
   * Continues a conversation: the new run starts from the final state of this earlier run of the same workflow (a
   * run id, read from the `RunStore`, or a handle) instead of `initialState`, and belongs to its conversation (whose
   * id is the first run's id): `RunStore.list({ conversation })` lists its runs. Only the state carries over: the
   * earlier run's unclaimed events and `collect` buffers do not. The earlier run must have ended; anything else
   * fails with `WorkflowValidationError`. See README "Conversations".
   */
  readonly continue?: string | RunHandle<any, any> | undefined
}

/**
 * Per-run caps on what sends from outside (`handle.send`, HTTP) may pile up; a send past a cap fails with
 * `RunLimitError`, nothing reaches the run, and the run goes on as it was. `maxPending` counts open prompts plus
 * unclaimed events (sent in, taken by no step or waiter); an answer that names an open prompt's `requestId`, or that
 * an open `ctx.waitFor` takes, is still accepted at that cap. The log caps refuse every send once the published log is that large (a run
 * there can be cancelled, or resumed with higher limits). Steps inside the run are never limited.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunLimits {
  /** The most open prompts plus unclaimed events (sent, taken by no step or waiter) a run holds. Default 1,000. */
  readonly maxPending?: number | undefined
  /** The most events in the published log (trace events included). Default 100,000. */
  readonly maxLogEvents?: number | undefined
  /** The largest published log, in bytes of JSON (approximately). Default 32 MiB. */
  readonly maxLogBytes?: number | undefined
}

/**
 * The default of `RunHandle`'s extra error: none for a known workflow, anything for "some workflow"
 * (`RunHandle` alone accepts every handle, durable ones included).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type HandleError<W extends Workflow.Any> = unknown extends Workflow.Error<W> ? Workflow.Error<W> : never

/**
 * The handle of a started run.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunHandle<W extends Workflow.Any = Workflow.Any, E = HandleError<W>> {
  readonly runId: string
  /** Waits for the end of the run (`E`: what else it may fail with, `RunStoreError` for a durable run). */
  readonly result: Effect.Effect<Workflow.Output<W>, RunError<Workflow.Error<W>> | E>
  /**
   * Replays everything published so far, then follows live; ends right after the terminal event
   * (`StopEvent`, `WorkflowFailed`, `WorkflowTimedOut` or `WorkflowCancelled`). `internal: true` adds trace events.
   */
  events(options?: { readonly internal?: boolean | undefined }): Stream.Stream<PublishedEvent>
  /**
   * Follows the run with a callback: calls `f` with each published event and its offset (its position in the
   * run's published log, trace events included, as in `events` of the `RunEngine` and SSE's ids), in order, from
   * offset `from` (default 0: everything published so far), then live; succeeds right after the terminal event
   * (or when the run is detached from this process). The next event is passed only once `f`'s effect completes
   * (backpressure); a failure of `f` ends the follow with it; interrupting the follow unsubscribes it.
   * `internal: true` adds trace events.
   *
   * Use it where a process follows many runs at once (a server holding thousands of runs that wait for people):
   * it runs on the calling fiber with one listener on the run's log, where a `Stream` consumer of `events()` costs
   * ~20 KB per follower in Effect 3. Use `events()` to compose with `Stream` operators.
   *
   * @since 0.1.0
   */
  follow<E = never, R = never>(
    f: (event: PublishedEvent, offset: number) => Effect.Effect<unknown, E, R>,
    options?: { readonly internal?: boolean | undefined; readonly from?: number | undefined }
  ): Effect.Effect<void, E, R>
  /**
   * Sends an event into the run from outside (decoded with its schema): to a waiter, to every step that accepts it,
   * or to one named step. Only an event an open `ctx.waitFor` awaits, `HumanResponse` and the workflow's `external`
   * types may enter (`EventNotAcceptedError` otherwise; a send to a named step takes only the latter two). An answer
   * whose `requestId` names a prompt answers exactly that open prompt; one naming a prompt already answered or
   * unknown fails with `PromptNotOpenError`; without `requestId` it goes to the first waiter that accepts it, or
   * answers the oldest open prompt. A refused event changes nothing. In a durable run it succeeds once checkpointed;
   * `RunStoreError` when that checkpoint was not saved: the run keeps the event and saves it (and goes on) once the
   * store takes writes again.
   */
  send(
    event: unknown,
    options?: { readonly step?: string | undefined }
  ): Effect.Effect<
    void,
    | UnknownStepError
    | InvalidEventError
    | RunNotActiveError
    | EventNotAcceptedError
    | PromptNotOpenError
    | RunLimitError
    | RunStoreError
  >
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
   * `requestId` is the prompt's id, the same as `prompt.requestId` (the one the step gave, or else the prompt's
   * deterministic event id, stamped into it) and as `eventId` (kept for compatibility): answer with it.
   */
  readonly pending: Effect.Effect<
    ReadonlyArray<{
      readonly eventId: string
      readonly requestId: string
      readonly prompt: AnyEvent
      /** For a prompt of a child run (`ctx.run`): the child's run id; its `requestId` is `<runId>:<its own>`. */
      readonly runId?: string | undefined
    }>
  >
  /**
   * The steps executing now, with how many invocations of each (retries included; invocations suspended in
   * `ctx.waitFor` are not running). `{}` when nothing runs. LlamaIndex's `running_steps`.
   */
  readonly runningSteps: Effect.Effect<Readonly<Record<string, number>>>
  /** A JSON-safe snapshot of the run, valid at any moment; `Workflow.resume` continues from it. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** The run's current state (a read of `ctx.state`). */
  readonly state: Effect.Effect<Workflow.State<W>>
}
