import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type { AnyEvent, EventType } from "../Event.js"
import type { RetryInfo, StepContext, WaitForOptions } from "../StepContext.js"
import type { RunStepOptions, StepResult } from "../Testing.js"
import type * as Workflow from "../Workflow.js"
import { UnknownStepError, WaitTimeoutError } from "../WorkflowError.js"
import { tagOf } from "./event.js"
import * as I from "./interpreter.js"
import { planOf } from "./plan.js"
import { run as runWorkflow } from "./engine.js"
import { resolveStep, startRun } from "./run.js"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { ChildOptions } from "../StepContext.js"
import * as Duration from "effect/Duration"

class RecordingCtx implements StepContext<any> {
  readonly sent: Array<AnyEvent> = []
  readonly written: Array<AnyEvent> = []
  readonly buffers = { collected: new Map<string, Array<AnyEvent>>() }
  readonly responses: Array<AnyEvent>
  readonly retry = Option.none<RetryInfo>()
  constructor(
    readonly workflow: Workflow.Any,
    readonly state: SynchronizedRef.SynchronizedRef<any>,
    readonly stepName: string,
    readonly eventId: string,
    readonly runId: string,
    readonly attempt: number,
    responses: ReadonlyArray<AnyEvent>
  ) {
    this.responses = [...responses]
  }

  send(event: AnyEvent): Effect.Effect<void>
  send(event: AnyEvent, options: { readonly step?: string | undefined }): Effect.Effect<void, UnknownStepError>
  send(event: AnyEvent, options?: { readonly step?: string | undefined }): Effect.Effect<void, UnknownStepError> {
    return Effect.suspend((): Effect.Effect<void, UnknownStepError> => {
      if (options?.step !== undefined) {
        const resolved = resolveStep(planOf(this.workflow), options.step, event._tag)
        if (typeof resolved !== "number") return Effect.fail(resolved)
      }
      this.sent.push(event)
      return Effect.void
    })
  }

  write(event: AnyEvent): Effect.Effect<void> {
    return Effect.sync(() => {
      this.written.push(event)
    })
  }

  collect(event: AnyEvent, expected: any, n?: number): Effect.Effect<Option.Option<any>> {
    return Effect.sync(() => {
      const result =
        typeof n === "number"
          ? I.collectCount(this.buffers, this.stepName, event, tagOf(expected), n)
          : I.collect(this.buffers, this.stepName, event, (expected as ReadonlyArray<EventType>).map(tagOf))
      return result === undefined ? Option.none() : Option.some(result)
    })
  }

  /** Children run for real (not durable); those of `start` are cancelled when `runStep` ends. */
  readonly scope = Effect.runSync(Scope.make())

  run(workflow: Workflow.Any, input?: unknown, options?: ChildOptions): Effect.Effect<any, any, any> {
    return runWorkflow(workflow, input, options)
  }

  start(workflow: Workflow.Any, input?: unknown, options?: ChildOptions): Effect.Effect<any, any, any> {
    return Effect.map(Scope.extend(startRun(workflow, input, options), this.scope), (run) => run.handle())
  }

  waitFor<A extends AnyEvent>(type: EventType<A>, options?: WaitForOptions<A>): Effect.Effect<A, WaitTimeoutError> {
    return Effect.suspend(() => {
      if (options?.prompt !== undefined) this.written.push(options.prompt)
      const tag = tagOf(type)
      const index = this.responses.findIndex((e) => e._tag === tag && (options?.match?.(e as A) ?? true))
      if (index < 0) {
        return Effect.fail(
          new WaitTimeoutError({
            step: this.stepName,
            tag,
            timeout: options?.timeout === undefined ? Duration.zero : Duration.decode(options.timeout)
          })
        )
      }
      return Effect.succeed(this.responses.splice(index, 1)[0] as A)
    })
  }
}

/** @internal */
export const runStep = <S>(
  self: Workflow.Any,
  stepName: string,
  event: AnyEvent,
  options?: RunStepOptions<S>
): Effect.Effect<StepResult<S>, unknown, unknown> =>
  Effect.gen(function* () {
    const step = self.steps.find((s) => s.name === stepName)
    if (step === undefined) {
      return yield* Effect.fail(
        new UnknownStepError({
          workflow: self.name,
          step: stepName,
          tag: event._tag,
          known: self.steps.map((s) => s.name),
          reason: "NoSuchStep",
          source: "runStep"
        })
      )
    }
    const ref = yield* SynchronizedRef.make(options?.state !== undefined ? options.state : self.initialState)
    const ctx = new RecordingCtx(
      self,
      ref,
      step.name,
      "0",
      options?.runId ?? "test-run",
      options?.attempt ?? 1,
      options?.responses ?? []
    )
    const output = yield* Effect.ensuring(step.handler(event, ctx), Scope.close(ctx.scope, Exit.void))
    const events = output === undefined ? [] : Array.isArray(output) ? output : [output as AnyEvent]
    return { output: events, sent: ctx.sent, written: ctx.written, state: yield* SynchronizedRef.get(ref) }
  })
