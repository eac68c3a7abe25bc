import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  Journal,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { Telemetry } from "@eventflow/telemetry"
import { SpanStatusCode } from "@opentelemetry/api"
import { Effect, Exit, Option, Schedule, Schema, TestClock } from "effect"
import { makeTelemetry, named, one, parentId, pointValue } from "./utils.js"

const Search = Event.define("Search", { source: Schema.String })
const Found = Event.define("Found", { source: Schema.String, hits: Schema.Number })

const fanOut = (name: string) =>
  defineWorkflow({ name, output: Schema.Number })
    .step(StartEvent, () => Effect.succeed(["a", "b", "c"].map((source) => Search.make({ source }))), {
      name: "split",
      emits: [Search]
    })
    .step(Search, (search) => Effect.succeed(Found.make({ source: search.source, hits: search.source.length })), {
      name: "search",
      emits: [Found],
      workers: 1
    })
    .step(
      Found,
      (found, ctx) =>
        Effect.map(ctx.collect(found, Found, 3), (all) =>
          Option.isSome(all) ? StopEvent.make({ result: all.value.length }) : undefined
        ),
      { name: "join", emits: [StopEvent] }
    )

const Boom = Event.define("Boom", {})

describe("Telemetry", () => {
  it.effect("a fan-out/fan-in run is one trace: invoke_workflow at the root, a step span per execution under it", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      const wf = fanOut("tel-fan")
      const result = yield* Workflow.run(wf, undefined, { runId: "fan-1" }).pipe(Effect.provide(t.layer))
      assert.strictEqual(result, 3)
      const spans = t.spans()
      const root = one(spans, "invoke_workflow tel-fan")
      const ids = Telemetry.traceIdsOf("fan-1")
      assert.strictEqual(root.spanContext().traceId, ids.traceId)
      assert.strictEqual(root.spanContext().spanId, ids.spanId)
      assert.isUndefined(parentId(root))
      assert.strictEqual(root.attributes["eventflow.run.id"], "fan-1")
      assert.strictEqual(root.attributes["eventflow.workflow"], "tel-fan")
      assert.strictEqual(root.attributes["eventflow.workflow.signature"], Journal.signature(wf))
      assert.strictEqual(root.attributes["eventflow.run.durable"], false)
      assert.strictEqual(root.attributes["eventflow.run.outcome"], "completed")
      assert.strictEqual(root.status.code, SpanStatusCode.OK)

      const steps = spans.filter((s) => s.name.startsWith("step "))
      assert.deepStrictEqual(steps.map((s) => s.name).sort(), [
        "step join",
        "step join",
        "step join",
        "step search",
        "step search",
        "step search",
        "step split"
      ])
      // Every span of the run is in the run's trace; the caller's own span (`Workflow.run`) stays in the caller's
      // trace, linked both ways with the run.
      const caller = one(spans, "Workflow.run")
      for (const span of spans)
        if (span !== caller) assert.strictEqual(span.spanContext().traceId, ids.traceId, span.name)
      assert.deepStrictEqual(
        caller.links.map((l) => l.context.spanId),
        [ids.spanId]
      )
      assert.deepStrictEqual(
        root.links.map((l) => l.context.spanId),
        [caller.spanContext().spanId]
      )
      for (const step of steps) {
        assert.strictEqual(parentId(step), ids.spanId, step.name)
        assert.strictEqual(step.attributes["eventflow.run.id"], "fan-1")
        assert.strictEqual(step.attributes["eventflow.step.attempt"], 1)
        assert.strictEqual(step.attributes["eventflow.step.outcome"], "completed")
      }
      const split = one(spans, "step split")
      assert.strictEqual(split.attributes["eventflow.event.tag"], "StartEvent")
      assert.deepStrictEqual(split.attributes["eventflow.step.emitted"], ["Search", "Search", "Search"])
      const searches = named(spans, "step search")
      assert.deepStrictEqual(
        searches.map((s) => s.attributes["eventflow.event.tag"]),
        ["Search", "Search", "Search"]
      )
      assert.strictEqual(new Set(searches.map((s) => s.attributes["eventflow.event.id"])).size, 3)
      assert.deepStrictEqual(
        named(spans, "step join").map((s) => s.attributes["eventflow.step.emitted"]),
        [[], [], ["StopEvent"]]
      )
    })
  )

  it.effect("the time an invocation queued behind the workers cap is on its step span", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      const wf = defineWorkflow({ name: "tel-queue", output: Schema.Number })
        .step(StartEvent, () => Effect.succeed([Search.make({ source: "a" }), Search.make({ source: "b" })]), {
          name: "split",
          emits: [Search]
        })
        .step(Search, (search) => Effect.as(Effect.sleep("1 second"), Found.make({ source: search.source, hits: 1 })), {
          name: "search",
          emits: [Found],
          workers: 1
        })
        .step(
          Found,
          (found, ctx) =>
            Effect.map(ctx.collect(found, Found, 2), (all) =>
              Option.isSome(all) ? StopEvent.make({ result: all.value.length }) : undefined
            ),
          { name: "join", emits: [StopEvent] }
        )
      const fiber = yield* Effect.fork(Workflow.run(wf).pipe(Effect.provide(t.layer)))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Effect.flatten(fiber.await), 2)
      const searches = named(t.spans(), "step search").map((s) => s.attributes["eventflow.step.queued_ms"])
      assert.deepStrictEqual(searches, [0, 1000])
    })
  )

  it.effect("a failing run: the step span and the root span record the error", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      class Broken extends Schema.TaggedError<Broken>()("Broken", { why: Schema.String }) {}
      const wf = defineWorkflow({ name: "tel-fail" })
        .step(StartEvent, () => Effect.succeed(Boom.make({})), { name: "first", emits: [Boom] })
        .step(Boom, () => Effect.fail(new Broken({ why: "disk on fire" })), { name: "breaks", emits: [StopEvent] })
      const exit = yield* Effect.exit(Workflow.run(wf, undefined, { runId: "fail-1" }).pipe(Effect.provide(t.layer)))
      assert.isTrue(Exit.isFailure(exit))
      const spans = t.spans()
      const step = one(spans, "step breaks")
      assert.strictEqual(step.status.code, SpanStatusCode.ERROR)
      assert.strictEqual(step.attributes["eventflow.step.outcome"], "failed")
      assert.isTrue(step.events.some((e) => e.name === "exception"))
      const root = one(spans, "invoke_workflow tel-fail")
      assert.strictEqual(root.status.code, SpanStatusCode.ERROR)
      assert.strictEqual(root.attributes["eventflow.run.outcome"], "failed")
      assert.strictEqual(root.attributes["error.type"], "Broken")
      const exception = root.events.find((e) => e.name === "exception")
      assert.strictEqual(exception?.attributes?.["exception.type"], "Broken")
      assert.strictEqual(one(spans, "step first").status.code, SpanStatusCode.OK)
    })
  )

  it.effect("a retrying step: one span per attempt, numbered, the failed ones marked failed", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      let calls = 0
      const wf = defineWorkflow({ name: "tel-retry", output: Schema.Number }).step(
        StartEvent,
        () =>
          Effect.suspend(() =>
            ++calls < 3 ? Effect.fail(`flaky ${calls}`) : Effect.succeed(StopEvent.make({ result: calls }))
          ),
        { name: "flaky", emits: [StopEvent], retry: Schedule.recurs(3) }
      )
      assert.strictEqual(yield* Workflow.run(wf).pipe(Effect.provide(t.layer)), 3)
      const attempts = named(t.spans(), "step flaky")
      assert.deepStrictEqual(
        attempts.map((s) => [s.attributes["eventflow.step.attempt"], s.attributes["eventflow.step.outcome"]]),
        [
          [1, "failed"],
          [2, "failed"],
          [3, "completed"]
        ]
      )
      assert.deepStrictEqual(
        attempts.map((s) => s.status.code),
        [SpanStatusCode.ERROR, SpanStatusCode.ERROR, SpanStatusCode.OK]
      )
      assert.strictEqual(new Set(attempts.map((s) => s.attributes["eventflow.event.id"])).size, 1)
    })
  )

  it.effect("a wait for a person is a span inside its step span", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      const wf = defineWorkflow({ name: "tel-wait", output: Schema.Boolean }).step(
        StartEvent,
        (_, ctx) =>
          Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "ok?" }) }), (a) =>
            StopEvent.make({ result: a.response === "yes" })
          ),
        { name: "ask", emits: [StopEvent] }
      )
      const result = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.start(wf)
          assert.strictEqual(yield* handle.settled, "waiting")
          yield* handle.send(HumanResponse.make({ response: "yes" }))
          return yield* handle.result
        })
      ).pipe(Effect.provide(t.layer))
      assert.isTrue(result)
      const spans = t.spans()
      const wait = one(spans, "wait HumanResponse")
      const step = one(spans, "step ask")
      assert.strictEqual(parentId(wait), step.spanContext().spanId)
      assert.strictEqual(wait.attributes["eventflow.wait.prompt"], "InputRequired")
    })
  )

  it.effect("metrics: runs started/completed/failed/cancelled, active and waiting runs, step histograms", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      const ok = fanOut("tel-metrics")
      const failing = defineWorkflow({ name: "tel-metrics-fail" }).step(StartEvent, () => Effect.fail("no"), {
        name: "fails",
        emits: [StopEvent]
      })
      const waiting = defineWorkflow({ name: "tel-metrics-wait" }).step(
        StartEvent,
        (_, ctx) => Effect.as(ctx.waitFor(HumanResponse), StopEvent.make({ result: 1 })),
        { name: "waits", emits: [StopEvent] }
      )
      yield* Effect.gen(function* () {
        yield* Workflow.run(ok)
        yield* Workflow.run(ok)
        yield* Effect.exit(Workflow.run(failing))
        yield* Effect.scoped(
          Effect.gen(function* () {
            const a = yield* Workflow.start(waiting)
            const b = yield* Workflow.start(waiting)
            yield* a.settled
            yield* b.settled
            assert.strictEqual(
              yield* pointValue(t.reader, "eventflow.runs.waiting", { workflow: "tel-metrics-wait" }),
              2
            )
            assert.strictEqual(
              yield* pointValue(t.reader, "eventflow.runs.active", { workflow: "tel-metrics-wait" }),
              2
            )
            yield* a.send(HumanResponse.make({ response: "go" }))
            yield* a.result
            assert.strictEqual(
              yield* pointValue(t.reader, "eventflow.runs.waiting", { workflow: "tel-metrics-wait" }),
              1
            )
            yield* b.cancel
          })
        )
        const value = (name: string, workflow: string) => pointValue(t.reader, name, { workflow })
        assert.strictEqual(yield* value("eventflow.runs.started", "tel-metrics"), 2)
        assert.strictEqual(yield* value("eventflow.runs.completed", "tel-metrics"), 2)
        assert.strictEqual(yield* value("eventflow.runs.started", "tel-metrics-fail"), 1)
        assert.strictEqual(yield* value("eventflow.runs.failed", "tel-metrics-fail"), 1)
        assert.strictEqual(yield* value("eventflow.runs.started", "tel-metrics-wait"), 2)
        assert.strictEqual(yield* value("eventflow.runs.completed", "tel-metrics-wait"), 1)
        assert.strictEqual(yield* value("eventflow.runs.cancelled", "tel-metrics-wait"), 1)
        assert.strictEqual(yield* value("eventflow.runs.active", "tel-metrics-wait"), 0)
        assert.strictEqual(yield* value("eventflow.runs.waiting", "tel-metrics-wait"), 0)
        assert.strictEqual(yield* value("eventflow.runs.active", "tel-metrics"), 0)
        const histogram = (yield* pointValue(t.reader, "eventflow.step.duration", {
          workflow: "tel-metrics",
          step: "search",
          outcome: "completed"
        })) as { count: number } | undefined
        assert.strictEqual(histogram?.count, 6)
        const queue = (yield* pointValue(t.reader, "eventflow.step.queue_time", {
          workflow: "tel-metrics",
          step: "search"
        })) as { count: number } | undefined
        assert.strictEqual(queue?.count, 6)
      }).pipe(Effect.provide(t.layer))
    })
  )

  it.effect("without the layer nothing is observed (no tracer, no spans)", () =>
    Effect.gen(function* () {
      const t = makeTelemetry()
      assert.strictEqual(yield* Workflow.run(fanOut("tel-off")), 3)
      assert.strictEqual(t.spans().length, 0)
    })
  )
})
