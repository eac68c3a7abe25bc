import type { RunObserver } from "@eventflow/core"
import * as OtelApi from "@opentelemetry/api"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { type FixedIds, runTraceIds } from "./ids.js"
import * as M from "./metrics.js"

type Hooks = RunObserver.RunHooks

const linkContext = (span: Tracer.AnySpan): OtelApi.SpanContext => ({
  traceId: span.traceId,
  spanId: span.spanId,
  traceFlags: span.sampled ? OtelApi.TraceFlags.SAMPLED : OtelApi.TraceFlags.NONE,
  isRemote: span._tag === "ExternalSpan"
})

const describeError = (error: unknown): { readonly type: string; readonly message: string } => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    return {
      type: typeof tag === "string" ? tag : error instanceof Error ? error.name : "Error",
      message: typeof message === "string" ? message : String(error)
    }
  }
  return { type: typeof error, message: String(error) }
}

const tagsOf = (output: unknown): Array<string> => {
  const one = (u: unknown) =>
    typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"
      ? [(u as { _tag: string })._tag]
      : []
  return Array.isArray(output) ? output.flatMap(one) : one(output)
}

/**
 * Label arrays, one per distinct set: Effect caches a metric's hook per label array (by identity), so reusing the
 * array makes an update a lookup instead of building and hashing a new metric key.
 */
const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labelsOf = (workflow: string, step?: string, outcome?: string): ReadonlyArray<MetricLabel.MetricLabel> => {
  const key = `${workflow}\u0000${step ?? ""}\u0000${outcome ?? ""}`
  let labels = labelCache.get(key)
  if (labels === undefined) {
    labels = [
      MetricLabel.make("workflow", workflow),
      ...(step === undefined ? [] : [MetricLabel.make("step", step)]),
      ...(outcome === undefined ? [] : [MetricLabel.make("outcome", outcome)])
    ]
    labelCache.set(key, labels)
  }
  return labels
}

/** Per workflow counts behind a gauge (gauges take absolute values). */
class Counts {
  private readonly counts = new Map<string, number>()
  constructor(private readonly gauge: typeof M.runsActive) {}
  add(workflow: string, labels: ReadonlyArray<MetricLabel.MetricLabel>, delta: number): void {
    const n = Math.max(0, (this.counts.get(workflow) ?? 0) + delta)
    this.counts.set(workflow, n)
    this.gauge.unsafeUpdate(n, labels)
  }
}

/**
 * The `RunObserver` of `Telemetry.layer`: spans through Effect's tracer (the OpenTelemetry one of the layer), the
 * run's root span emitted with the run's fixed ids once the run ends, and the run metrics.
 *
 * @internal
 */
