import { Telemetry } from "@eventflow/telemetry"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { AggregationTemporality, type DataPoint, MetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { Effect } from "effect"

/** A metric reader the test collects from on demand. */
export class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/** An in-memory exporter that keeps its spans when the layer closes (the SDK's clears them on shutdown). */
export class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/** `Telemetry.layer` with an in-memory span exporter (spans exported as they end) and a metric reader. */
export const makeTelemetry = (options?: { readonly captureContent?: boolean }) => {
  const exporter = new KeepingExporter()
  const reader = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  const layer = Telemetry.layer({
    serviceName: "telemetry-test",
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    metricReaders: [reader],
    captureContent: options?.captureContent
  })
  return { exporter, reader, layer, spans: () => exporter.getFinishedSpans() }
}

export const named = (spans: ReadonlyArray<ReadableSpan>, name: string): Array<ReadableSpan> =>
  spans.filter((s) => s.name === name)

export const one = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const found = named(spans, name)
  if (found.length !== 1) {
    throw new Error(`expected one span "${name}", found ${found.length} among: ${spans.map((s) => s.name).join(", ")}`)
  }
  return found[0]!
}

export const parentId = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

/** The data points of metric `name` collected now. */
export const points = (reader: TestReader, name: string) =>
  Effect.promise(() => reader.collect()).pipe(
    Effect.map(({ resourceMetrics }: { resourceMetrics: ResourceMetrics }) => {
      const out: Array<DataPoint<unknown>> = []
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) if (metric.descriptor.name === name) out.push(...metric.dataPoints)
      }
      return out
    })
  )

/** The value of the data point of metric `name` whose attributes include `attributes`. */
export const pointValue = (reader: TestReader, name: string, attributes: Record<string, string>) =>
  Effect.map(points(reader, name), (all) => {
    const found = all.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    return found.length === 0 ? undefined : found[0]!.value
  })
