/**
 * Child workflows: what a parent run sees of the children its steps run with `ctx.run` / `ctx.start`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Schema from "effect/Schema"
import { define } from "./Event.js"

/**
 * An event a child run published, as it reaches its parent's stream: `runId` and `workflow` name the child run,
 * `event` is the child's event encoded with the child's schemas (decode it with them, e.g.
 * `Schema.decodeUnknown(Progress)(e.event)`). Children of children arrive nested, once per level.
 *
 * @since 0.1.0
 * @category Events
 */
export const ChildEvent = define("ChildEvent", {
  runId: Schema.String,
  workflow: Schema.String,
  event: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category Events
 */
export type ChildEvent = typeof ChildEvent.Type

/**
 * A step of a durable run was executed again after a restart, and the child it runs had already ended before the
 * restart in a way it cannot go on from: it was cancelled, or it failed and its store keeps no error for it. A child
 * that failed with an error its journal keeps (its `_tag`, message and fields) fails `ctx.run` with that error again
 * instead. `ctx.run` ends the step with this defect (a `StepFailed` handler
 * sees it with `defect: true`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class ChildRunEndedError extends Data.TaggedError("ChildRunEndedError")<{
  readonly runId: string
  readonly workflow: string
  readonly status: string
  readonly error: { readonly _tag?: string | undefined; readonly message: string } | undefined
}> {
  override get message(): string {
    const cause = this.error === undefined ? "" : `: ${this.error._tag ?? "Error"}: ${this.error.message}`
    return (
      `child run ${this.runId} of workflow "${this.workflow}" had already ended (${this.status}) before this ` +
      `step was executed again after a restart${cause}. It cannot go on; handle it in a StepFailed step.`
    )
  }
}

/**
 * A step of a durable run was executed again after a restart and its `n`-th child (`ctx.run` / `ctx.start`) is not
 * the workflow the first execution started under that id: the step starts its children in another order than it did
 * (children are numbered in the order their `ctx.run` / `ctx.start` begin in an execution). The step ends with this
 * defect instead of taking another child's run; start children in a fixed order (e.g. one after another, or in one
 * `Effect.all`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class ChildWorkflowMismatchError extends Data.TaggedError("ChildWorkflowMismatchError")<{
  readonly runId: string
  readonly expected: string
  readonly found: string
}> {
  override get message(): string {
    return (
      `child run ${this.runId} is a run of workflow "${this.found}", but the step executed again after a restart ` +
      `starts workflow "${this.expected}" under that id: the step starts its children in another order than its ` +
      `first execution did. Start children in a fixed order (one after another, or in one Effect.all).`
    )
  }
}
