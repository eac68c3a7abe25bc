/**
 * The in-process `RunEngine`: runs are `RunImpl`s of this process, kept in a registry by run id while they are live,
 * and the entry points of `Workflow` (run, start, resume, resumeAll, stream) that go through the engine in context.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { RunOptions } from "../Run.js"
import { JournalStore } from "../JournalStore.js"
import { RunEngine, type RunInfo, type Service } from "../RunEngine.js"
import * as RunEvents from "../RunEvents.js"
import { RunStore, unfinished } from "../RunStore.js"
import type * as Workflow from "../Workflow.js"
import { RunNotFoundError, RunStoreError, WorkflowValidationError } from "../WorkflowError.js"
import { type RunImpl, resumeRun, startRun, startRunWith } from "./run.js"

const nativeTracer = Effect.runSync(Effect.tracer)

/**
 * An entry point of `Workflow` on the engine in context (the local one by default), in a span only when a tracer is
 * installed (`Effect.fn` would capture a stack trace and build a span on every call, which costs more than a whole
 * short run). Both read from the fiber in one step: `Workflow.run` is on the hot path.
 */
const onEngine = <A, E, R>(name: string, f: (engine: Service) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const effect = f(Context.get(fiber.currentContext, RunEngine))
    return fiber.currentTracer === nativeTracer ? effect : Effect.withSpan(effect, name, { captureStackTrace: false })
  })

/** A new in-process engine with an empty registry. @internal */
export const makeLocal = (): Service => {
  /** The live runs by id (a `Map` keeps them in start order, for `list`). */
  const runs = new Map<string, RunImpl>()
  const workflows = new Map<string, Workflow.Any>()

  /** Registers a run while it is live: it leaves the registry when it ends (or is detached). */
  const add = (run: RunImpl): RunImpl => {
    const id = run.runId
    runs.set(id, run)
    run.ended.listen(() => {
      if (runs.get(id) === run) runs.delete(id)
    })
    return run
  }

  const find = (runId: string): Effect.Effect<RunImpl, RunNotFoundError> =>
    Effect.suspend(() => {
      const run = runs.get(runId)
      return run === undefined ? Effect.fail(new RunNotFoundError({ runId, where: "engine" })) : Effect.succeed(run)
    })

  const resume = (self: Workflow.Any, from: unknown, options?: RunOptions) =>
    Effect.map(resumeRun(self, from, options), (run) => add(run).handle())

  const engine: Service = {
    register: (list) =>
      Effect.suspend(() => {
        for (const workflow of list) {
          const known = workflows.get(workflow.name)
          if (known !== undefined && known !== workflow) {
            return Effect.fail(
              new WorkflowValidationError({
                workflow: workflow.name,
                issues: [
                  `another workflow named "${workflow.name}" is already registered with this run engine; ` +
                    "workflow names must be unique per engine."
                ]
              })
            )
          }
        }
        for (const workflow of list) workflows.set(workflow.name, workflow)
        return Effect.void
      }),
    start: (self, input, options) => Effect.map(startRun(self, input, options), (run) => add(run).handle()) as any,
    run: (self, input, options) =>
      // Like `Effect.scoped(start … result)`, without a Scope (creating and closing one costs more than a short run).
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          startRunWith(self, input, options, (run) =>
            Effect.sync(() => {
              run.withoutHandle = true
              return add(run)
            })
          ),
          (run) => Effect.ensuring(restore(run.ended.await), run.shutdown)
        )
      ) as any,
    stream: (self, input, options) =>
      Stream.unwrapScoped(
        Effect.map(startRun(self, input, options), (run) => {
          add(run)
          return Stream.concat(run.log.stream(), Stream.drain(Stream.fromEffect(run.ended.await)))
        })
      ) as any,
    resume: resume as any,
    resumeAll: (self, options) =>
      Effect.flatMap(RunStore, (store) =>
        Effect.flatMap(store.list({ workflow: self.name, status: unfinished }), (runs) =>
          Effect.flatMap(Effect.serviceOption(JournalStore), (journal) =>
            Effect.flatMap(
              Option.isNone(journal)
                ? Effect.succeed(
                    [] as ReadonlyArray<{ readonly runId: string; readonly parentRunId?: string | undefined }>
                  )
                : Effect.mapError(
                    journal.value.list({ workflow: self.name, status: unfinished }),
                    (cause) => new RunStoreError({ operation: "list", cause })
                  ),
              (journaled) => {
                // A run in both stores (a version-1 run moved to the journal) is resumed once, from its journal.
                const ids = new Set(journaled.map((r) => r.runId))
                const all = [...journaled, ...runs.filter((r) => !ids.has(r.runId))]
                // A child run is resumed by its parent (the step that runs it is executed again), not on its own.
                const own = all.filter(
                  (r) => (r as { readonly parentRunId?: string | undefined }).parentRunId === undefined
                )
                return Effect.forEach(own, (r) => resume(self, r.runId, options))
              }
            )
          )
        )
      ) as any,
    get: (runId) =>
      Effect.map(find(runId), (run) => ({ runId: run.runId, workflow: run.workflowName, handle: run.handle() })),
    send: (runId, event, options) => Effect.flatMap(find(runId), (run) => run.send(event, options)),
    cancel: (runId) => Effect.flatMap(find(runId), (run) => run.cancel),
    status: (runId) => Effect.map(find(runId), (run) => run.status()),
    settled: (runId) => Effect.flatMap(find(runId), (run) => run.settled),
    events: (runId, options) =>
      Stream.unwrap(
        Effect.suspend(() => {
          const run = runs.get(runId)
          if (run !== undefined) return Effect.succeed(run.log.stream(options))
          // A run not live here (hosted by another process sharing the store, or ended): from its journal.
          return Effect.map(Effect.serviceOption(JournalStore), (journal) =>
            Option.isNone(journal)
              ? Stream.fail(new RunNotFoundError({ runId, where: "engine" }))
              : RunEvents.follow(journal.value, runId, options).pipe(
                  Stream.catchTag("RunNotFoundError", () =>
                    Stream.fail(new RunNotFoundError({ runId, where: "engine" }))
                  )
                )
          )
        })
      ),
    list: (filter) =>
      Effect.sync(() => {
        const result: Array<RunInfo> = []
        for (const run of runs.values()) {
          if (filter?.workflow !== undefined && run.workflowName !== filter.workflow) continue
          const status = run.status()
          if (filter?.status !== undefined && !filter.status.includes(status)) continue
          result.push({ runId: run.runId, workflow: run.workflowName, status })
        }
        return result
      })
  }
  return engine
}

/** @internal */
export const run = (self: Workflow.Any, input?: unknown, options?: RunOptions) =>
  onEngine("Workflow.run", (engine) => engine.run(self, input, options))

/** @internal */
export const start = (self: Workflow.Any, input?: unknown, options?: RunOptions) =>
  onEngine("Workflow.start", (engine) => engine.start(self, input, options))

/** @internal */
export const resume = (self: Workflow.Any, from: unknown, options?: RunOptions) =>
  onEngine("Workflow.resume", (engine) => engine.resume(self, from, options))

/** @internal */
export const resumeAll = (self: Workflow.Any, options?: RunOptions) =>
  onEngine("Workflow.resumeAll", (engine) => engine.resumeAll(self, options))

/** @internal */
export const stream = (self: Workflow.Any, input?: unknown, options?: RunOptions) =>
  Stream.unwrap(Effect.map(RunEngine, (engine) => engine.stream(self, input, options)))
