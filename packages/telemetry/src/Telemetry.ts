/**
 * One layer that turns on OpenTelemetry traces and metrics for Eventflow runs.
 *
 * Each run is one trace whose id and root span id are derived from the run id ({@link traceIdsOf}): a run resumed
 * in another process, after a crash or a restart, continues the same trace, and its root span
 * `invoke_workflow <name>` is emitted once, by the process where the run ends (with the run's start time). Each step
 * execution is a span `step <name>` (a child of the root), each `ctx.waitFor` a span `wait <tag>` inside it, each
 * resume in a process a span `resume_workflow <name>` linked to the root it continues. A run started under a trace
 * that came from outside the process (the server's request span continues an incoming W3C `traceparent`) continues
 * that trace instead: its root is a child of the caller's span, and the trace context is journaled in `RunStarted`
 * so a resume elsewhere continues it too. The caller's span and the run are linked both ways. Steps completed
 * before a resume are not executed again, so their spans are never emitted twice.
 *
 * @since 0.1.0
 */
import { RunObserver } from "@eventflow/core"
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Resource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import type * as OtelApi from "@opentelemetry/api"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanExporter,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"
import { FixedIds, runTraceIds } from "./internal/ids.js"
import * as observer from "./internal/observer.js"

/**
 * The options of {@link layer}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** `service.name` of the resource (`OTEL_SERVICE_NAME` wins when set). */
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
  /** More resource attributes (`OTEL_RESOURCE_ATTRIBUTES` is read too). */
  readonly resourceAttributes?: OtelApi.Attributes | undefined
  /**
   * Where spans go. Default: OTLP over HTTP, configured by the standard `OTEL_EXPORTER_OTLP_*` variables
   * (`OTEL_TRACES_EXPORTER=none` turns it off, `console` prints spans), batched.
   */
  readonly spanExporter?: SpanExporter | undefined
  /** Span processors instead of `spanExporter` (e.g. a `SimpleSpanProcessor` around an `InMemorySpanExporter`). */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
  /**
   * Where metrics go. Default: OTLP over HTTP every `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s), configured by the
   * standard variables (`OTEL_METRICS_EXPORTER=none` turns it off).
   */
  readonly metricReaders?: ReadonlyArray<MetricReader> | undefined
  /** Record prompt and completion content on LLM spans (off by default: it can hold personal data). */
  readonly captureContent?: boolean | undefined
  /**
   * Make the current Effect span the active OpenTelemetry context while Effect code runs, for libraries instrumented
   * with OpenTelemetry's own API (e.g. auto-instrumented HTTP clients) to parent their spans to it. Off by default:
   * it creates a context object around every step of every fiber, several times the cost of the spans themselves.
   */
  readonly otelContext?: boolean | undefined
  /** How long closing the layer waits for the last spans and metrics to be exported (default 3 seconds). */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

const env = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value.trim() === "" ? undefined : value.trim().toLowerCase()
}

const defaultSpanProcessors = (): Array<SpanProcessor> => {
  const exporters = (env("OTEL_TRACES_EXPORTER") ?? "otlp").split(",").map((s) => s.trim())
  const processors: Array<SpanProcessor> = []
  for (const name of exporters) {
    if (name === "otlp") processors.push(new BatchSpanProcessor(new OTLPTraceExporter()))
    else if (name === "console") processors.push(new BatchSpanProcessor(new ConsoleSpanExporter()))
  }
  return processors
}

const defaultMetricReaders = (): Array<MetricReader> => {
  const exporters = (env("OTEL_METRICS_EXPORTER") ?? "otlp").split(",").map((s) => s.trim())
  return exporters.includes("otlp") ? [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() })] : []
}

const isPrimitiveArray = (u: unknown): u is Array<string> | Array<number> | Array<boolean> =>
  Array.isArray(u) &&
  (u.every((x) => typeof x === "string") ||
    u.every((x) => typeof x === "number") ||
    u.every((x) => typeof x === "boolean"))

/**
 * Effect's OpenTelemetry spans turn every non-primitive attribute into a string; OpenTelemetry has arrays of
 * primitives (e.g. `gen_ai.response.finish_reasons`), so those are set as arrays.
 */
