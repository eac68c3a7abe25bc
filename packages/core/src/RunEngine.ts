/**
 * `RunEngine`: where runs execute. `Workflow.run`, `start`, `resume`, `resumeAll` and `stream` go through the
 * engine in the context; without one they use the in-process engine ({@link layerLocal}), so
 * `Effect.runPromise(Workflow.run(wf, input))` needs no layer. Swapping the engine (a test engine, later one that
 * spreads runs over machines) is providing another layer.
 *
 * The engine's boundary is data: runs are addressed by their run id, inputs and events cross it in their encoded
 * form (decoded by the engine with the workflow's schemas), published events are plain objects, and workflows are
 * known by name. The in-process engine hands the objects over as they are (no re-encoding on the hot path).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/engine.js"
import type { PublishedEvent, RunHandle, RunOptions, Status } from "./Run.js"
import type { RunStore } from "./RunStore.js"
import type * as Workflow from "./Workflow.js"
import type {
  EventNotAcceptedError,
  InvalidEventError,
  InvalidInputError,
  InvalidSnapshotError,
  JournalStoreError,
  PromptNotOpenError,
  PublishedLogError,
  RunLimitError,
  RunNotActiveError,
  RunNotFoundError,
  RunStoreError,
  UnknownStepError,
  WorkflowValidationError
} from "./WorkflowError.js"

/**
 * A run live in an engine, as {@link Service.list} shows it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunInfo {
  readonly runId: string
  /** The name of the run's workflow. */
  readonly workflow: string
  readonly status: Status
}

/**
 * A run live in an engine, as {@link Service.get} gives it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LiveRun {
  readonly runId: string
  /** The name of the run's workflow. */
  readonly workflow: string
  readonly handle: RunHandle
}

/**
 * Which runs {@link Service.list} returns.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ListFilter {
  readonly workflow?: string | undefined
  readonly status?: ReadonlyArray<Status> | undefined
}

/**
 * Options of {@link Service.events}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EventsOptions {
  /** `true` adds trace events (`StepStarted`, ...). Default `false`. */
  readonly internal?: boolean | undefined
  /**
   * The offset in the run's published log (trace events included) to replay from: `0` (the default) replays
   * everything; the offset of an event is its position in the log.
   */
  readonly from?: number | undefined
}

/**
 * What a send from outside can fail with (`handle.send`, {@link Service.send}).
 *
 * @since 0.1.0
 * @category Models
 */
export type SendError =
  | UnknownStepError
  | InvalidEventError
  | RunNotActiveError
  | EventNotAcceptedError
  | PromptNotOpenError
  | RunLimitError
  | RunStoreError

