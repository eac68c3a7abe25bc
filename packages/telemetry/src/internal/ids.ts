import { createHash } from "node:crypto"
import type { IdGenerator } from "@opentelemetry/sdk-trace-base"
import { RandomIdGenerator } from "@opentelemetry/sdk-trace-base"

/** The trace id and root span id of a run: the first 24 bytes of SHA-256 of its run id, in hex. @internal */
export const runTraceIds = (runId: string): { readonly traceId: string; readonly spanId: string } => {
  const hex = createHash("sha256").update(`eventflow-run:${runId}`).digest("hex")
  // All-zero ids are invalid in W3C trace context; a hash has them with negligible probability, but never emit one.
  const traceId = /^0+$/.test(hex.slice(0, 32)) ? `${hex.slice(0, 31)}1` : hex.slice(0, 32)
  const spanId = /^0+$/.test(hex.slice(32, 48)) ? `${hex.slice(32, 47)}1` : hex.slice(32, 48)
  return { traceId, spanId }
}

/**
 * Random ids, except for the one span started inside {@link FixedIds.with}: it gets the given ids. The SDK asks its
 * id generator synchronously inside `startSpan`, so the override cannot leak to another span.
 *
 * @internal
 */
export class FixedIds implements IdGenerator {
  private readonly random = new RandomIdGenerator()
  private next: { readonly traceId: string; readonly spanId: string } | undefined = undefined

  generateTraceId(): string {
    return this.next?.traceId ?? this.random.generateTraceId()
  }

  generateSpanId(): string {
    return this.next?.spanId ?? this.random.generateSpanId()
  }

  with<A>(ids: { readonly traceId: string; readonly spanId: string }, f: () => A): A {
    this.next = ids
    try {
      return f()
    } finally {
      this.next = undefined
    }
  }
}
