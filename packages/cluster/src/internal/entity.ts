/**
 * The run entity: one `@effect/cluster` entity type keyed by run id. The runner that owns the run id's shard hosts the
 * run on an in-process `RunEngine` (the unchanged interpreter), journaling to PostgreSQL through a fenced writer
 * (`JournalStore.claimWriter`). Start, send and cancel are persisted messages: they wait in storage while no runner
 * holds the shard and are delivered by the runner that takes it.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import type { Sharding } from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import {
  InvalidInputError,
  JournalStore,
  JournalStoreError,
  type Run,
  RunEngine,
  RunNotActiveError,
  RunNotFoundError,
  RunStore,
  type Workflow,
  type WorkflowError as Errors,
  WorkflowValidationError
} from "@eventflow/core"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { RemoteError, toRemote } from "./remote.js"

/** The payload of `Start`: the workflow's name, its encoded input and the run options that cross the wire. */
export const StartPayload = {
  runId: Schema.String,
  workflow: Schema.String,
  input: Schema.Unknown,
  options: Schema.optional(Schema.Unknown)
}

/** The messages of a run. Start, Send and Cancel are persisted (stored before they are acknowledged). */
export const Start = Rpc.make("Start", {
  payload: StartPayload,
  error: RemoteError,
  primaryKey: (payload) => payload.runId
})
export const Send = Rpc.make("Send", {
  payload: { event: Schema.Unknown, step: Schema.optional(Schema.String) },
  error: RemoteError
})
export const Cancel = Rpc.make("Cancel", { error: RemoteError })

/** The entity type of runs (`eventflow/Run`), keyed by run id. */
export const RunEntity = Entity.make("eventflow/Run", [Start, Send, Cancel]).annotateRpcs(ClusterSchema.Persisted, true)

/** The snapshot `RunStore` (of runs without a journal) the host wraps with the run's fenced journal. */
export class Snapshots extends Context.Tag("@eventflow/cluster/Snapshots")<Snapshots, RunStore.Service>() {}

/** A run started or resumed on the runner's local engine (its steps' services come from the layer's context). */
type HostedRun = Effect.Effect<
  Run.RunHandle<any, any>,
  unknown,
  Scope.Scope | RunStore.RunStore | JournalStore.JournalStore
>

const ended = (status: Run.Status) => status !== "running" && status !== "waiting"

/** A journal store that writes the run `writer.runId` through its fenced writer; `onFenced` when it is refused. */
const fencedStore = (
  store: JournalStore.Service,
  writer: JournalStore.Writer,
  onFenced: (error: Errors.JournalFencedError) => Effect.Effect<void>
): JournalStore.Service => ({
  ...store,
  append: (runId, entries, options) =>
    runId !== writer.runId
      ? store.append(runId, entries, options)
      : Effect.catchTag(writer.append(entries, options), "JournalFencedError", (error) =>
          Effect.zipRight(
            onFenced(error),
            Effect.fail(new JournalStoreError({ operation: "append", runId, cause: error }))
          )
        )
})

/**
 * The layer that hosts runs of `workflows` on this runner (registers the entity with `Sharding`). `R`: the services
 * the workflows' steps need, taken from the layer's context.
 */
