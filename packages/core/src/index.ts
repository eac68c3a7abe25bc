/**
 * @since 0.1.0
 */

/**
 * Events: `Event.define`, the built-in events and the published lifecycle events.
 *
 * @since 0.1.0
 */
export * as Event from "./Event.js"

/**
 * Child workflows: `ChildEvent`, what a parent's stream shows of its children.
 *
 * @since 0.1.0
 */
export * as Child from "./Child.js"

/**
 * Graph model of a workflow (`Workflow.graph`).
 *
 * @since 0.1.0
 */
export * as Graph from "./Graph.js"

/**
 * Run handles and run options.
 *
 * @since 0.1.0
 */
export * as Run from "./Run.js"

/**
 * Hooks for telemetry (`RunObserver`, `CaptureContent`); `@eventflow/telemetry` implements them.
 *
 * @since 0.1.0
 */
export * as RunObserver from "./RunObserver.js"

/**
 * Where durable runs keep their snapshots.
 *
 * @since 0.1.0
 */
export * as RunStore from "./RunStore.js"

/**
 * Snapshots of runs.
 *
 * @since 0.1.0
 */
export * as Snapshot from "./Snapshot.js"

/**
 * The step context `ctx`.
 *
 * @since 0.1.0
 */
export * as StepContext from "./StepContext.js"

/**
 * Unit-testing steps.
 *
 * @since 0.1.0
 */
export * as Testing from "./Testing.js"

/**
 * Workflows: builder, run, stream, validate, draw.
 *
 * @since 0.1.0
 */
export * as Workflow from "./Workflow.js"

/**
 * The run journal: entries, ids, definition signature.
 *
 * @since 0.1.0
 */
export * as Journal from "./Journal.js"

/**
 * Where runs execute: the in-process engine by default, another one by providing a layer.
 *
 * @since 0.1.0
 */
export * as RunEngine from "./RunEngine.js"

/**
 * The published events of a durable run read from its journal and followed, from any process sharing the store.
 *
 * @since 0.1.0
 */
export * as RunEvents from "./RunEvents.js"

/**
 * Where durable runs keep their journals.
 *
 * @since 0.1.0
 */
export * as JournalStore from "./JournalStore.js"

/**
 * The conformance suite of journal stores.
 *
 * @since 0.1.0
 */
export * as JournalStoreSuite from "./JournalStoreSuite.js"

/**
 * Errors.
 *
 * @since 0.1.0
 */
export * as WorkflowError from "./WorkflowError.js"

export {
  /**
   * @since 0.1.0
   */
  HumanResponse,
  /**
   * @since 0.1.0
   */
  InputRequired,
  /**
   * @since 0.1.0
   */
  StartEvent,
  /**
   * @since 0.1.0
   */
  StepFailed,
  /**
   * @since 0.1.0
   */
  StopEvent
} from "./Event.js"

export {
  /**
   * @since 0.1.0
   */
  defineWorkflow
} from "./Workflow.js"

export * from "./WorkflowError.js"

export type {
  /**
   * @since 0.1.0
   */
  RunHandle
} from "./Run.js"
