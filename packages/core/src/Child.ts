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
 * A step of a durable run was executed again after a restart, and the child it runs had already failed (or timed
 * out) before the restart: the store keeps the child's error only as `{ _tag, message }`, not as the typed value,
 * so `ctx.run` ends the step with this defect (a `StepFailed` handler sees it with `defect: true`).
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
      `step was executed again after a restart${cause}. Its typed error was not kept; handle it in a StepFailed step.`
    )
  }
}
