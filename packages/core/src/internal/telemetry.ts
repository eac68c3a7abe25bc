/**
 * The run's side of the `RunObserver` hooks: the bookkeeping only the run loop can do (how long an invocation
 * queued behind its step's `workers` cap, when the run starts or stops waiting), kept out of `run.ts`. A run
 * without an observer never creates one of these.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import { RunObserver, type RunHooks } from "../RunObserver.js"
import type * as Workflow from "../Workflow.js"
import * as I from "./interpreter.js"
import { signature } from "./journal.js"

/** Whether a span descends from a span context that came from outside this process (`Tracer.externalSpan`). */
const fromOutside = (span: Tracer.AnySpan): boolean => {
  let current: Tracer.AnySpan = span
  for (let depth = 0; depth < 64; depth++) {
    if (current._tag === "ExternalSpan") return true
    if (Option.isNone(current.parent)) return false
    current = current.parent.value
  }
  return false
}

/** The part of a run this module reads. @internal */
export interface ObservedRun {
  readonly runId: string
  readonly createdAt: number
  /** Set by `observe` on a start under an incoming trace; set from the journal on a resume. */
  traceParent: { readonly traceId: string; readonly spanId: string } | undefined
  readonly state: I.RunState
  now(): number
  readonly ended: { listen(listener: (exit: Exit.Exit<unknown, unknown>) => void): () => void }
}

/** @internal */
export class RunTelemetry {
  /** When each invocation still in a queue entered it (the run's clock). */
  private readonly queuedAt = new WeakMap<I.Invocation, number>()
  /** How long each begun invocation waited in its queue, until its first attempt reads it. */
  private readonly queuedFor = new WeakMap<I.Invocation, number>()
  private waitingNow = false

  constructor(
    readonly hooks: RunHooks,
    private readonly run: ObservedRun
  ) {}

  /** An invocation begins (a `Run` command). */
  begun(invocation: I.Invocation): void {
    const at = this.queuedAt.get(invocation)
    if (at === undefined) return
    this.queuedAt.delete(invocation)
    this.queuedFor.set(invocation, Math.max(0, this.run.now() - at))
  }

  /** After every input: stamps the invocations that joined a queue, and reports a change of waiting. */
  applied(): void {
    const state = this.run.state
    let now: number | undefined
    for (let s = 0; s < state.queues.length; s++) {
      const queue = state.queues[s]
      // New invocations join at the tail: walk back to the first one already stamped.
      for (let i = queue.items.length - 1; i >= queue.head; i--) {
        const invocation = queue.items[i]
        if (this.queuedAt.has(invocation)) break
        if (now === undefined) now = this.run.now()
        this.queuedAt.set(invocation, now)
      }
    }
    const waiting = I.isWaiting(state)
    if (waiting !== this.waitingNow) {
      this.waitingNow = waiting
      this.hooks.waiting(waiting)
    }
  }

  /** Wraps one execution of `invocation`. */
  attempt(invocation: I.Invocation, step: string, effect: Effect.Effect<unknown, unknown>) {
    return Effect.suspend(() => {
      const queuedMillis = this.queuedFor.get(invocation) ?? 0
      this.queuedFor.delete(invocation)
      return this.hooks.attempt(
        {
          step,
          eventId: invocation.eventId,
          tag: invocation.event._tag,
          // The execution about to start (its `Attempt` input is applied inside `effect`).
          attempt: invocation.attempts + 1,
          queuedMillis,
          replayed: invocation.replay !== undefined
        },
        effect
      )
    })
  }

  wait<A, E>(invocation: I.Invocation, step: string, tag: string, prompt: unknown, effect: Effect.Effect<A, E>) {
    const promptTag =
      typeof prompt === "object" && prompt !== null && typeof (prompt as { _tag?: unknown })._tag === "string"
        ? (prompt as { _tag: string })._tag
        : undefined
    return this.hooks.wait({ step, eventId: invocation.eventId, tag, prompt: promptTag }, effect)
  }

  private ended(exit: Exit.Exit<unknown, unknown>): void {
    if (this.waitingNow) {
      this.waitingNow = false
      this.hooks.waiting(false)
    }
    this.hooks.ended(exit)
  }

  /** Listens for the run's end (called once, right after it is created). */
  listen(): void {
    this.run.ended.listen((exit) => this.ended(exit))
  }
}

/**
 * The `RunObserver` in a run's context, if any (read synchronously from the context the run captured: a run without
 * one does no telemetry work, not even an Effect step).
 *
 * @internal
 */
export const observerIn = (context: Context.Context<never>): RunObserver["Type"] | undefined =>
  Option.getOrUndefined(Context.getOption(context, RunObserver))

/**
 * The telemetry of a run started or resumed here, reported to `observer` (see {@link observerIn}).
 *
 * @internal
 */
export const observe = (
  observer: RunObserver["Type"],
  self: Workflow.Any,
  run: ObservedRun,
  durable: boolean,
  resumed: boolean
): Effect.Effect<RunTelemetry> =>
  Effect.map(Effect.option(Effect.currentParentSpan), (parent) => {
    // A start under a trace that came from outside (an `ExternalSpan` among the caller's ancestors, e.g. the
    // server's request span continuing an incoming `traceparent`) continues that trace; the run records it (in
    // `RunStarted`) so that a resume elsewhere continues it too.
    if (!resumed && Option.isSome(parent) && fromOutside(parent.value)) {
      run.traceParent = { traceId: parent.value.traceId, spanId: parent.value.spanId }
    }
    let sig: string | undefined
    const hooks = observer.observe({
      runId: run.runId,
      workflow: self.name,
      get signature() {
        if (sig === undefined) sig = signature(self)
        return sig
      },
      durable,
      resumed,
      createdAt: run.createdAt,
      parent,
      traceParent: run.traceParent,
      now: () => run.now()
    })
    const telemetry = new RunTelemetry(hooks, run)
    telemetry.listen()
    return telemetry
  })
