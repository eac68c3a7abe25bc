/**
 * A run started under a trace that came from outside (an incoming W3C `traceparent`, here the `ExternalSpan` the
 * server makes of it) continues that trace, also after a resume that knows nothing of the caller: the trace context
 * is journaled in the run's `RunStarted`.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  HumanResponse,
  InputRequired,
  JournalStore,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { Telemetry } from "@eventflow/telemetry"
import { Effect, Exit, Layer, Schema, Scope, Tracer } from "effect"
import { makeTelemetry, named, one } from "./utils.js"

const approve = defineWorkflow({ name: "tel-continue", output: Schema.String }).step(
  StartEvent,
  (_, ctx) =>
    Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "ok?" }) }), (a) =>
      StopEvent.make({ result: a.response })
    ),
  { name: "ask", emits: [StopEvent] }
)

const incoming = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" }

describe("Telemetry: an incoming trace", () => {
  it.scoped("a run started under an incoming trace continues it, and so does its resume in a new scope", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      // One store for both "processes"; each has its own scope and telemetry is the same exporter.
      const stores = yield* Layer.build(RunStore.layerMemory)
      const runId = "continued-1"
      const ids = Telemetry.traceIdsOf(runId)
      yield* Effect.gen(function* () {
        const first = yield* Scope.make()
        const handle = yield* Workflow.start(approve, undefined, { durable: true, runId }).pipe(
          Effect.withParentSpan(Tracer.externalSpan({ ...incoming, sampled: true })),
          Scope.extend(first)
        )
        assert.strictEqual(yield* handle.settled, "waiting")
        yield* Scope.close(first, Exit.void)
        // The journal records the trace the run continues: the incoming trace, under the span current at the start.
        const journal = yield* JournalStore.JournalStore
        const started = (yield* journal.read(runId))[0]!.entry
        assert.strictEqual(started._tag, "RunStarted")
        const traceParent = started._tag === "RunStarted" ? started.traceParent : undefined
        assert.strictEqual(traceParent?.traceId, incoming.traceId)

        // The resume has no incoming trace of its own: it continues the journaled one.
        const result = yield* Effect.scoped(
          Effect.gen(function* () {
            const resumed = yield* Workflow.resume(approve, runId)
            yield* resumed.send(HumanResponse.make({ response: "yes" }))
            return yield* resumed.result
          })
        )
        assert.strictEqual(result, "yes")
        const spans = t.spans()
        const root = one(spans, "invoke_workflow tel-continue")
        assert.strictEqual(root.spanContext().traceId, incoming.traceId)
        assert.strictEqual(root.spanContext().spanId, ids.spanId)
        assert.strictEqual(root.parentSpanContext?.spanId, traceParent?.spanId)
        // The span the run is a child of is the caller's `Workflow.start` span, itself under the incoming span.
        const start = spans.find((s) => s.spanContext().spanId === traceParent?.spanId)
        assert.strictEqual(start?.name, "Workflow.start")
        assert.strictEqual(start?.parentSpanContext?.spanId, incoming.spanId)
        // The resume's marker and the re-executed step are in the same trace, under the root.
        const resume = one(spans, "resume_workflow tel-continue")
        assert.strictEqual(resume.spanContext().traceId, incoming.traceId)
        assert.strictEqual(resume.parentSpanContext?.spanId, ids.spanId)
        for (const step of named(spans, "step ask")) {
          assert.strictEqual(step.spanContext().traceId, incoming.traceId)
          assert.strictEqual(step.parentSpanContext?.spanId, ids.spanId)
        }
      }).pipe(Effect.provide(stores), Effect.provide(t.layer))
    })
  )

  it.effect("a run started under a span of this process keeps the trace fixed by its run id", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      const runId = "local-1"
      yield* Workflow.run(
        defineWorkflow({ name: "tel-local", output: Schema.Number }).step(
          StartEvent,
          () => Effect.succeed(StopEvent.make({ result: 1 })),
          { name: "one", emits: [StopEvent] }
        ),
        undefined,
        { runId }
      ).pipe(Effect.withSpan("local caller"), Effect.provide(t.layer))
      const root = one(t.spans(), "invoke_workflow tel-local")
      assert.strictEqual(root.spanContext().traceId, Telemetry.traceIdsOf(runId).traceId)
      assert.strictEqual(root.parentSpanContext, undefined)
    })
  )
})
