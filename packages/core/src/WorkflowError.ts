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
 * A targeted send (or `Testing.runStep`) named a step that does not exist, or one that does not accept the event.
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
  /** What named the step: a targeted send (the default) or `Testing.runStep`. */
  readonly source?: "send" | "runStep" | undefined
}> {
  override get message(): string {
    return this.reason === "NoSuchStep"
      ? `Workflow "${this.workflow}" has no step named "${this.step}" (${
          this.source === "runStep" ? `given to Testing.runStep with a "${this.tag}" event` : `sending "${this.tag}"`
        }). Steps: ${this.known.join(", ")}.`
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
 * A run spent its recovery budget (`maxRecoveries`): one more step failure would have been routed to a
 * `StepFailed` handler, typically a handler that routes work back to a step that keeps failing.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RecoveryBudgetError extends Data.TaggedError("RecoveryBudgetError")<{
  readonly workflow: string
  readonly runId: string
  /** The step whose failure found the budget spent. */
  readonly step: string
  readonly maxRecoveries: number
  /** That step's own error (or defect). */
  readonly error: unknown
}> {
  override get message(): string {
    const detail = this.error instanceof Error ? this.error.message : String(this.error)
    return (
      `Run ${this.runId} of workflow "${this.workflow}": step "${this.step}" failed (${detail}) after the run had ` +
      `already routed ${this.maxRecoveries} failures to StepFailed (maxRecoveries: ${this.maxRecoveries}). A ` +
      `StepFailed handler probably sends work back to a step that keeps failing; fix that step, stop recovering, ` +
      `or raise maxRecoveries in defineWorkflow or in the run options.`
    )
  }
}

/**
 * A step's handler succeeded with something that is not an event, an array of events or nothing; most often
 * an Effect (a forgotten `yield*`). The run dies with this defect (or routes it to a `StepFailed` handler).
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidStepOutputError extends Data.TaggedError("InvalidStepOutputError")<{
  readonly workflow: string
  readonly step: string
  readonly detail: string
}> {
  override get message(): string {
    return `Step "${this.step}" of workflow "${this.workflow}" ${this.detail}`
  }
}

/**
 * `Workflow.run` was used on a run that now waits for input from outside (an open `ctx.waitFor`, an unanswered
 * `InputRequired`, a step that accepts `external` events), but `Workflow.run` gives nobody a handle to send it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class HandleRequiredError extends Data.TaggedError("HandleRequiredError")<{
  readonly workflow: string
  readonly runId: string
  readonly waitingFor: ReadonlyArray<string>
}> {
  override get message(): string {
    return (
      `Run ${this.runId} of workflow "${this.workflow}" waits for input from outside (${this.waitingFor.join(
        "; "
      )}), but Workflow.run gives no handle to answer with, so it would wait forever. Use ` +
      `Workflow.start(wf, input) and answer with handle.send(...) (handle.pending lists the open prompts).` +
      (this.waitingFor.some((w) => w.includes("ctx.waitFor"))
        ? ` To stop waiting after a while (e.g. auto-approve), give the wait its own ctx.waitFor(Type, { timeout }): ` +
          `Workflow.run then waits for it (an Effect.timeout around ctx.waitFor is not seen as a way out).`
        : "")
    )
  }
}

/**
 * The run's state does not survive its `state` schema (encode, then decode), so a snapshot or checkpoint of it
 * would be wrong: e.g. a function in a `Schema.Unknown` field, a `Date` under `Schema.DateFromSelf`, or state
 * without a `state` schema that is not plain JSON. Raised at the first checkpoint/snapshot, never silently.
 *
 * @since 0.1.0
 * @category Errors
 */
export class StateNotSerializableError extends Data.TaggedError("StateNotSerializableError")<{
  readonly workflow: string
  readonly runId: string
  /** Where in the state, e.g. `["items", 0, "at"]` (ParseResult's path). */
  readonly path: ReadonlyArray<PropertyKey>
  readonly detail: string
}> {
  override get message(): string {
    const where =
      this.path.length === 0 ? "the state" : `state${this.path.map((k) => `[${JSON.stringify(String(k))}]`).join("")}`
    return (
      `Run ${this.runId} of workflow "${this.workflow}": ${where} cannot be saved in a snapshot: ${this.detail}. ` +
      `Give the workflow a \`state\` schema whose encoded form is JSON (e.g. Schema.Date rather than ` +
      `Schema.DateFromSelf, no functions).`
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
 * An event was sent to a run that has already ended, or through a handle of a durable run this process no longer
 * drives (`status: "detached"`: the scope it was started or resumed in closed, or it stopped on a journal conflict;
 * the run goes on from its journal where it is resumed).
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunNotActiveError extends Data.TaggedError("RunNotActiveError")<{
  readonly runId: string
  readonly status: string
}> {
  override get message(): string {
    return this.status === "detached"
      ? `Run ${this.runId} is no longer driven by this process (the scope it ran in closed, or its journal refused ` +
          "this process's appends): it accepts no events here. Resume it (Workflow.resume) and send to that handle."
      : `Run ${this.runId} is ${this.status}; it accepts no more events.`
  }
}

/**
 * The errors a run can end with: the steps' own errors `E`, plus the engine's (`HandleRequiredError` only from
 * `Workflow.run`, `StateNotSerializableError` only from a durable run).
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
  | RecoveryBudgetError
  | HandleRequiredError
  | StateNotSerializableError

/** The message of a store's failure: what failed, on which run, and the cause's own message. */
const storeFailure = (store: string, operation: string, runId: string | undefined, cause: unknown): string =>
  `${store} failed to ${operation}${runId === undefined ? "" : ` run ${runId}`}: ${
    cause instanceof Error ? cause.message : String(cause)
  }`

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
    return storeFailure("Run store", this.operation, this.runId, this.cause)
  }
}

/**
 * `Workflow.resume(wf, runId)` found no snapshot of that run in the `RunStore` (`where` absent or `"store"`), or a
 * `RunEngine` operation addressed a run that is not live in that engine (`where: "engine"`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunNotFoundError extends Data.TaggedError("RunNotFoundError")<{
  readonly runId: string
  readonly where?: "store" | "engine" | undefined
}> {
  override get message(): string {
    return this.where === "engine"
      ? `No run ${this.runId} is live in this run engine: it ended, was detached, is hosted by another process ` +
          "(sends and cancels go to that process), or was never started here. A durable run's last checkpoint stays " +
          "in the RunStore (Workflow.resume continues it); its events can be followed from its journal."
      : `No run ${this.runId} in the run store.`
  }
}

/**
 * An event sent into a run from outside (`handle.send`, the server's `POST /runs/{id}/events`) is not one the run
 * accepts from outside. Only these may enter: an event an open `ctx.waitFor` is waiting for, `HumanResponse`, and
 * the workflow's declared `external` types; `accepted` lists what the run accepts right now. Nothing reached the run.
 *
 * @since 0.1.0
 * @category Errors
 */
export class EventNotAcceptedError extends Data.TaggedError("EventNotAcceptedError")<{
  readonly workflow: string
  readonly runId: string
  readonly tag: string
  /** The step a targeted send named. */
  readonly step?: string | undefined
  /** The tags the run accepts from outside right now. */
  readonly accepted: ReadonlyArray<string>
  /** Why this particular event was refused, when it is not simply its type. */
  readonly detail?: string | undefined
}> {
  override get message(): string {
    const accepted = this.accepted.length === 0 ? "none" : this.accepted.join(", ")
    return `Run ${this.runId} of workflow "${this.workflow}" does not accept a "${this.tag}" event from outside${
      this.step === undefined ? "" : ` (sent to step "${this.step}")`
    }: ${
      this.detail ??
      "only an event an open ctx.waitFor awaits, HumanResponse and the workflow's `external` types may be sent in"
    }. Accepted now: ${accepted}. Nothing was delivered.`
  }
}

/**
 * An answer named a prompt (`requestId`) that is not open in the run: it was already answered, or never existed.
 * One prompt takes one answer. `open` lists the `requestId`s of the prompts open right now (see `handle.pending`).
 * Nothing was delivered.
 *
 * @since 0.1.0
 * @category Errors
 */
export class PromptNotOpenError extends Data.TaggedError("PromptNotOpenError")<{
  readonly workflow: string
  readonly runId: string
  readonly requestId: string
  readonly open: ReadonlyArray<string>
}> {
  override get message(): string {
    return (
      `Run ${this.runId} of workflow "${this.workflow}" has no open prompt "${this.requestId}": it was already ` +
      `answered or never existed, and this answer was not delivered. Open prompts: ${
        this.open.length === 0 ? "none" : this.open.join(", ")
      } (read them from the run's pending prompts and answer with their requestId).`
    )
  }
}

/**
 * A send from outside was refused because the run reached one of its per-run limits (`RunOptions.limits`): too
 * many open prompts and unclaimed events (`maxPending`; an answer naming an open prompt's `requestId`, or one an
 * open `ctx.waitFor` takes, is still accepted at that cap), or
 * too large a published log (`maxLogEvents`, `maxLogBytes`; then no more events from outside are accepted). Nothing
 * was delivered; the run itself goes on as it was.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunLimitError extends Data.TaggedError("RunLimitError")<{
  readonly workflow: string
  readonly runId: string
  readonly limit: "maxPending" | "maxLogEvents" | "maxLogBytes"
  readonly max: number
  readonly actual: number
}> {
  override get message(): string {
    const what =
      this.limit === "maxPending"
        ? `${this.actual} open prompts and unclaimed events`
        : this.limit === "maxLogEvents"
          ? `${this.actual} published events`
          : `about ${this.actual} bytes of published events`
    return (
      `Run ${this.runId} of workflow "${this.workflow}" holds ${what}, at its limit ${this.limit} = ${this.max}; ` +
      `this event from outside was not delivered and the run goes on as it was. ${
        this.limit === "maxPending"
          ? "Answer its open prompts by requestId (those answers are still accepted) or cancel it"
          : "It takes no more events from outside: cancel it, or resume it with a higher limit"
      } (the limits are run options: \`limits\`).`
    )
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
    return storeFailure("Journal store", this.operation, this.runId, this.cause)
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

/**
 * An append to a run's journal was refused because another writer has claimed the run since this writer did (its
 * fencing epoch is not the run's current one). Two processes that both believe they own a run can never both
 * append: the one with the older epoch gets this error, nothing of its append is written, and it must stop driving
 * the run (the newer owner continues it from the journal).
 *
 * @since 0.1.0
 * @category Errors
 */
export class JournalFencedError extends Data.TaggedError("JournalFencedError")<{
  readonly runId: string
  /** The epoch the refused append carried (`claim`'s result for this writer). */
  readonly epoch: number
  /** The run's current epoch (0 when the run was never claimed). */
  readonly current: number
}> {
  override get message(): string {
    return this.current === 0
      ? `Run ${this.runId}: an append carried fencing epoch ${this.epoch}, but the run was never claimed in this ` +
          "store; nothing was appended. Call `claim(runId)` and append with the epoch it returns."
      : `Run ${this.runId} was claimed by another writer (epoch ${this.current}) after this writer's claim ` +
          `(epoch ${this.epoch}); nothing of this append was written. This writer no longer owns the run and must ` +
          "stop driving it: the new owner continues it from the journal."
  }
}

/**
 * A fork (`Workflow.fork`) could not be made: the source run has no journal, the offset is outside it or at its end,
 * the edited event does not fit the entry or the workflow's schemas. `reason` says which; nothing was written.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ForkError extends Data.TaggedError("ForkError")<{
  /** The run forked from. */
  readonly runId: string
  readonly reason: string
}> {
  override get message(): string {
    return `Cannot fork run ${this.runId}: ${this.reason}`
  }
}

/**
 * A run's journal holds an entry that is not a valid part of its published log, so the run's events cannot be
 * followed from the journal past it (`RunEvents.follow`): a log chunk that does not start where the log so far ends,
 * or a published event that is not an object with a string `_tag`. `offset` is the entry's offset in the journal.
 * The journal was written by something other than this engine, or was edited; nothing was skipped.
 *
 * @since 0.1.0
 * @category Errors
 */
export class PublishedLogError extends Data.TaggedError("PublishedLogError")<{
  readonly runId: string
  /** The offset of the entry in the run's journal. */
  readonly offset: number
  readonly reason: string
}> {
  override get message(): string {
    return (
      `Run ${this.runId}: the journal entry at offset ${this.offset} is not a valid part of the run's published ` +
      `log: ${this.reason}. The run's events cannot be followed from its journal past this entry.`
    )
  }
}
