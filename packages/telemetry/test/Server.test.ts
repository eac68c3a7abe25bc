import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowClient, WorkflowServer } from "@eventflow/server"
import { Telemetry } from "@eventflow/telemetry"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer, Schema } from "effect"
import { makeTelemetry, one } from "./utils.js"

const greet = defineWorkflow({
  name: "tel-greet",
  input: Schema.Struct({ name: Schema.String }),
  output: Schema.String
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: `hello ${start.input.name}` })), {
  name: "greet",
  emits: [StopEvent]
})

/** The server on a free port of 127.0.0.1 with the telemetry layer, in the test's scope; returns its base URL. */
const serve = (telemetry: Layer.Layer<never>) =>
  Effect.flatMap(RunStore.makeMemory, (store) =>
    Layer.build(
      WorkflowServer.layerWithStore({ workflows: [greet], port: 0 }).pipe(
        Layer.provide(Layer.succeed(RunStore.RunStore, store)),
        Layer.provide(telemetry)
      )
    )
  ).pipe(
    Effect.map((context) => {
      const address = Context.unsafeGet(context, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") return assert.fail("not a TCP address")
      return `http://127.0.0.1:${address.port}`
    })
  )

const linksTo = (span: ReadableSpan, traceId: string, spanId?: string) =>
  span.links.some((l) => l.context.traceId === traceId && (spanId === undefined || l.context.spanId === spanId))

describe("Telemetry through the server", () => {
  it.scoped(
    "the server continues an incoming traceparent into the run: the run's spans are in the incoming trace",
    () =>
      Effect.gen(function* () {
        const t = makeTelemetry()
        const base = yield* serve(t.layer as Layer.Layer<never>)
        const incomingTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
        const incomingSpan = "00f067aa0ba902b7"
        const response = yield* Effect.promise(() =>
          fetch(`${base}/workflows/tel-greet/runs`, {
            method: "POST",
            headers: { "content-type": "application/json", traceparent: `00-${incomingTrace}-${incomingSpan}-01` },
            body: JSON.stringify({ name: "Ada" })
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { runId: string } }))
        )
        assert.strictEqual(response.status, 200)
        const runId = response.body.runId
        const run = Telemetry.traceIdsOf(runId)
        const spans = t.spans()
        // The request's span continues the incoming trace.
        const server = spans.find((s) => s.attributes["http.request.method"] === "POST")
        assert.isDefined(server, spans.map((s) => s.name).join(", "))
        assert.strictEqual(server!.spanContext().traceId, incomingTrace)
        assert.strictEqual(server!.parentSpanContext?.spanId, incomingSpan)
        // The run continues it: its root span (its id still fixed by the run id) is in the incoming trace, a child of
        // a span of the request (the span current where the run was started), and its step spans are under the root.
        const root = one(spans, "invoke_workflow tel-greet")
        assert.strictEqual(root.spanContext().traceId, incomingTrace)
        assert.strictEqual(root.spanContext().spanId, run.spanId)
        const inRequest = spans.filter((s) => s.spanContext().traceId === incomingTrace)
        const parent = inRequest.find((s) => s.spanContext().spanId === root.parentSpanContext?.spanId)
        assert.isDefined(parent, `the root's parent is not a span of the request: ${root.parentSpanContext?.spanId}`)
        const step = one(spans, "step greet")
        assert.strictEqual(step.spanContext().traceId, incomingTrace)
        assert.strictEqual(step.parentSpanContext?.spanId, run.spanId)
        // And the links both ways stay.
        assert.isTrue(linksTo(root, incomingTrace), "the run is not linked to the incoming trace")
        assert.isTrue(
          inRequest.some((s) => linksTo(s, incomingTrace, run.spanId)),
          "no span of the request's trace links to the run"
        )
        assert.strictEqual(root.attributes["eventflow.run.id"], runId)
      })
  )

  it.scoped("WorkflowClient sends a traceparent: the server's span is a child of the client's request span", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      yield* Effect.gen(function* () {
        const base = yield* serve(Layer.empty)
        const client = yield* WorkflowClient.make({ baseUrl: base })
        yield* client.eventflow
          .startRun({ path: { name: "tel-greet" }, payload: { name: "Ada" }, urlParams: {} })
          .pipe(Effect.withSpan("caller"))
      }).pipe(Effect.provide(Layer.merge(t.layer, NodeHttpClient.layer)))
      const spans = t.spans()
      const caller = one(spans, "caller")
      const server = spans.find(
        (s) => s.attributes["http.request.method"] === "POST" && s.kind === 1 /* SpanKind.SERVER */
      )
      assert.isDefined(server, spans.map((s) => `${s.name}/${s.kind}`).join(", "))
      assert.strictEqual(server!.spanContext().traceId, caller.spanContext().traceId)
      const clientSpan = spans.find((s) => s.spanContext().spanId === server!.parentSpanContext?.spanId)
      assert.isDefined(clientSpan)
      assert.strictEqual(clientSpan!.kind, 2 /* SpanKind.CLIENT */)
    })
  )
})
