/**
 * The context a step handler receives: the run's typed state, sending, streaming, joins and waits.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as SynchronizedRef from "effect/SynchronizedRef"
import type { AnyEvent, EventType } from "./Event.js"
import type { RunHandle } from "./Run.js"
import type * as Workflow from "./Workflow.js"
import type {
  InvalidInputError,
  RunError,
  UnknownStepError,
  WaitTimeoutError,
  WorkflowValidationError
} from "./WorkflowError.js"

/**
 * Options of `ctx.run` and `ctx.start` (a child workflow's run).
 *
 * @since 0.1.0
 * @category Models
 */
export interface ChildOptions<S = unknown> {
  /** The child's initial state; overrides its workflow's `initialState`. */
  readonly state?: S | undefined
  /** The child run's timeout; overrides its workflow's `timeout`. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The arguments of `ctx.run` / `ctx.start` after the child workflow: its encoded input (optional when the input
 * schema accepts `undefined`) and {@link ChildOptions}.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type ChildArgs<W extends Workflow.Any> =
  undefined extends Workflow.InputEncoded<W>
    ? [input?: Workflow.InputEncoded<W>, options?: ChildOptions<Workflow.State<W>>]
    : [input: Workflow.InputEncoded<W>, options?: ChildOptions<Workflow.State<W>>]

/**
 * Maps a tuple of event types to the tuple of their event values.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Collected<T extends ReadonlyArray<EventType>> = { -readonly [K in keyof T]: T[K]["Type"] }

/**
 * Options of `ctx.waitFor`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface WaitForOptions<A> {
  /** Published after the waiter is registered (typically an `InputRequired`). */
  readonly prompt?: AnyEvent | undefined
  /** Only an event for which this holds resolves the waiter. */
  readonly match?: ((event: A) => boolean) | undefined
  /** Fails with `WaitTimeoutError` when nothing matching arrives in time. */
  readonly timeout?: Duration.DurationInput | undefined
}

declare const StepTargetTypeId: unique symbol

/**
 * A type-only marker in the requirements of `ctx.send(event, { step: "name" })`: `.step(...)` removes it from the
 * handler's requirements and records the name, and `Workflow.run` / `start` / `stream` do not compile when it names
 * no step (`"ctx.send to an unknown step: name"`). Never provided, never looked up at run time.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export interface StepTarget<Name extends string> {
  readonly [StepTargetTypeId]: Name
}

/**
 * What `ctx.retry` tells an execution that retries a failed one (LlamaIndex's `retry_info`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface RetryInfo {
  /** This execution's number: 2 on the first retry, ... (the same as `ctx.attempt`). */
  readonly attempt: number
  /** The error the previous execution failed with. */
  readonly lastError: unknown
  /** Time since the first execution of this invocation started. */
  readonly elapsed: Duration.Duration
}

/**
 * The step context, `ctx` in `step(match, (event, ctx) => ...)`. `Out`: the events the step may send (its `emits`
 * when declared).
 *
 * @since 0.1.0
 * @category Models
 */
export interface StepContext<S = unknown, Out extends AnyEvent = AnyEvent> {
  /** The run's typed state, shared by all steps of the run. Change it with `Ref.update` / `SynchronizedRef`. */
  readonly state: SynchronizedRef.SynchronizedRef<S>
  /** The id of the run. */
  readonly runId: string
  /** The name of the step being executed. */
  readonly stepName: string
  /** The id of the event this invocation handles. */
  readonly eventId: string
  /** 1 on the first execution, 2 on the first retry, ... */
  readonly attempt: number
  /** `None` on the first execution; on a retry, the previous execution's error and the time spent so far. */
  readonly retry: Option.Option<RetryInfo>
  /**
   * Dispatches an event now: to every step that accepts it, or to one named step.
   * A targeted send to an unknown step, or to a step that does not accept the event, fails with `UnknownStepError`.
   * With `emits` declared, only those event types can be sent; a literal `step` name that names no step of the
   * workflow makes `Workflow.run` / `start` / `stream` not compile.
   */
  send(event: Out): Effect.Effect<void>
  send<const Step extends string>(
    event: Out,
    options: { readonly step: Step }
  ): Effect.Effect<void, UnknownStepError, StepTarget<Step>>
  send(event: Out, options: { readonly step?: string | undefined }): Effect.Effect<void, UnknownStepError>
  /** Publishes an event to the run's stream (progress, tokens). Writes keep their order. */
  write(event: AnyEvent): Effect.Effect<void>
  /**
   * Buffers `event` for this step; when one event of each type in `expected` has arrived, returns them ordered as
   * `expected` and clears them from the buffer, otherwise `None`.
   */
  collect<const T extends ReadonlyArray<EventType>>(
    event: AnyEvent,
    expected: T
  ): Effect.Effect<Option.Option<Collected<T>>>
  /** Count form: returns `Some` of `n` events of one type once `n` have arrived. */
  collect<A extends AnyEvent>(
    event: AnyEvent,
    expected: EventType<A>,
    n: number
  ): Effect.Effect<Option.Option<Array<A>>>
  /**
   * Registers a waiter, publishes `prompt` (if any), and suspends this invocation until an event of `type`
   * (satisfying `match`) is sent into the run. The worker slot is released while waiting.
   */
  waitFor<A extends AnyEvent>(type: EventType<A>, options?: WaitForOptions<A>): Effect.Effect<A, WaitTimeoutError>
  /**
   * Runs a child workflow inside this step and returns its result. The child's own errors arrive as they are (its
   * step errors `E`, `WorkflowCancelledError`, ...: not wrapped); what it publishes reaches this run's stream as
   * `ChildEvent`s (`runId` of the child, the event encoded with the child's schemas); it is cancelled when this run
   * is; its `waitFor` prompts appear in this run's `pending` as `<childRunId>:<requestId>` and an answer naming that
   * id is sent to the child.
   *
   * The child's run id is `<runId>/<step>@<eventId>/c<n>` (`n`: the n-th child of this execution, in the order the
   * calls begin). A child of a durable run is durable in the same store; when this step is executed again after a
   * crash, `ctx.run` resumes the child from its own last checkpoint (or takes its result when it had finished, or
   * fails with its error, rebuilt with its `_tag` and fields, when it had failed) instead of starting it again.
   */
  run<W extends Workflow.Any>(
    child: W & Workflow.ValidateHandled<W>,
    ...args: ChildArgs<W>
  ): Effect.Effect<Workflow.Output<W>, RunError<Workflow.Error<W>> | InvalidInputError, Workflow.Requirements<W>>
  /**
   * Starts a child workflow like {@link StepContext.run} and returns its handle (send, events, cancel, result). The
   * child lives as long as this step's execution: one still running when the execution ends is cancelled.
   */
  start<W extends Workflow.Any>(
    child: W & Workflow.ValidateHandled<W>,
    ...args: ChildArgs<W>
  ): Effect.Effect<RunHandle<W>, InvalidInputError | WorkflowValidationError, Workflow.Requirements<W>>
}
