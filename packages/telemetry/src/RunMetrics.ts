/**
 * The metrics of runs, as Effect `Metric`s labelled with `workflow` (and `step`, `outcome` for steps). `Telemetry.layer`
 * exports them with every other Effect metric; `Metric.value` reads them in-process.
 *
 * @since 0.1.0
 */
import type * as Metric from "effect/Metric"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"
import * as M from "./internal/metrics.js"

/**
 * `eventflow.runs.started`: runs started (a resume is not a start).
 *
 * @since 0.1.0
 * @category Models
 */
export const runsStarted: Metric.Metric.Counter<number> = M.runsStarted

/**
 * `eventflow.runs.completed`: runs that completed with a result.
 *
 * @since 0.1.0
 * @category Models
 */
export const runsCompleted: Metric.Metric.Counter<number> = M.runsCompleted

/**
 * `eventflow.runs.failed`: runs that failed (a step's error, a defect, a run timeout, a stall).
 *
 * @since 0.1.0
 * @category Models
 */
export const runsFailed: Metric.Metric.Counter<number> = M.runsFailed

/**
 * `eventflow.runs.cancelled`: runs cancelled.
 *
 * @since 0.1.0
 * @category Models
 */
export const runsCancelled: Metric.Metric.Counter<number> = M.runsCancelled

/**
 * `eventflow.runs.active`: runs being executed in this process now.
 *
 * @since 0.1.0
 * @category Models
 */
export const runsActive: Metric.Metric.Gauge<number> = M.runsActive

/**
 * `eventflow.runs.waiting`: runs of this process waiting for input from outside now.
 *
 * @since 0.1.0
 * @category Models
 */
export const runsWaiting: Metric.Metric.Gauge<number> = M.runsWaiting

/**
 * `eventflow.step.duration`: milliseconds per step execution (labels `workflow`, `step`, `outcome`).
 *
 * @since 0.1.0
 * @category Models
 */
export const stepDuration: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = M.stepDuration

/**
 * `eventflow.step.queue_time`: milliseconds an invocation waited behind its step's `workers` cap.
 *
 * @since 0.1.0
 * @category Models
 */
export const stepQueueTime: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = M.stepQueueTime
