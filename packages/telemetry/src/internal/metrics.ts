import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

const millis = MetricBoundaries.exponential({ start: 1, factor: 2, count: 20 })

/** @internal */
export const runsStarted = Metric.counter("eventflow.runs.started", {
  description: "Runs started, per workflow",
  incremental: true
})
/** @internal */
export const runsCompleted = Metric.counter("eventflow.runs.completed", {
  description: "Runs that completed with a result, per workflow",
  incremental: true
})
/** @internal */
export const runsFailed = Metric.counter("eventflow.runs.failed", {
  description: "Runs that failed (a step's error, a defect, a timeout, a stall), per workflow",
  incremental: true
})
/** @internal */
export const runsCancelled = Metric.counter("eventflow.runs.cancelled", {
  description: "Runs cancelled, per workflow",
  incremental: true
})
/** @internal */
export const runsActive = Metric.gauge("eventflow.runs.active", {
  description: "Runs being executed in this process (started or resumed here, not ended or let go), per workflow"
})
/** @internal */
export const runsWaiting = Metric.gauge("eventflow.runs.waiting", {
  description: "Runs of this process that wait for input from outside (a person, a send), per workflow"
})
/** @internal */
export const stepDuration = Metric.histogram(
  "eventflow.step.duration",
  millis,
  "Duration of one step execution in milliseconds, per workflow, step and outcome"
)
/** @internal */
export const stepQueueTime = Metric.histogram(
  "eventflow.step.queue_time",
  millis,
  "Time an invocation waited behind its step's workers cap before it started, in milliseconds"
)