export const make = (tracer: OtelApi.Tracer, ids: FixedIds): RunObserver.Service => {
  const active = new Counts(M.runsActive)
  const waiting = new Counts(M.runsWaiting)

  return {
    observe: (run): Hooks => {
      // The run's root span id is fixed by its run id; its trace is the one it continues (an incoming
      // `traceparent`, journaled with the run), else one fixed by its run id too.
      const fixed = runTraceIds(run.runId)
      const continued = run.traceParent
      const traceId = continued === undefined ? fixed.traceId : continued.traceId
      const spanId = fixed.spanId
      const root = Tracer.externalSpan({ traceId, spanId, sampled: true })
      const rootContext: OtelApi.SpanContext = {
        traceId,
        spanId,
        traceFlags: OtelApi.TraceFlags.SAMPLED,
        isRemote: false
      }
      const rootOtelContext = OtelApi.trace.setSpanContext(OtelApi.ROOT_CONTEXT, rootContext)
      const labels = labelsOf(run.workflow)
      const base = { "eventflow.run.id": run.runId, "eventflow.workflow": run.workflow }

      // The caller's span (e.g. a server request continuing an incoming `traceparent`) is linked to the run, and the
      // run to it: on the root span when the run ends in the process that started it, on a `resume_workflow` span
      // (a child of the root, linked to the root it continues) where a process resumes it.
      const callerLinks = Option.match(run.parent, {
        onNone: (): Array<OtelApi.Link> => [],
        onSome: (span): Array<OtelApi.Link> => [
          { context: linkContext(span), attributes: { "eventflow.link": "caller" } }
        ]
      })
      if (run.resumed) {
        const now = run.now()
        tracer
          .startSpan(
            `resume_workflow ${run.workflow}`,
            {
              startTime: now,
              attributes: { ...base, "eventflow.run.durable": run.durable },
              links: [{ context: rootContext, attributes: { "eventflow.link": "continues" } }, ...callerLinks]
            },
            OtelApi.trace.setSpanContext(OtelApi.ROOT_CONTEXT, rootContext)
          )
          .end(now)
      }
      if (Option.isSome(run.parent) && run.parent.value._tag === "Span") {
        run.parent.value.addLinks([{ _tag: "SpanLink", span: root, attributes: { "eventflow.link": "run", ...base } }])
      }

      if (!run.resumed) M.runsStarted.unsafeUpdate(1, labels)
      active.add(run.workflow, labels, 1)

      return {
        // The step span is made with the OpenTelemetry tracer directly (a third of the cost of an Effect span around
        // `useSpan`); Effect code inside the step (an LLM call, the user's own spans) sees it as its parent.
        attempt: (info, effect) =>
          Effect.suspend(() => {
            const started = run.now()
            const span = tracer.startSpan(
              `step ${info.step}`,
              {
                attributes: {
                  ...base,
                  "eventflow.step": info.step,
                  "eventflow.event.id": info.eventId,
                  "eventflow.event.tag": info.tag,
                  "eventflow.step.attempt": info.attempt,
                  "eventflow.step.queued_ms": info.queuedMillis,
                  "eventflow.step.replayed": info.replayed
                }
              },
              rootOtelContext
            )
            if (info.attempt === 1 || info.queuedMillis > 0) {
              M.stepQueueTime.unsafeUpdate(info.queuedMillis, labelsOf(run.workflow, info.step))
            }
            const context = span.spanContext()
            const parent = Tracer.externalSpan({ traceId: context.traceId, spanId: context.spanId, sampled: true })
            return Effect.onExit(Effect.withParentSpan(effect, parent), (exit) =>
              Effect.sync(() => {
                const outcome = Exit.isSuccess(exit)
                  ? "completed"
                  : Cause.isInterruptedOnly(exit.cause)
                    ? "interrupted"
                    : Cause.isDie(exit.cause)
                      ? "defect"
                      : "failed"
                span.setAttribute("eventflow.step.outcome", outcome)
                if (Exit.isSuccess(exit)) {
                  span.setAttribute("eventflow.step.emitted", tagsOf(exit.value))
                  span.setStatus({ code: OtelApi.SpanStatusCode.OK })
                } else if (outcome === "interrupted") {
                  span.setStatus({ code: OtelApi.SpanStatusCode.ERROR, message: "interrupted" })
                } else {
                  const error = Cause.squash(exit.cause)
                  const described = describeError(error)
                  span.recordException(
                    error instanceof Error ? error : { name: described.type, message: described.message }
                  )
                  span.setAttribute("error.type", described.type)
                  span.setStatus({ code: OtelApi.SpanStatusCode.ERROR, message: described.message })
                }
                span.end()
                M.stepDuration.unsafeUpdate(
                  Math.max(0, run.now() - started),
                  labelsOf(run.workflow, info.step, outcome)
                )
              })
            )
          }),
        wait: (info, effect) =>
          Effect.withSpan(effect, `wait ${info.tag}`, {
            captureStackTrace: false,
            attributes: {
              ...base,
              "eventflow.step": info.step,
              "eventflow.event.id": info.eventId,
              "eventflow.wait.tag": info.tag,
              ...(info.prompt === undefined ? {} : { "eventflow.wait.prompt": info.prompt })
            }
          }),
        waiting: (isWaiting) => waiting.add(run.workflow, labels, isWaiting ? 1 : -1),
        ended: (exit) => {
          active.add(run.workflow, labels, -1)
          // Only interrupted: this process let a durable run go (it is resumed later, where its root span is emitted).
          if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return
          const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          const described = error === undefined ? undefined : describeError(error)
          const outcome =
            described === undefined
              ? "completed"
              : described.type === "WorkflowCancelledError"
                ? "cancelled"
                : described.type === "WorkflowTimeoutError"
                  ? "timed_out"
                  : "failed"
          ;(outcome === "completed"
            ? M.runsCompleted
            : outcome === "cancelled"
              ? M.runsCancelled
              : M.runsFailed
          ).unsafeUpdate(1, labels)
          const span = ids.with({ traceId, spanId }, () =>
            tracer.startSpan(
              `invoke_workflow ${run.workflow}`,
              {
                root: continued === undefined,
                startTime: run.createdAt,
                links: run.resumed ? [] : callerLinks,
                attributes: {
                  ...base,
                  "eventflow.workflow.signature": run.signature,
                  "eventflow.run.durable": run.durable,
                  "eventflow.run.outcome": outcome
                }
              },
              continued === undefined
                ? OtelApi.ROOT_CONTEXT
                : OtelApi.trace.setSpanContext(OtelApi.ROOT_CONTEXT, {
                    traceId: continued.traceId,
                    spanId: continued.spanId,
                    traceFlags: OtelApi.TraceFlags.SAMPLED,
                    isRemote: true
                  })
            )
          )
          if (described !== undefined && outcome !== "cancelled") {
            span.recordException({ name: described.type, message: described.message })
            span.setAttribute("error.type", described.type)
            span.setStatus({ code: OtelApi.SpanStatusCode.ERROR, message: described.message })
          } else if (outcome === "completed") {
            span.setStatus({ code: OtelApi.SpanStatusCode.OK })
          }
          span.end(Math.max(run.now(), run.createdAt))
        }
      }
    }
  }
}
