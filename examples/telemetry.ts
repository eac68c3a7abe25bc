/**
 * The quickstart's workflow with OpenTelemetry: `Telemetry.layer` of `@eventflow/telemetry` exports a trace per run
 * (`invoke_workflow blog-post` with a `step <name>` span per step execution) and the run metrics.
 *
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 node --conditions=source --import tsx examples/telemetry.ts
 *
 * sends them over OTLP/HTTP (e.g. to a local Jaeger: `docker run -p 16686:16686 -p 4318:4318
 * jaegertracing/all-in-one`, then open http://localhost:16686). Without the variable it keeps the spans in memory
 * and prints the run's span tree.
 */
import { pathToFileURL } from "node:url"
import { Workflow } from "@eventflow/core"
import { Telemetry } from "@eventflow/telemetry"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Console, Effect } from "effect"
import { blogPost } from "./quickstart.js"

const program = Workflow.run(blogPost, { topic: "typed errors" }, { runId: "blog-1" })

// Exports over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the standard OTEL_* variables configure it).
export const main = program.pipe(Effect.provide(Telemetry.layer({ serviceName: "blog" })))

/** The span tree of a run, one span per line, indented under its parent. */
export const tree = (spans: ReadonlyArray<ReadableSpan>, traceId: string): string => {
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId)
  const children = (parent: string | undefined): Array<ReadableSpan> =>
    inTrace.filter((s) => (s.parentSpanContext?.spanId ?? undefined) === parent)
  const lines: Array<string> = []
  const walk = (span: ReadableSpan, depth: number) => {
    lines.push(`${"  ".repeat(depth)}${span.name}`)
    for (const child of children(span.spanContext().spanId)) walk(child, depth + 1)
  }
  for (const root of children(undefined)) walk(root, 0)
  return lines.join("\n")
}

/** Runs the workflow with the spans kept in memory; returns the run's span tree. */
export const inMemory = Effect.suspend(() => {
  const exporter = new InMemorySpanExporter()
  return program.pipe(
    Effect.zipRight(Effect.sync(() => tree(exporter.getFinishedSpans(), Telemetry.traceIdsOf("blog-1").traceId))),
    Effect.provide(
      Telemetry.layer({ serviceName: "blog", spanProcessors: [new SimpleSpanProcessor(exporter)], metricReaders: [] })
    )
  )
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? Effect.flatMap(inMemory, (spans) => Console.log(spans))
      : Effect.zipRight(main, Console.log("exported to", process.env.OTEL_EXPORTER_OTLP_ENDPOINT))
  )
}
