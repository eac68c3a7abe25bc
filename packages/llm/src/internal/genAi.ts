/**
 * Span attributes and metrics of LLM calls after the OpenTelemetry GenAI semantic conventions: `chat <model>` spans
 * with `gen_ai.*` attributes, `execute_tool <name>` spans, the `gen_ai.client.token.usage` histogram. Prompt and
 * completion content only when `CaptureContent` is on.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type { Request, Usage } from "../LLM.js"

/** The attributes every span of a call carries. */
export const base = (provider: string, model: string) => ({
  "gen_ai.operation.name": "chat",
  "gen_ai.provider.name": provider,
  // The name before `gen_ai.provider.name` (semantic conventions up to 1.36), still read by many backends.
  "gen_ai.system": provider,
  "gen_ai.request.model": model
})

/** `gen_ai.client.token.usage`: tokens per call, by `gen_ai.token.type` (`input` or `output`). */
export const tokenUsage = Metric.histogram(
  "gen_ai.client.token.usage",
  MetricBoundaries.exponential({ start: 1, factor: 4, count: 14 }),
  "Number of input and output tokens used per LLM call"
)

/** One label array per provider, model and token type: Effect caches a metric's hook per label array. */
const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labelsOf = (provider: string, model: string, type: "input" | "output") => {
  const key = `${provider}\u0000${model}\u0000${type}`
  let labels = labelCache.get(key)
  if (labels === undefined) {
    labels = [
      MetricLabel.make("gen_ai.operation.name", "chat"),
      MetricLabel.make("gen_ai.provider.name", provider),
      MetricLabel.make("gen_ai.request.model", model),
      MetricLabel.make("gen_ai.token.type", type)
    ]
    labelCache.set(key, labels)
  }
  return labels
}

export const recordUsage = (provider: string, model: string, usage: Usage): Effect.Effect<void> =>
  Effect.sync(() => {
    tokenUsage.unsafeUpdate(usage.inputTokens, labelsOf(provider, model, "input"))
    tokenUsage.unsafeUpdate(usage.outputTokens, labelsOf(provider, model, "output"))
  })

/** The prompt and the answer as span attributes (only recorded when content capture is on). */
export const content = (request: Request, output: unknown): Record<string, string> => ({
  ...(request.system === undefined ? {} : { "gen_ai.system_instructions": request.system }),
  "gen_ai.input.messages": JSON.stringify(request.messages),
  "gen_ai.output.messages": JSON.stringify([{ role: "assistant", ...(output as object) }])
})