export const layerHost = <R>(
  workflows: ReadonlyArray<Workflow.Any>,
  options?: { readonly maxIdleTime?: Duration.DurationInput | undefined }
): Layer.Layer<never, never, Sharding | JournalStore.JournalStore | Snapshots | R> =>
  RunEntity.toLayer(
    Effect.gen(function* () {
      const byName = new Map(workflows.map((w) => [w.name, w]))
      const address = yield* Entity.CurrentAddress
      const runId = address.entityId
      const entityScope = yield* Scope.Scope
      const context = yield* Effect.context<R | Sharding | Entity.CurrentAddress>()
      const journal = yield* JournalStore.JournalStore
      const snapshots = yield* Snapshots
      const local = RunEngine.makeLocal()
      const lock = yield* Effect.makeSemaphore(1)
      let hosted: { readonly handle: Run.RunHandle; readonly scope: Scope.CloseableScope } | undefined
      let fenced: Errors.JournalFencedError | undefined

      const keepAlive = (enabled: boolean) => Effect.provide(Entity.keepAlive(enabled), context)

      const onFenced = (error: Errors.JournalFencedError) =>
        Effect.suspend(() => {
          if (fenced !== undefined) return Effect.void
          fenced = error
          const current = hosted
          return Effect.zipRight(
            Effect.logWarning(`run ${runId}: another runner claimed it (epoch ${error.current}); stopping here`),
            current === undefined
              ? Effect.void
              : Effect.asVoid(Effect.forkDaemon(Scope.close(current.scope, Exit.void)))
          )
        })

      const workflowOf = (name: string) => {
        const workflow = byName.get(name)
        return workflow !== undefined
          ? Effect.succeed(workflow)
          : Effect.fail(
              new WorkflowValidationError({
                workflow: name,
                issues: [
                  `workflow "${name}" is not registered on this runner: pass it in ClusterEngine.layer({ workflows }) ` +
                    "of every runner process"
                ]
              })
            )
      }

      /** Hosts the run: claims its journal (a new epoch), then starts or resumes it with the fenced writer. */
      const host = <E>(
        make: Effect.Effect<Run.RunHandle<any, any>, E, Scope.Scope | RunStore.RunStore | JournalStore.JournalStore>
      ) =>
        Effect.gen(function* () {
          const writer = yield* JournalStore.claimWriter(journal, runId)
          const store = fencedStore(journal, writer, onFenced)
          const scope = yield* Scope.fork(entityScope, ExecutionStrategy.sequential)
          const runContext = Context.merge(
            context as Context.Context<unknown>,
            Context.make(JournalStore.JournalStore, store).pipe(
              Context.add(RunStore.RunStore, RunStore.withJournal(snapshots, store)),
              Context.add(RunEngine.RunEngine, local)
            )
          )
          const handle = yield* make.pipe(
            Scope.extend(scope),
            Effect.provide(runContext as Context.Context<RunStore.RunStore | JournalStore.JournalStore>),
            Effect.onError(() => Scope.close(scope, Exit.void))
          )
          hosted = { handle, scope }
          // When the run ends here, it no longer needs to be kept alive (its keep-alive message is answered).
          yield* Effect.forkIn(
            Effect.zipRight(
              Effect.exit(handle.result),
              Effect.flatMap(handle.status, (status) =>
                fenced === undefined && ended(status) ? keepAlive(false) : Effect.void
              )
            ),
            entityScope
          )
          return handle
        })

      /** The hosted run, resumed from its journal when it is not live here yet. */
      const ensureUnlocked = Effect.gen(function* () {
        if (fenced !== undefined) {
          return yield* Effect.fail(new RunNotFoundError({ runId, where: "engine" }))
        }
        if (hosted !== undefined) return hosted.handle
        const summary = yield* Effect.orDie(journal.summary(runId))
        if (Option.isNone(summary)) return yield* Effect.fail(new RunNotFoundError({ runId }))
        if (ended(summary.value.status)) {
          return yield* Effect.fail(new RunNotActiveError({ runId, status: summary.value.status }))
        }
        const workflow = yield* workflowOf(summary.value.workflow)
        return yield* host(local.resume(workflow, runId) as HostedRun)
      })
      const ensure = lock.withPermits(1)(ensureUnlocked)

      // A run that has not ended continues here as soon as this runner hosts its entity (after a failover, the
      // stored keep-alive message activates it).
      yield* Effect.forkIn(
        Effect.catchAllCause(
          Effect.flatMap(Effect.orDie(journal.summary(runId)), (summary) =>
            Option.isSome(summary) && !ended(summary.value.status) ? Effect.asVoid(ensure) : Effect.void
          ),
          (cause) => Effect.logWarning(`run ${runId}: could not be resumed on this runner`, cause)
        ),
        entityScope
      )

      return RunEntity.of({
        Start: ({ payload }) =>
          lock
            .withPermits(1)(
              Effect.gen(function* () {
                if (hosted !== undefined) return
                const summary = yield* Effect.orDie(journal.summary(runId))
                if (Option.isSome(summary)) {
                  // A start delivered again (after a failover): the run exists, it is continued, not started twice.
                  if (!ended(summary.value.status)) yield* ensureUnlocked
                  return
                }
                const workflow = yield* workflowOf(payload.workflow)
                const options = { ...((payload.options ?? {}) as Record<string, unknown>) }
                // `state` crosses encoded with the workflow's state schema (see the client's `wireOptions`).
                const stateSchema = (workflow as any).state as Schema.Schema<unknown, unknown, never> | undefined
                if (options.state !== undefined && stateSchema !== undefined) {
                  options.state = yield* Schema.decodeUnknown(stateSchema)(options.state).pipe(
                    Effect.mapError(
                      (error) =>
                        new InvalidInputError({
                          workflow: workflow.name,
                          detail: `run option "state" does not decode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
                        })
                    )
                  )
                }
                yield* keepAlive(true)
                yield* host(
                  local.start(workflow, payload.input, {
                    ...options,
                    durable: true,
                    runId
                  } as Run.RunOptions) as HostedRun
                ).pipe(Effect.tapError(() => keepAlive(false)))
              })
            )
            .pipe(Effect.asVoid, Effect.mapError(toRemote)),
        Send: ({ payload }) =>
          Effect.flatMap(ensure, (handle) =>
            handle.send(payload.event, payload.step === undefined ? undefined : { step: payload.step })
          ).pipe(Effect.mapError(toRemote)),
        Cancel: () => Effect.flatMap(ensure, (handle) => handle.cancel).pipe(Effect.mapError(toRemote))
      })
    }),
    { concurrency: "unbounded", ...(options?.maxIdleTime !== undefined ? { maxIdleTime: options.maxIdleTime } : {}) }
  ) as any
