/**
 * Unit-testing steps: run one step's handler in isolation, with test layers for its services.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { AnyEvent } from "./Event.js"
import * as internal from "./internal/testing.js"
import type * as Workflow from "./Workflow.js"
import type { UnknownStepError } from "./WorkflowError.js"

/**
 * What a step did in {@link runStep}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StepResult<S> {
  /** The events it returned (an empty array for `void`). */
  readonly output: ReadonlyArray<AnyEvent>
  /** The events it dispatched with `ctx.send`, with their target step if any. */
  readonly sent: ReadonlyArray<AnyEvent>
  /** The events it published with `ctx.write` (and `waitFor` prompts). */
  readonly written: ReadonlyArray<AnyEvent>
  /** The state after the step. */
  readonly state: S
}

/**
 * Options of {@link runStep}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunStepOptions<S> {
  /** The state before the step (default: the workflow's `initialState`). */
  readonly state?: S | undefined
  /** Answers for `ctx.waitFor`, taken in order by the first waiter of a matching type. */
  readonly responses?: ReadonlyArray<AnyEvent> | undefined
  /** `ctx.attempt` (default 1). */
  readonly attempt?: number | undefined
  /** `ctx.runId` (default `"test-run"`). */
  readonly runId?: string | undefined
}

/**
 * Runs one step's handler once (no retries, no routing) with a recording context, and returns what it returned,
 * sent and wrote, and the state after it. Provide the step's services with test layers.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { defineWorkflow, Event, StartEvent, StopEvent, Testing } from "@eventflow/core"
 *
 * const Greet = Event.define("Greet", { name: Schema.String })
 * const wf = defineWorkflow({ name: "greet" })
 *   .step(StartEvent, () => Effect.succeed(Greet.make({ name: "Ada" })), { emits: [Greet] })
 *   .step(Greet, (g) => Effect.succeed(StopEvent.make({ result: `hi ${g.name}` })), { emits: [StopEvent] })
 *
 * const result = Effect.runSync(Testing.runStep(wf, "Greet", Greet.make({ name: "Bob" })))
 * // result.output: [{ _tag: "StopEvent", result: "hi Bob" }]
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const runStep: <W extends Workflow.Any>(
  self: W,
  stepName: Workflow.StepNames<W>,
  event: AnyEvent,
  options?: RunStepOptions<Workflow.State<W>>
) => Effect.Effect<StepResult<Workflow.State<W>>, Workflow.Error<W> | UnknownStepError, Workflow.Requirements<W>> =
  internal.runStep as any
