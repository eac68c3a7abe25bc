/**
 * The errors of `@eventflow/core`. Every error is tagged and carries a `message` that says what went wrong,
 * where, and what to do about it.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"

/**
 * Every definition and graph problem of a workflow, found before the first step runs.
 *
 * @since 0.1.0
 * @category Errors
 */
export class WorkflowValidationError extends Data.TaggedError("WorkflowValidationError")<{
  readonly workflow: string
  readonly issues: ReadonlyArray<string>
}> {
  override get message(): string {
    return `Workflow "${this.workflow}" is invalid (${this.issues.length} problem${
      this.issues.length === 1 ? "" : "s"
    }):\n${this.issues.map((issue) => `  - ${issue}`).join("\n")}`
  }
}

/**
 * The input given to `Workflow.run` / `Workflow.start` does not decode with the workflow's `input` schema.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidInputError extends Data.TaggedError("InvalidInputError")<{
  readonly workflow: string
  readonly detail: string
}> {
  override get message(): string {
    return `Invalid input for workflow "${this.workflow}":\n${this.detail}`
  }
}

/**
 * A value sent into a run is not an event the workflow knows (unknown `_tag`), or fails its schema.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidEventError extends Data.TaggedError("InvalidEventError")<{
  readonly workflow: string
  readonly tag: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    return this.tag === undefined
      ? `Invalid event for workflow "${this.workflow}": ${this.detail}`
      : `Invalid "${this.tag}" event for workflow "${this.workflow}": ${this.detail}`
  }
}

/**
 * A targeted send named a step that does not exist, or one that does not accept the event.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UnknownStepError extends Data.TaggedError("UnknownStepError")<{
  readonly workflow: string
  readonly step: string
  readonly tag: string
  readonly known: ReadonlyArray<string>
  readonly reason: "NoSuchStep" | "DoesNotAccept"
}> {
  override get message(): string {
    return this.reason === "NoSuchStep"
      ? `Workflow "${this.workflow}" has no step named "${this.step}" (sending "${this.tag}"). Steps: ${this.known.join(
          ", "
        )}.`
      : `Step "${this.step}" of workflow "${this.workflow}" does not accept "${this.tag}" events. Steps that do: ${
          this.known.length === 0 ? "none" : this.known.join(", ")
        }.`
  }
}

/**
 * An execution of a step took longer than its `timeout` option.
 *
 * @since 0.1.0
 * @category Errors
 */
export class StepTimeoutError extends Data.TaggedError("StepTimeoutError")<{
  readonly step: string
  readonly eventId: string
  readonly attempt: number
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `Step "${this.step}" (event ${this.eventId}, attempt ${this.attempt}) timed out after ${Duration.format(
      this.timeout
    )}.`
  }
}

/**
 * `ctx.waitFor` timed out before a matching event arrived.
 *
 * @since 0.1.0
 * @category Errors
 */
export class WaitTimeoutError extends Data.TaggedError("WaitTimeoutError")<{
  readonly step: string
  readonly tag: string
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `Step "${this.step}" waited ${Duration.format(this.timeout)} for a "${this.tag}" event; none came.`
  }
}

/**
 * The run's `timeout` expired. `activeSteps` names the steps that were still running or waiting.
 *
 * @since 0.1.0
 * @category Errors
 */
export class WorkflowTimeoutError extends Data.TaggedError("WorkflowTimeoutError")<{
  readonly workflow: string
  readonly runId: string
  readonly timeout: Duration.Duration
  readonly activeSteps: ReadonlyArray<string>
}> {
  override get message(): string {
    return `Run ${this.runId} of workflow "${this.workflow}" timed out after ${Duration.format(this.timeout)}${
      this.activeSteps.length > 0 ? `; still active: ${this.activeSteps.join(", ")}` : "; no step was active"
    }.`
  }
}

/**
 * The run was cancelled (`handle.cancel`, or the scope it was started in closed).
 *
 * @since 0.1.0
 * @category Errors
 */
export class WorkflowCancelledError extends Data.TaggedError("WorkflowCancelledError")<{
  readonly workflow: string
  readonly runId: string
}> {
  override get message(): string {
    return `Run ${this.runId} of workflow "${this.workflow}" was cancelled.`
  }
}

/**
 * Nothing runs, nothing is queued, nothing is awaited and nothing can come from outside, but no `StopEvent`
 * came: the run can never finish. `waitingFor` says what it was waiting for (e.g. partial `collect` buffers).
 *
 * @since 0.1.0
 * @category Errors
 */
