/**
 * `RunStore`: where durable runs keep their snapshots. `layerMemory` here; `SqliteRunStore.layer` in
 * `@eventflow/sqlite` for a real file.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as JournalStore from "./JournalStore.js"
import * as filters from "./internal/runFilter.js"
import * as journaled from "./internal/journalRunStore.js"
import type { Snapshot, Status } from "./Snapshot.js"
import type { RunStoreError } from "./WorkflowError.js"

/**
 * A run as listed by {@link RunStore}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunSummary {
  readonly runId: string
  readonly workflow: string
  readonly status: Status
  readonly createdAt: number
  readonly updatedAt: number
  /** The conversation the run belongs to (`RunOptions.continue`), when it continues or was continued. */
  readonly conversationId?: string | undefined
  /** The parent run of a child workflow's run (`ctx.run`): `resumeAll` leaves it to its parent. */
  readonly parentRunId?: string | undefined
  /**
   * The definition signature the run was started with (`Journal.signature`), for runs kept on a journal: an operator
   * sees which runs predate a deploy.
   */
  readonly signature?: string | undefined
}

/**
 * Which runs `list` returns.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ListFilter {
  readonly workflow?: string | undefined
  readonly status?: ReadonlyArray<Status> | undefined
  /** Only the runs of this conversation (its id: the id of its first run). */
  readonly conversation?: string | undefined
  /** Only the child workflows' runs this run started (their `parentRunId`). */
  readonly parent?: string | undefined
  readonly limit?: number | undefined
  readonly offset?: number | undefined
}

/**
 * The statuses of runs that have not ended and can be resumed.
 *
 * @since 0.1.0
 * @category Models
 */
export const unfinished: ReadonlyArray<Status> = ["running", "waiting"]

/**
 * The operations of a run store. `save` replaces the run's previous snapshot atomically.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly save: (snapshot: Snapshot) => Effect.Effect<void, RunStoreError>
  readonly load: (runId: string) => Effect.Effect<Option.Option<Snapshot>, RunStoreError>
  readonly list: (filter?: ListFilter) => Effect.Effect<ReadonlyArray<RunSummary>, RunStoreError>
  readonly remove: (runId: string) => Effect.Effect<void, RunStoreError>
}

/**
 * The run store service.
 *
 * @since 0.1.0
 * @category Models
 */
export class RunStore extends Context.Tag("@eventflow/core/RunStore")<RunStore, Service>() {}

/**
 * Applies a {@link ListFilter} to summaries (newest first), for stores that filter in memory.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const applyFilter: (
  runs: ReadonlyArray<RunSummary>,
  filter: ListFilter | undefined
) => ReadonlyArray<RunSummary> = filters.applyFilter

/**
 * A store in memory (snapshots are copied through JSON, as a real store would).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  const runs = new Map<string, string>()
  const summaries = new Map<string, RunSummary>()
  return {
    save: (snapshot) =>
      Effect.sync(() => {
        runs.set(snapshot.runId, JSON.stringify(snapshot))
        summaries.set(snapshot.runId, {
          runId: snapshot.runId,
          workflow: snapshot.workflow,
          status: snapshot.status,
          createdAt: snapshot.createdAt,
          updatedAt: snapshot.updatedAt,
          ...(snapshot.conversation === undefined ? {} : { conversationId: snapshot.conversation.id }),
          ...(snapshot.parent === undefined ? {} : { parentRunId: snapshot.parent })
        })
      }),
    load: (runId) =>
      Effect.sync(() => Option.map(Option.fromNullable(runs.get(runId)), (json) => JSON.parse(json) as Snapshot)),
    list: (filter) => Effect.sync(() => applyFilter([...summaries.values()], filter)),
    remove: (runId) =>
      Effect.sync(() => {
        runs.delete(runId)
        summaries.delete(runId)
      })
  }
})

/**
 * A `RunStore` over a store of snapshots and a journal store: durable runs started on the journal are listed (with
 * their definition signature) and loaded from it, as snapshots built by replaying their journal with the definition
 * of that name known in this process (validated, or run here); other runs (version-1 snapshots) from `snapshots`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const withJournal: (snapshots: Service, journal: JournalStore.Service) => Service = journaled.withJournal

/**
 * A `RunStore` in memory, with a `JournalStore` in memory that durable runs keep their journal in: for tests and for
 * runs that need durability but not a file.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerMemory: Layer.Layer<RunStore | JournalStore.JournalStore> = Layer.effectContext(
  Effect.gen(function* () {
    const journal = yield* JournalStore.makeMemory
    const snapshots = yield* makeMemory
    return Context.make(RunStore, withJournal(snapshots, journal)).pipe(Context.add(JournalStore.JournalStore, journal))
  })
)
