/**
 * S1t, the chain of `eventflow.ts` traced with `Telemetry.layer`: a module of its own, imported by that scenario's
 * cell only (the OpenTelemetry SDK is not loaded in the processes of the other scenarios).
 */
import { Telemetry } from "@eventflow/telemetry"
import type { ExportResult } from "@opentelemetry/core"
import { BatchSpanProcessor, InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { runChain } from "./eventflowChain.js"

/** The SDK's in-memory exporter, emptied after each batch (so 130,000 spans do not pile up), counting what it got. */
class CountingExporter extends InMemorySpanExporter {
  count = 0
  override export(spans: Array<ReadableSpan>, done: (result: ExportResult) => void): void {
    this.count += spans.length
    super.export(spans, done)
    this.reset()
  }
}

/**
 * S1t: the same runs with `Telemetry.layer`, spans batched (`BatchSpanProcessor`, as the layer does for an exporter)
 * to the exporter in memory. The queue is large enough for the burst: with the SDK's default of 2,048 spans, the
 * processor drops most of them (the count check catches it). The count is read after the layer closed (flushed), so
 * the export work is inside the measured time.
 */
export const runTracedChain = async (runs: number) => {
  const exporter = new CountingExporter()
  const processor = new BatchSpanProcessor(exporter, { maxQueueSize: 1_000_000 })
  const results = await Effect.runPromise(
    runChain(runs).pipe(
      Effect.provide(Telemetry.layer({ serviceName: "bench", spanProcessors: [processor], metricReaders: [] }))
    )
  )
  return { results, spans: exporter.count }
}