const keepArrays = (tracer: Tracer.Tracer, otelContext: boolean): Tracer.Tracer =>
  Tracer.make({
    span: (...args) => {
      const span = tracer.span(...args)
      const otel = (span as { readonly span?: OtelApi.Span }).span
      if (otel === undefined) return span
      const attribute = span.attribute.bind(span)
      span.attribute = (key, value) => {
        if (!isPrimitiveArray(value)) return attribute(key, value)
        otel.setAttribute(key, value)
        ;(span.attributes as Map<string, unknown>).set(key, value)
      }
      return span
    },
    // `@effect/opentelemetry` makes the current span the active OpenTelemetry context around every step of every
    // fiber (a new context object each time): needed only by code instrumented with OpenTelemetry's own API.
    context: otelContext ? tracer.context : (f) => f()
  })

/**
 * Traces and metrics of every run started or resumed under this layer, exported with OpenTelemetry (and every
 * other Effect span and metric of the program with them). `OTEL_SDK_DISABLED=true` makes it a layer that does
 * nothing.
 *
 * @since 0.1.0
 * @category Layers
 * @example
 * ```ts
 * import { Telemetry } from "@eventflow/telemetry"
 * import { Workflow } from "@eventflow/core"
 * import { Effect } from "effect"
 *
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 node app.js
 * const program = Workflow.run(myWorkflow, input).pipe(Effect.provide(Telemetry.layer({ serviceName: "my-app" })))
 * ```
 */
export const layer = (options: Options): Layer.Layer<RunObserver.RunObserver | OtelTracer.OtelTracer> =>
  Layer.unwrapEffect(
    Effect.sync(() => {
      if (env("OTEL_SDK_DISABLED") === "true") return Layer.empty as Layer.Layer<any>
      const ids = new FixedIds()
      const processors = options.spanProcessors ?? (options.spanExporter === undefined ? undefined : [])
      const spanProcessors =
        options.spanExporter !== undefined
          ? [...(processors ?? []), new BatchSpanProcessor(options.spanExporter)]
          : (processors ?? defaultSpanProcessors())
      const metricReaders = options.metricReaders ?? defaultMetricReaders()
      const shutdownTimeout = options.shutdownTimeout ?? "3 seconds"
      const resource = Resource.layerFromEnv({
        ...(env("OTEL_SERVICE_NAME") === undefined ? { "service.name": options.serviceName } : {}),
        ...(options.serviceVersion === undefined ? {} : { "service.version": options.serviceVersion }),
        ...options.resourceAttributes
      })
      const effectTracer = Layer.unwrapEffect(
        Effect.map(OtelTracer.make, (t) => Layer.setTracer(keepArrays(t, options.otelContext === true)))
      )
      const tracing =
        spanProcessors.length === 0
          ? Layer.provideMerge(effectTracer, OtelTracer.layerGlobalTracer)
          : Layer.provideMerge(effectTracer, OtelTracer.layerTracer).pipe(
              Layer.provide(
                NodeSdk.layerTracerProvider(spanProcessors as [SpanProcessor, ...Array<SpanProcessor>], {
                  idGenerator: ids,
                  shutdownTimeout
                })
              )
            )
      const observe = Layer.effect(
        RunObserver.RunObserver,
        Effect.map(OtelTracer.OtelTracer, (tracer) => observer.make(tracer, ids))
      )
      const metrics =
        metricReaders.length === 0
          ? Layer.empty
          : Metrics.layer(() => metricReaders as [MetricReader, ...Array<MetricReader>], { shutdownTimeout })
      const content = options.captureContent === true ? Layer.succeed(RunObserver.CaptureContent, true) : Layer.empty
      return Layer.mergeAll(Layer.provideMerge(observe, tracing), metrics, content).pipe(Layer.provide(resource))
    })
  )

/**
 * The trace id and root span id of a run, derived from its run id (the first 24 bytes of a SHA-256): the same in
 * every process, so a backend can be asked for a run's trace by its run id. A run that continues an incoming trace
 * (a W3C `traceparent`) is in that trace instead; its root span id is still this `spanId`.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const traceIdsOf: (runId: string) => { readonly traceId: string; readonly spanId: string } = runTraceIds
