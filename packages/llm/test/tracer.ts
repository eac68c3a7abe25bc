import { Effect, Layer, Tracer } from "effect"

export interface RecordedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
}

/** A tracer that records every span's name and attributes, for tests that check telemetry. */
export const recordSpans = Effect.sync(() => {
  const spans: Array<RecordedSpan> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, _startTime, kind) => {
      const attributes = new Map<string, unknown>()
      spans.push({ name, attributes })
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${spans.length}`,
        traceId: "trace-1",
        parent,
        context,
        status: { _tag: "Started", startTime: 0n },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  return { spans, layer: Layer.setTracer(tracer) }
})

export const spanNamed = (spans: ReadonlyArray<RecordedSpan>, name: string): RecordedSpan => {
  const span = spans.find((s) => s.name === name)
  if (span === undefined) throw new Error(`no span ${name} among ${spans.map((s) => s.name).join(", ")}`)
  return span
}