/**
 * The operations of a run engine. Runs started here are live in the engine until they end (or are detached from
 * it: a durable run whose scope closed); the methods addressed by run id fail with `RunNotFoundError` for a run
 * that is not live in this engine (a durable run's last checkpoint stays readable in the `RunStore`).
 *
 * The steps of a run get the services of the context `start`/`run`/`resume` is called in; a durable run
 * (`durable: true`, or `resume` by run id) also reads the `RunStore` from it (`Workflow.start`'s overloads ask
 * for it in the types).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * Makes workflows known to the engine by name (an engine that runs them elsewhere needs the definitions there).
   * A second, different workflow of the same name fails with `WorkflowValidationError`; the in-process engine also
   * runs workflows it was never given.
   */
  readonly register: (workflows: ReadonlyArray<Workflow.Any>) => Effect.Effect<void, WorkflowValidationError>
  /** Starts a run bound to the caller's `Scope` (closing it cancels the run, or detaches a durable one). */
  readonly start: <W extends Workflow.Any>(
    workflow: W,
    input: unknown,
    options?: RunOptions<any>
  ) => Effect.Effect<
    RunHandle<W, RunStoreError>,
    InvalidInputError | WorkflowValidationError | RunStoreError,
    Workflow.Requirements<W> | Scope.Scope
  >
  /** Runs to the end and succeeds with the result (the run has no handle: a run that waits for input fails). */
  readonly run: <W extends Workflow.Any>(
    workflow: W,
    input: unknown,
    options?: RunOptions<any>
  ) => Effect.Effect<Workflow.Output<W>, unknown, Workflow.Requirements<W>>
  /** Starts a run and streams what it publishes; fails with the run's error when it fails. */
  readonly stream: <W extends Workflow.Any>(
    workflow: W,
    input: unknown,
    options?: RunOptions<any>
  ) => Stream.Stream<PublishedEvent, unknown, Workflow.Requirements<W>>
  /** Continues a run from a snapshot, or (given a run id) from its last checkpoint in the `RunStore`. */
  readonly resume: <W extends Workflow.Any>(
    workflow: W,
    from: unknown,
    options?: RunOptions<any>
  ) => Effect.Effect<
    RunHandle<W, RunStoreError>,
    InvalidSnapshotError | RunNotFoundError | RunStoreError,
    Workflow.Requirements<W> | Scope.Scope
  >
  /** Resumes every unfinished run of the workflow found in the `RunStore`. */
  readonly resumeAll: <W extends Workflow.Any>(
    workflow: W,
    options?: RunOptions<any>
  ) => Effect.Effect<
    ReadonlyArray<RunHandle<W, RunStoreError>>,
    InvalidSnapshotError | RunNotFoundError | RunStoreError,
    Workflow.Requirements<W> | Scope.Scope | RunStore
  >
  /** A live run: its workflow's name and its handle. */
  readonly get: (runId: string) => Effect.Effect<LiveRun, RunNotFoundError>
  /** Sends an encoded event into a live run (see `RunHandle.send`). */
  readonly send: (
    runId: string,
    event: unknown,
    options?: { readonly step?: string | undefined }
  ) => Effect.Effect<void, SendError | RunNotFoundError>
  /** Cancels a live run and waits until it has stopped (see `RunHandle.cancel`). */
  readonly cancel: (runId: string) => Effect.Effect<void, RunNotFoundError>
  /** The status of a live run. */
  readonly status: (runId: string) => Effect.Effect<Status, RunNotFoundError>
  /** Waits until a live run has ended or waits for input (see `RunHandle.settled`). */
  readonly settled: (runId: string) => Effect.Effect<Status, RunNotFoundError>
  /**
   * What a run published from an offset on, then live; ends after its terminal event. A run not live in this engine
   * but journaled in the `JournalStore` of the caller's context (hosted by another process sharing the store, or
   * ended) is read from its journal and followed (`RunEvents.follow`), with the same offsets; without a
   * journal of it, `RunNotFoundError`.
   */
  readonly events: (
    runId: string,
    options?: EventsOptions
  ) => Stream.Stream<PublishedEvent, RunNotFoundError | JournalStoreError | PublishedLogError>
  /** The runs live in this engine, in the order they started. */
  readonly list: (filter?: ListFilter) => Effect.Effect<ReadonlyArray<RunInfo>>
}

/**
 * The engine `Workflow.run`, `start`, `resume`, `resumeAll` and `stream` use. A `Context.Reference`: without a
 * layer the process-wide in-process engine is used.
 *
 * @since 0.1.0
 * @category Models
 */
export class RunEngine extends Context.Reference<RunEngine>()("@eventflow/core/RunEngine", {
  defaultValue: (): Service => internal.makeLocal()
}) {}

/**
 * Makes a new in-process engine, with its own registry of live runs.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeLocal = (): Service => internal.makeLocal()

/**
 * A fresh in-process engine (runs execute as fibers of this process, addressed by run id in its registry).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RunEngine, Workflow } from "@eventflow/core"
 * declare const wf: Workflow.Workflow<"wf", void, void, string, undefined, "StartEvent", "StopEvent", never, never>
 *
 * const program = Effect.gen(function* () {
 *   const handle = yield* Workflow.start(wf)
 *   const engine = yield* RunEngine.RunEngine
 *   return yield* engine.status(handle.runId)
 * }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerLocal: Layer.Layer<RunEngine> = Layer.sync(RunEngine, () => internal.makeLocal())
