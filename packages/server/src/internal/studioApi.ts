/**
 * The routes the studio needs besides the run API: a workflow's graph with its event schemas, a run's journal, and
 * forks. Kept apart from `WorkflowServer.ts`; the server gives them what they need of its registry.
 *
 * @internal
 */
import { Event, Journal, JournalStore, Workflow, type WorkflowError } from "@eventflow/core"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import {
  InvalidFork,
  JournalUnavailable,
  type RunInfo,
  type RunNotFound,
  StoreUnavailable,
  type WorkflowGraph,
  type WorkflowNotFound
} from "../WorkflowApi.js"

/** @internal */
export interface Deps {
  readonly journal: Option.Option<JournalStore.Service>
  readonly findWorkflow: (name: string) => Effect.Effect<Workflow.Any, WorkflowNotFound>
  /** A served workflow, or a child workflow one of them declares (its graph is drawn for a child run). */
  readonly findDrawable: (name: string) => Effect.Effect<Workflow.Any, WorkflowNotFound>
  /** Fails with `RunNotFound` when the server knows no run with this id. */
  readonly exists: (runId: string) => Effect.Effect<void, RunNotFound | StoreUnavailable>
  /** Resumes the run (from its journal) in the server's registry, as a live run. */
  readonly startResumed: (
    workflow: Workflow.Any,
    runId: string
  ) => Effect.Effect<
    RunInfo,
    | WorkflowError.InvalidSnapshotError
    | WorkflowError.RunNotFoundError
    | WorkflowError.RunStoreError
    | WorkflowError.JournalMismatchError
  >
}

const jsonSchema = (schema: Schema.Schema.Any): unknown => {
  try {
    return JSONSchema.make(schema)
  } catch {
    return null
  }
}

const noJournal = new JournalUnavailable({
  message:
    "this server has no JournalStore: runs are kept as RunStore checkpoints only, so there is no journal to read or fork"
})

const journalFailed = (error: WorkflowError.JournalStoreError | WorkflowError.JournalConflictError) =>
  new StoreUnavailable({ message: `${error.message}. Nothing was acknowledged; retry later.` })

const describeGraph = (workflow: Workflow.Any): WorkflowGraph => {
  const events: Record<string, unknown> = {}
  for (const [tag, schema] of Workflow.eventTypes(workflow)) events[tag] = jsonSchema(schema)
  return {
    name: workflow.name,
    description: workflow.description ?? null,
    signature: Journal.signature(workflow),
    graph: Workflow.graph(workflow),
    mermaid: Workflow.toMermaid(workflow),
    input: jsonSchema(workflow.input),
    events,
    external: [...new Set(["HumanResponse", ...workflow.external.map((type) => Event.tagOf(type as Event.EventType))])]
  }
}

/** @internal */
export const make = (deps: Deps) => {
  const graphs = new Map<string, WorkflowGraph>()
  const graph = (name: string) =>
    Effect.map(deps.findDrawable(name), (workflow) => {
      let described = graphs.get(name)
      if (described === undefined) {
        described = describeGraph(workflow)
        graphs.set(name, described)
      }
      return described
    })

  const journal = (runId: string, from: number) =>
    Effect.gen(function* () {
      if (Option.isNone(deps.journal)) {
        yield* deps.exists(runId)
        return yield* noJournal
      }
      const store = deps.journal.value
      const entries = yield* store.read(runId, from).pipe(Effect.mapError(journalFailed))
      // An empty page of an unknown run is a 404, of a known run (or past the end of its journal) just empty.
      if (entries.length === 0) {
        const known = yield* store.summary(runId).pipe(Effect.mapError(journalFailed))
        if (Option.isNone(known)) yield* deps.exists(runId)
      }
      return { runId, entries }
    })

  const fork = (
    runId: string,
    request: { readonly offset: number; readonly event?: unknown; readonly index?: number | undefined }
  ) =>
    Effect.gen(function* () {
      if (Option.isNone(deps.journal)) {
        yield* deps.exists(runId)
        return yield* noJournal
      }
      const store = deps.journal.value
      const head = yield* store.read(runId, 0).pipe(Effect.mapError(journalFailed))
      if (head.length === 0) {
        yield* deps.exists(runId)
        return yield* new JournalUnavailable({
          message: `run "${runId}" has no journal (it was not run with a journal store): it cannot be forked`
        })
      }
      const started = head[0].entry
      const workflow = yield* deps.findWorkflow(started._tag === "RunStarted" ? started.workflow : "")
      const copied = yield* Workflow.forkJournal(workflow, {
        from: runId,
        offset: request.offset,
        event: request.event,
        index: request.index
      }).pipe(
        Effect.provideService(JournalStore.JournalStore, store),
        Effect.catchTags({
          ForkError: (error) => Effect.fail(new InvalidFork({ message: error.message })),
          JournalStoreError: (error) => Effect.fail(journalFailed(error)),
          JournalConflictError: (error) => Effect.fail(journalFailed(error))
        })
      )
      return yield* deps.startResumed(workflow, copied.runId).pipe(
        Effect.catchTags({
          RunNotFoundError: () =>
            Effect.fail(
              new JournalUnavailable({
                message:
                  `the fork's journal is written (run "${copied.runId}", ${copied.entries.length} entries) but this ` +
                  "server's engine resumes runs from RunStore checkpoints, not from a journal: the fork cannot run"
              })
            ),
          InvalidSnapshotError: (error) => Effect.fail(new InvalidFork({ message: error.message })),
          // An edited event the definition cannot take (a step that does not accept it, a payload that does not decode).
          JournalMismatchError: (error) => Effect.fail(new InvalidFork({ message: error.message })),
          RunStoreError: (error) => Effect.fail(new StoreUnavailable({ message: `${error.message}; retry later.` }))
        })
      )
    })

  return { graph, journal, fork }
}
