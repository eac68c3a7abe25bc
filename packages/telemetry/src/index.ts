/**
 * @since 0.1.0
 */

/**
 * OpenTelemetry traces and metrics for Eventflow runs: `Telemetry.layer`, `Telemetry.traceIdsOf`.
 *
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.js"

/**
 * The run metrics (Effect `Metric`s, exported by `Telemetry.layer`).
 *
 * @since 0.1.0
 */
export * as RunMetrics from "./RunMetrics.js"
