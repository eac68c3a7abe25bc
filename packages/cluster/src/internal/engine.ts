/**
 * The cluster `RunEngine` as any process sees it: runs are addressed by run id; start, send and cancel are messages
 * to the run's entity (wherever its shard is hosted); status, results and events are read from the run's journal in
 * PostgreSQL (followed with LISTEN/NOTIFY), so they work from every process with the offsets of one machine.
 */
import type { Sharding } from "@effect/cluster/Sharding"
import * as PgClient from "@effect/sql-pg/PgClient"
import {
  InvalidInputError,
  InvalidSnapshotError,
  type Journal,
  JournalStore,
  type Run,
  type RunEngine,
  RunNotActiveError,
  RunNotFoundError,
  RunEvents,
  RunStore,
  RunStoreError,
  WorkflowCancelledError,
  type Workflow,
  WorkflowValidationError
} from "@eventflow/core"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { RunEntity } from "./entity.js"
import { makeFollower } from "./follow.js"
import { fromRemote, RemoteError } from "./remote.js"

/**
 * A run of the cluster ended failed or timed out: its status and the error its journal recorded.
 *
 * @internal
 */
export class RunEndedError extends Data.TaggedError("RunEndedError")<{
  readonly runId: string
  readonly workflow: string
  readonly status: "failed" | "timed-out"
  readonly error: { readonly _tag?: string | undefined; readonly message: string } | undefined
}> {
  override get message(): string {
    return `Run ${this.runId} of workflow "${this.workflow}" ended ${this.status}${
      this.error !== undefined
        ? `: ${this.error._tag !== undefined ? `${this.error._tag}: ` : ""}${this.error.message}`
        : ""
    } (on a runner of the cluster).`
  }
}

const isEnded = (status: Run.Status) => status !== "running" && status !== "waiting"

/** JSON-safe run options that cross to the runner (`durable` and `runId` are the cluster's). */
/**
 * The run options that cross the wire to the runner: `timeout` as milliseconds, `continue` as a run id, `state`
 * encoded with the workflow's state schema (decoded again on the runner), the rest as JSON. An option that cannot
 * cross (a `state` the schema cannot encode, a value that is not JSON) fails the start with `InvalidInputError`
 * naming it: nothing is dropped silently. `durable` and `runId` are the cluster's.
 */