export class WorkflowStalledError extends Data.TaggedError("WorkflowStalledError")<{
  readonly workflow: string
  readonly runId: string
  readonly waitingFor: ReadonlyArray<string>
}> {
  override get message(): string {
    return (
      `Run ${this.runId} of workflow "${this.workflow}" stalled: no step is running or queued, nothing ` +
      `can arrive from outside, and no StopEvent was returned.${
        this.waitingFor.length > 0 ? `\n${this.waitingFor.map((w) => `  - ${w}`).join("\n")}` : ""
      }`
    )
  }
}

/**
 * A snapshot could not be decoded or does not belong to this workflow.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidSnapshotError extends Data.TaggedError("InvalidSnapshotError")<{
  readonly workflow: string
  readonly detail: string
}> {
  override get message(): string {
    return `Invalid snapshot for workflow "${this.workflow}": ${this.detail}`
  }
}

/**
 * An event was sent to a run that has already ended.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunNotActiveError extends Data.TaggedError("RunNotActiveError")<{
  readonly runId: string
  readonly status: string
}> {
  override get message(): string {
    return `Run ${this.runId} is ${this.status}; it accepts no more events.`
  }
}

/**
 * The errors a run can end with: the steps' own errors `E`, plus the engine's.
 *
 * @since 0.1.0
 * @category Errors
 */
export type RunError<E> =
  | E
  | WorkflowTimeoutError
  | WorkflowCancelledError
  | WorkflowStalledError
  | WorkflowValidationError

/**
 * A run store could not save, load, list or remove a snapshot.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunStoreError extends Data.TaggedError("RunStoreError")<{
  readonly operation: "save" | "load" | "list" | "remove" | "open"
  readonly runId?: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `Run store failed to ${this.operation}${this.runId === undefined ? "" : ` run ${this.runId}`}: ${detail}`
  }
}

/**
 * `Workflow.resume(wf, runId)` found no snapshot of that run in the `RunStore`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunNotFoundError extends Data.TaggedError("RunNotFoundError")<{
  readonly runId: string
}> {
  override get message(): string {
    return `No run ${this.runId} in the run store.`
  }
}

/**
 * A journal store could not append, read, compact, list or remove a run's journal, or the entries asked of it are
 * not a valid journal (for example a first entry that is not `RunStarted`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class JournalStoreError extends Data.TaggedError("JournalStoreError")<{
  readonly operation: "append" | "read" | "load" | "compact" | "list" | "remove" | "open"
  readonly runId?: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `Journal store failed to ${this.operation}${this.runId === undefined ? "" : ` run ${this.runId}`}: ${detail}`
  }
}

/**
 * An append carried an entry whose id is already in the run's journal with different content. Appends are
 * idempotent on the entry id, so the same entry appended twice is a no-op; a different entry under the same id means
 * two writers disagree about the run (two processes driving it, or a definition that changed under a running run).
 *
 * @since 0.1.0
 * @category Errors
 */
export class JournalConflictError extends Data.TaggedError("JournalConflictError")<{
  readonly runId: string
  readonly entryId: string
  /** The offset of the entry already in the journal. */
  readonly offset: number
}> {
  override get message(): string {
    return (
      `Run ${this.runId}: the journal already holds a different entry "${this.entryId}" (at offset ${this.offset}). ` +
      "Appends are idempotent only for identical entries: check that a single process drives this run."
    )
  }
}

/**
 * A run's journal does not fit the workflow definition it is resumed with: a journaled step that no longer exists or
 * no longer accepts the tag it handled, a payload the current schemas cannot decode, or a journal written for another
 * workflow. Every mismatch is listed; the run is not resumed (a result is never fed to the wrong step).
 *
 * @since 0.1.0
 * @category Errors
 */
export class JournalMismatchError extends Data.TaggedError("JournalMismatchError")<{
  readonly workflow: string
  readonly runId: string
  readonly mismatches: ReadonlyArray<string>
}> {
  override get message(): string {
    return (
      `Run ${this.runId} cannot be resumed with workflow "${this.workflow}": its journal was written by a definition ` +
      `that does not fit this one (${this.mismatches.length} mismatch${this.mismatches.length === 1 ? "" : "es"}):\n` +
      this.mismatches.map((m) => `  - ${m}`).join("\n") +
      "\nResume it with the definition it was started with (see its signature), or migrate the journal."
    )
  }
}
