/**
 * Hooks for telemetry. Eventflow calls a {@link RunObserver} found in the context of a run (e.g. the one
 * `Telemetry.layer` of `@eventflow/telemetry` provides) when the run starts or resumes, around each step attempt and
 * each `ctx.waitFor`, when the run begins or stops waiting for input, and when it ends. Without one nothing is
 * called and nothing is allocated: the cost of a run without telemetry stays what it was.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"

/**
 * What a run is, as the observer sees it when the run starts or resumes in this process.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunInfo {
  readonly runId: string
  readonly workflow: string
  /** The definition signature (`Journal.signature`), computed on first read. */
  readonly signature: string
  readonly durable: boolean
  /** `true` when this process continues a run from a snapshot (`Workflow.resume`). */
  readonly resumed: boolean
  /** When the run was first started (epoch milliseconds, the run's clock), also after a resume. */
  readonly createdAt: number
  /** The span current where the run was started or resumed (e.g. a server request's span), if any. */
  readonly parent: Option.Option<Tracer.AnySpan>
  /**
   * The trace the run continues: when it was started under a trace that came from outside the process (an
   * `ExternalSpan` among the caller's spans, e.g. a server request with a W3C `traceparent`), that trace's id and
   * the id of the span the run is a child of. Journaled in `RunStarted`, so a resume in another process gets it too.
   */
  readonly traceParent?: { readonly traceId: string; readonly spanId: string } | undefined
  /** The run's clock (epoch milliseconds; a `TestClock` in tests). */
  readonly now: () => number
}

/**
 * One execution (attempt) of a step's handler.
 *
 * @since 0.1.0
 * @category Models
 */
export interface AttemptInfo {
  readonly step: string
  readonly eventId: string
  /** The `_tag` of the event the step handles. */
  readonly tag: string
  /** 1 for the first execution, 2 for the first retry (also counting executions before a resume). */
  readonly attempt: number
  /** How long the invocation waited behind the step's `workers` cap before it started (milliseconds). */
  readonly queuedMillis: number
  /** `true` when this re-executes an invocation that was in flight when the run was last saved. */
  readonly replayed: boolean
}

/**
 * A `ctx.waitFor` of a step.
 *
 * @since 0.1.0
 * @category Models
 */
export interface WaitInfo {
  readonly step: string
  readonly eventId: string
  /** The `_tag` the step waits for. */
  readonly tag: string
  /** The prompt the wait published, if any. */
  readonly prompt: string | undefined
}

/**
 * What an observer does for one run in this process. Each hook is called synchronously by the run loop and must
 * not throw.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunHooks {
  /** Wraps one execution of a step (timeout included, retries excluded: each retry is wrapped again). */
  readonly attempt: (info: AttemptInfo, effect: Effect.Effect<unknown, unknown>) => Effect.Effect<unknown, unknown>
  /** Wraps a `ctx.waitFor` from its registration to its answer (or timeout, or interruption). */
  readonly wait: <A, E>(info: WaitInfo, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** The run starts (`true`) or stops (`false`) waiting for input from outside. */
  readonly waiting: (waiting: boolean) => void
  /**
   * The run's outcome in this process: its result, its failure, `WorkflowCancelledError`; or an interruption only
   * when this process let the run go without ending it (a durable run detached at shutdown, to be resumed).
   */
  readonly ended: (exit: Exit.Exit<unknown, unknown>) => void
}

/**
 * The service: called once per run started or resumed in a context that holds it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly observe: (run: RunInfo) => RunHooks
}

/**
 * The observer of runs (absent by default).
 *
 * @since 0.1.0
 * @category Models
 */
export class RunObserver extends Context.Tag("@eventflow/core/RunObserver")<RunObserver, Service>() {}

/**
 * Whether telemetry may record prompt and completion content (LLM messages, tool arguments and results). Off by
 * default: content can hold personal data. `Telemetry.layer({ captureContent: true })` turns it on.
 *
 * @since 0.1.0
 * @category Models
 */
export class CaptureContent extends Context.Reference<CaptureContent>()("@eventflow/core/CaptureContent", {
  defaultValue: () => false
}) {}