const wireOptions = (
  workflow: Workflow.Any,
  options: Run.RunOptions<any> | undefined
): Effect.Effect<unknown, InvalidInputError> =>
  Effect.gen(function* () {
    if (options === undefined) return undefined
    const invalid = (detail: string) => new InvalidInputError({ workflow: workflow.name, detail })
    const {
      continue: previous,
      durable: _durable,
      runId: _runId,
      state,
      timeout,
      ...rest
    } = options as Record<string, any>
    const wire: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(rest)) {
      if (value === undefined) continue
      let text: string | undefined
      try {
        text = JSON.stringify(value)
      } catch (error) {
        return yield* Effect.fail(invalid(`run option "${key}" cannot be sent to a runner: ${String(error)}`))
      }
      if (text === undefined) {
        return yield* Effect.fail(invalid(`run option "${key}" cannot be sent to a runner: it is not JSON`))
      }
      wire[key] = JSON.parse(text)
    }
    if (timeout !== undefined) {
      const duration = Duration.decodeUnknown(timeout)
      if (Option.isNone(duration)) {
        return yield* Effect.fail(invalid(`run option "timeout" is not a duration: ${String(timeout)}`))
      }
      // An infinite timeout is no timeout.
      if (Duration.isFinite(duration.value)) wire.timeout = Duration.toMillis(duration.value)
    }
    if (previous !== undefined) wire.continue = typeof previous === "string" ? previous : previous.runId
    if (state !== undefined) {
      const schema = (workflow as any).state as Schema.Schema<unknown, unknown, never> | undefined
      if (schema === undefined) {
        return yield* Effect.fail(invalid(`run option "state" is given but workflow "${workflow.name}" has no state`))
      }
      wire.state = yield* Schema.encodeUnknown(schema)(state).pipe(
        Effect.mapError((error) =>
          invalid(`run option "state" does not encode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
        )
      )
    }
    return wire
  })

/** @internal */
export interface EngineOptions {
  readonly workflows: ReadonlyArray<Workflow.Any>
  /** The fallback poll of journal followers (for a lost notification). */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/** @internal */
export const makeEngine = (
  options: EngineOptions
): Effect.Effect<
  RunEngine.Service,
  never,
  Sharding | JournalStore.JournalStore | RunStore.RunStore | PgClient.PgClient | Scope.Scope
> =>
  Effect.gen(function* () {
    const journal = yield* JournalStore.JournalStore
    const runStore = yield* RunStore.RunStore
    const pg = yield* PgClient.PgClient
    const clientFor = yield* RunEntity.client
    const workflows = new Map(options.workflows.map((w) => [w.name, w]))

    const transport =
      (runId: string) =>
      (error: unknown): unknown =>
        error instanceof RemoteError ? fromRemote(error) : new RunStoreError({ operation: "save", runId, cause: error })

    const { follow } = yield* makeFollower(pg, journal, options.pollInterval)

    const summary = (runId: string) =>
      Effect.mapError(journal.summary(runId), (cause) => new RunStoreError({ operation: "load", runId, cause }))

    /** The run's summary; `RunNotFoundError` (engine) for a run without a journal. */
    const known = (runId: string) =>
      Effect.flatMap(summary(runId), (found) =>
        Option.isNone(found)
          ? Effect.fail(new RunNotFoundError({ runId, where: "engine" }))
          : Effect.succeed(found.value)
      )

    /** The run's `RunEnded` entry, waiting for it. */
    const end = (runId: string): Effect.Effect<Journal.Stored> =>
      Effect.gen(function* () {
        const found = yield* Effect.orDie(summary(runId))
        // A run that has ended is read from the start (its RunEnded need not be its last entry: a cancelled run's
        // last log chunk follows it); a live one from its current end, where its RunEnded will come.
        const from = Option.isSome(found) && !isEnded(found.value.status) ? found.value.entries : 0
        const last = yield* follow(runId, from).pipe(
          Stream.filter((stored) => stored.entry._tag === "RunEnded"),
          Stream.runHead,
          Effect.orDie
        )
        if (Option.isNone(last)) return yield* Effect.dieMessage(`run ${runId}: its journal ended without RunEnded`)
        return last.value
      })

    const result = (runId: string, workflowName: string) =>
      Effect.flatMap(end(runId), (stored): Effect.Effect<unknown, unknown> => {
        const entry = stored.entry
        if (entry._tag !== "RunEnded") return Effect.dieMessage("unreachable")
        if (entry.status === "completed") {
          const workflow = workflows.get(workflowName)
          if (workflow === undefined) return Effect.succeed(entry.result)
          return Effect.orDie(
            Schema.decodeUnknown(workflow.output as Schema.Schema<unknown, unknown, never>)(entry.result)
          )
        }
        if (entry.status === "cancelled")
          return Effect.fail(new WorkflowCancelledError({ workflow: workflowName, runId }))
        return Effect.fail(
          new RunEndedError({ runId, workflow: workflowName, status: entry.status, error: entry.error })
        )
      })

    /** The run's snapshot, replayed from its journal (the `RunStore` on the journal). */
    const snapshot = (runId: string) =>
      Effect.flatMap(Effect.orDie(runStore.load(runId)), (found) =>
        Option.isNone(found) ? Effect.die(new RunNotFoundError({ runId, where: "store" })) : Effect.succeed(found.value)
      )

    const settled = (runId: string): Effect.Effect<Run.Status> =>
      Effect.gen(function* () {
        const first = yield* Effect.orDie(known(runId))
        if (first.status !== "running") return first.status
        const next = yield* follow(runId, first.entries).pipe(
          Stream.mapEffect(() => Effect.orDie(known(runId))),
          Stream.filter((s) => s.status !== "running"),
          Stream.runHead,
          Effect.orDie
        )
        return Option.isSome(next) ? next.value.status : (yield* Effect.orDie(known(runId))).status
      })

    const send = (runId: string, event: unknown, sendOptions?: { readonly step?: string | undefined }) =>
      clientFor(runId)
        .Send({ event, step: sendOptions?.step })
        .pipe(Effect.mapError(transport(runId))) as Effect.Effect<void, RunEngine.SendError | RunNotFoundError>

    const cancel = (runId: string) =>
      clientFor(runId)
        .Cancel()
        .pipe(
          Effect.mapError(transport(runId)),
          Effect.catchIf(
            (error) => error instanceof RunNotActiveError,
            () => Effect.void
          )
        ) as Effect.Effect<void, RunNotFoundError>

    /** The journal store whose `follow` is this process's shared follower (one LISTEN for every stream). */
    const followed: JournalStore.Service = {
      ...journal,
      follow: (runId, followOptions) => follow(runId, followOptions?.fromOffset ?? 0)
    }
    const events = (runId: string, eventsOptions?: RunEngine.EventsOptions) =>
      RunEvents.follow(followed, runId, { from: eventsOptions?.from, internal: eventsOptions?.internal })

    const handle = (runId: string, workflowName: string): Run.RunHandle<any, any> => ({
      runId,
      result: result(runId, workflowName),
      events: (o) => Stream.orDie(events(runId, o)),
      // The journal's published events with their offsets, each passed to `f` once its predecessor's effect is done.
      follow: (f, o) =>
        RunEvents.followPositioned(followed, runId, { from: o?.from, internal: o?.internal }).pipe(
          Stream.orDie,
          Stream.runForEach(({ event, offset }) => f(event, offset))
        ),
      send: (event, o) =>
        Effect.catchTag(send(runId, event, o), "RunNotFoundError", (e) => Effect.die(e)) as Effect.Effect<
          void,
          RunEngine.SendError
        >,
      cancel: Effect.orDie(cancel(runId)),
      status: Effect.map(Effect.orDie(known(runId)), (s) => s.status),
      settled: settled(runId),
      pending: Effect.map(snapshot(runId), (s) =>
        s.pending.map(({ eventId, prompt, requestId }) => ({
          eventId: requestId ?? eventId,
          requestId: requestId ?? eventId,
          prompt: prompt as Run.PublishedEvent
        }))
      ),
      runningSteps: Effect.map(snapshot(runId), (s) => {
        const steps: Record<string, number> = {}
        for (const invocation of s.inFlight) steps[invocation.step] = (steps[invocation.step] ?? 0) + 1
        return steps
      }),
      snapshot: snapshot(runId),
      state: Effect.map(snapshot(runId), (s) => s.state as any)
    })

    const start = (workflow: Workflow.Any, input: unknown, runOptions?: Run.RunOptions<any>) =>
      Effect.gen(function* () {
        const known = workflows.get(workflow.name)
        if (known !== undefined && known !== workflow) {
          return yield* Effect.fail(
            new WorkflowValidationError({
              workflow: workflow.name,
              issues: [`another workflow named "${workflow.name}" is registered with this cluster engine`]
            })
          )
        }
        const encoded = yield* Schema.encodeUnknown(workflow.input as Schema.Schema<unknown, unknown, never>)(
          input
        ).pipe(
          Effect.mapError(
            (error) =>
              new InvalidInputError({
                workflow: workflow.name,
                detail: ParseResult.TreeFormatter.formatErrorSync(error)
              })
          )
        )
        const options = yield* wireOptions(workflow, runOptions)
        const runId = runOptions?.runId ?? crypto.randomUUID()
        yield* clientFor(runId)
          .Start({ runId, workflow: workflow.name, input: encoded, options })
          .pipe(Effect.mapError(transport(runId)))
        return handle(runId, workflow.name)
      })

    const engine: RunEngine.Service = {
      register: (list) =>
        Effect.suspend(() => {
          for (const workflow of list) {
            const known = workflows.get(workflow.name)
            if (known !== undefined && known !== workflow) {
              return Effect.fail(
                new WorkflowValidationError({
                  workflow: workflow.name,
                  issues: [`another workflow named "${workflow.name}" is registered with this cluster engine`]
                })
              )
            }
          }
          for (const workflow of list) workflows.set(workflow.name, workflow)
          return Effect.void
        }),
      start: start as any,
      run: (workflow, input, runOptions) => Effect.flatMap(start(workflow, input, runOptions), (h) => h.result) as any,
      stream: (workflow, input, runOptions) =>
        Stream.unwrap(Effect.map(start(workflow, input, runOptions), (h) => h.events())) as any,
      resume: ((workflow: Workflow.Any, from: unknown) =>
        typeof from !== "string"
          ? Effect.fail(
              new InvalidSnapshotError({
                workflow: workflow.name,
                detail: "the cluster engine resumes runs by run id (their journal), not from a snapshot"
              })
            )
          : Effect.map(known(from), (s) => handle(from, s.workflow))) as any,
      resumeAll: ((workflow: Workflow.Any) =>
        Effect.map(
          Effect.mapError(
            journal.list({ workflow: workflow.name, status: ["running", "waiting"] }),
            (cause) => new RunStoreError({ operation: "list", cause })
          ),
          (runs) => runs.filter((r) => r.parentRunId === undefined).map((r) => handle(r.runId, r.workflow))
        )) as any,
      get: (runId) =>
        Effect.flatMap(known(runId).pipe(Effect.orDie), (s) =>
          isEnded(s.status)
            ? Effect.fail(new RunNotFoundError({ runId, where: "engine" }))
            : Effect.succeed({ runId, workflow: s.workflow, handle: handle(runId, s.workflow) })
        ),
      send,
      cancel,
      status: (runId) => Effect.map(Effect.catchTag(known(runId), "RunStoreError", Effect.die), (s) => s.status),
      settled: (runId) => Effect.zipRight(Effect.catchTag(known(runId), "RunStoreError", Effect.die), settled(runId)),
      events: (runId, eventsOptions) =>
        Stream.unwrap(
          Effect.as(
            Effect.catchTag(known(runId), "RunStoreError", Effect.die),
            Stream.orDie(events(runId, eventsOptions))
          )
        ),
      list: (filter) =>
        Effect.map(Effect.orDie(journal.list(filter)), (runs) =>
          runs.map((r) => ({ runId: r.runId, workflow: r.workflow, status: r.status }))
        )
    }
    return engine
  })
