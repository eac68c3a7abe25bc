/**
 * Child workflows (`ctx.run`, `ctx.start`): a run started by a step of another run. The child's run id is derived
 * from the parent run and the invocation (`<parentRunId>/<step>@<eventId>/c<n>`), so a step executed again after a
 * crash finds its child in the store and resumes it; what the child publishes reaches the parent's stream as
 * `ChildEvent`s; its prompts are answerable through the parent; it ends (cancelled or detached) with the parent.
 */
import { childRunId } from "./ids.js"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ChildEvent, ChildRunEndedError, ChildWorkflowMismatchError } from "../Child.js"
import type { AnyEvent } from "../Event.js"
import type { RunHandle } from "../Run.js"
import { RunStore } from "../RunStore.js"
import type { ChildOptions } from "../StepContext.js"
import type * as Workflow from "../Workflow.js"
import type * as I from "./interpreter.js"
import { planOf } from "./plan.js"
import { register } from "./registry.js"
import { decodeRunError } from "./runError.js"
import { type RunImpl, resumeRun, type SendError, type StepCtx, startRunWith } from "./run.js"
import { encodeEvent } from "./snapshot.js"

/** The live children of a run, and which invocation waits on which (for `status`). */
interface Family {
  readonly children: Set<RunImpl<any>>
  readonly blocked: Map<RunImpl<any>, I.Invocation>
}

const families = new WeakMap<RunImpl<any>, Family>()

const familyOf = (parent: RunImpl<any>): Family => {
  let family = families.get(parent)
  if (family === undefined) {
    family = { children: new Set(), blocked: new Map() }
    families.set(parent, family)
  }
  return family
}

/** @internal */
export { childRunId }

/** The next child number of this execution (counted again from 0 on each execution of the invocation). */
const nextChild = (ctx: StepCtx): number => {
  if (ctx.childrenAttempt !== ctx.invocation.attempts) {
    ctx.childrenAttempt = ctx.invocation.attempts
    ctx.children = 0
  }
  return ctx.children++
}

/**
 * Starts the child (or, for a durable parent, resumes the child a previous execution started) in `scope`: the
 * child is cancelled when the scope closes, unless the parent is being detached (then it is detached too).
 */
const acquire = (
  parent: RunImpl<any>,
  ctx: StepCtx,
  workflow: Workflow.Any,
  input: unknown,
  options: ChildOptions | undefined
): Effect.Effect<Acquired, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const runId = childRunId(parent.runId, ctx.stepName, ctx.invocation.eventId, nextChild(ctx))
    const store = parent.durableStore
    let run: RunImpl<any> | undefined
    // What of the child's stream the parent's log already holds (a re-attached child replays its log from the start).
    let forwarded = 0
    if (store !== undefined) {
      // A journaled child is loaded by replaying its journal, with its definition: make it known here.
      register(workflow)
      const saved = yield* Effect.orDie(store.load(runId))
      if (Option.isSome(saved)) {
        const snapshot = saved.value
        // Children are numbered in the order their `ctx.run`/`ctx.start` begin: another workflow under this id means
        // this execution starts them in another order than the first one did. Never hand it another child's run.
        if (snapshot.workflow !== workflow.name) {
          return yield* Effect.die(
            new ChildWorkflowMismatchError({ runId, expected: workflow.name, found: snapshot.workflow })
          )
        }
        // It failed before the restart: its own error again (kept with its fields by its journal's end).
        if (snapshot.status === "failed" || snapshot.status === "timed-out") {
          const failure = decodeRunError(snapshot.error, { workflow: snapshot.workflow, runId })
          if (failure !== undefined)
            return yield* failure.defect ? Effect.die(failure.error) : Effect.fail(failure.error)
        }
        const ended = Effect.die(
          new ChildRunEndedError({
            runId,
            workflow: snapshot.workflow,
            status: snapshot.status,
            error: snapshot.error as ChildRunEndedError["error"]
          })
        )
        if (snapshot.status === "failed" || snapshot.status === "timed-out") return yield* ended
        // A step executed again after a crash: the child goes on from its own last checkpoint (or has its result).
        run = yield* resumeRun(workflow, runId, {
          durable: true,
          ...(options?.timeout && { timeout: options.timeout })
        }).pipe(
          Effect.provideService(RunStore, store),
          // A cancelled child on a journal has ended for good (its journal has its end): like a failed one.
          Effect.catchTag("InvalidSnapshotError", (error) => (snapshot.status === "cancelled" ? ended : error)),
          Effect.orDie
        )
        run.withoutHandle = parent.withoutHandle
        forwarded = forwardedOf(parent, runId)
      }
    }
    if (run === undefined) {
      run = yield* startRunWith(
        workflow,
        input,
        {
          runId,
          durable: store !== undefined,
          state: options?.state,
          timeout: options?.timeout
        },
        (created) =>
          Effect.gen(function* () {
            created.parentRunId = parent.runId
            // A parent nobody holds a handle of (`Workflow.run`) cannot pass answers on to its child either.
            created.withoutHandle = parent.withoutHandle
            yield* Effect.addFinalizer(() => created.shutdown)
            return created
          })
      ).pipe(
        store === undefined ? (effect) => effect : Effect.provideService(RunStore, store),
        Effect.catchTag("RunStoreError", (error) => Effect.die(error))
      )
    }
    const child = run
    const family = familyOf(parent)
    family.children.add(child)
    child.onWaiting = () => parent.wakeSettled()
    // Runs before the child's own finalizer (`shutdown`, which detaches a durable child): unless the parent is being
    // detached, a child whose step was interrupted (the parent was cancelled, timed out, failed or completed) or
    // ended is cancelled.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        family.children.delete(child)
        family.blocked.delete(child)
        child.onWaiting = undefined
        return parent.isDetached ? Effect.void : child.cancel
      })
    )
    // It may wait for a person already (a resumed child): the parent's `settled` looks again.
    parent.wakeSettled()
    return { child, forwarded }
  })

/** A started or re-attached child, and how many of its events the parent's log holds already. */
interface Acquired {
  readonly child: RunImpl<any>
  readonly forwarded: number
}

/** How many `ChildEvent`s of the child `runId` the parent's published log holds (restored from its journal). */
const forwardedOf = (parent: RunImpl<any>, runId: string): number => {
  let n = 0
  for (const event of parent.log.entries) {
    if (event._tag === "ChildEvent" && (event as unknown as ChildEvent).runId === runId) n++
  }
  return n
}

/**
 * Publishes the child's events into the parent's stream as `ChildEvent`s, past the `forwarded` first ones (already
 * in the parent's log). Counted per child, not by the writes of the step's invocation: children started side by side
 * interleave their events differently in each execution, but each child's own stream is always in the same order.
 */
const forward = (parent: RunImpl<any>, child: RunImpl<any>, forwarded: number): Effect.Effect<void> => {
  const plan = planOf(child.plan.workflow)
  const stream = child.log.stream()
  return Stream.runForEach(forwarded > 0 ? Stream.drop(stream, forwarded) : stream, (event) =>
    Effect.sync(() => {
      if (parent.isDetached || parent.state.status !== "running") return
      parent.log.append(
        ChildEvent.make({ runId: child.runId, workflow: child.workflowName, event: encodeEvent(plan, event) })
      )
    })
  )
}

/** `ctx.run`: the child's result, or its own error (not wrapped). @internal */
export const runChild = (
  parent: RunImpl<any>,
  ctx: StepCtx,
  workflow: Workflow.Any,
  input: unknown,
  options: ChildOptions | undefined
): Effect.Effect<unknown, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { child, forwarded } = yield* acquire(parent, ctx, workflow, input, options)
      const forwarding = yield* Effect.forkScoped(forward(parent, child, forwarded))
      const family = familyOf(parent)
      family.blocked.set(child, ctx.invocation)
      parent.wakeSettled()
      const exit = yield* Effect.exit(child.ended.await)
      family.blocked.delete(child)
      // Everything the child published is in the parent's stream before the step goes on.
      if (Exit.isSuccess(exit) || !Exit.isInterrupted(exit)) yield* Fiber.join(forwarding)
      return yield* exit
    })
  )

/** `ctx.start`: the child's handle; the child lives until the invocation ends. @internal */
export const startChild = (
  parent: RunImpl<any>,
  ctx: StepCtx,
  workflow: Workflow.Any,
  input: unknown,
  options: ChildOptions | undefined
): Effect.Effect<RunHandle<any>, unknown> =>
  Effect.suspend(() => {
    if (parent.startedBy === undefined) parent.startedBy = new Map()
    const started = parent.startedBy
    let scope = started.get(ctx.invocation)
    const make = scope === undefined ? Scope.make() : Effect.succeed(scope)
    return Effect.flatMap(make, (s) => {
      if (scope === undefined) {
        scope = s
        started.set(ctx.invocation, s)
        // The parent's end (cancel, failure, completion, detach) ends its children too.
        parent.ended.listen(() => {
          const ending = endStarted(parent, ctx.invocation)
          if (ending !== undefined) parent.runFork(ending)
        })
      }
      return Effect.gen(function* () {
        const { child, forwarded } = yield* acquire(parent, ctx, workflow, input, options)
        yield* Effect.forkIn(forward(parent, child, forwarded), s)
        return child.handle()
      }).pipe(Scope.extend(s))
    })
  })

/** Ends the children an invocation started with `ctx.start` (its execution has ended). @internal */
export const endStarted = (parent: RunImpl<any>, invocation: I.Invocation): Effect.Effect<void> | undefined => {
  const scope = parent.startedBy?.get(invocation)
  if (scope === undefined) return undefined
  parent.startedBy?.delete(invocation)
  return Scope.close(scope, Exit.void)
}

/** Ends the children of every invocation that started some with `ctx.start` (the parent is detached). @internal */
export const endAllStarted = (parent: RunImpl<any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const started = parent.startedBy
    if (started === undefined || started.size === 0) return Effect.void
    const scopes = Array.from(started.values())
    started.clear()
    return Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { discard: true })
  })

/**
 * `true` when every invocation that still runs is a `ctx.run` blocked on a child that waits for input, and nothing
 * else runs or is queued: the parent waits for that input too. @internal
 */
export const waitingOnChildren = (parent: RunImpl<any>): boolean => {
  const family = families.get(parent)
  if (family === undefined || family.blocked.size === 0) return false
  const state = parent.state
  if (state.status !== "running" || state.queued !== 0 || state.resuming !== 0) return false
  const running = state.active.size - state.suspended
  if (running === 0) return false
  const waiting = new Map<I.Invocation, boolean>()
  for (const [child, invocation] of family.blocked) {
    if (invocation.suspended || !state.active.has(invocation)) continue
    const before = waiting.get(invocation) ?? true
    waiting.set(invocation, before && child.status() === "waiting")
  }
  let n = 0
  for (const w of waiting.values()) if (w) n++
  return n === running
}

/** A prompt as `pending` lists it; `runId` names the child run that asked (absent for the run's own). */
export interface PendingPrompt {
  readonly eventId: string
  readonly requestId: string
  readonly prompt: AnyEvent
  readonly runId?: string | undefined
}

/** The run's own open prompts, then its children's, as `<childRunId>:<requestId>`. @internal */
export const pendingWithChildren = (run: RunImpl<any>): Array<PendingPrompt> => {
  const own: Array<PendingPrompt> = run.state.pending.map((p) => ({
    eventId: p.requestId,
    requestId: p.requestId,
    prompt: p.prompt
  }))
  const family = families.get(run)
  if (family === undefined) return own
  for (const child of family.children) {
    if (child.state.status !== "running") continue
    for (const p of pendingWithChildren(child)) {
      const requestId = `${child.runId}:${p.requestId}`
      own.push({
        eventId: requestId,
        requestId,
        prompt: { ...p.prompt, requestId } as AnyEvent,
        runId: p.runId ?? child.runId
      })
    }
  }
  return own
}

/**
 * Sends an answer that names a child's prompt (`<childRunId>:<requestId>`) to that child, with the child's own
 * `requestId`; `undefined` when it is not one (the run handles it itself). @internal
 */
export const routeToChild = (
  run: RunImpl<any>,
  event: unknown,
  options: { readonly step?: string | undefined } | undefined
): Effect.Effect<void, SendError> | undefined => {
  const family = families.get(run)
  if (family === undefined || family.children.size === 0) return undefined
  if (typeof event !== "object" || event === null) return undefined
  const requestId = (event as { readonly requestId?: unknown }).requestId
  if (typeof requestId !== "string") return undefined
  if (run.state.pending.some((p) => p.requestId === requestId)) return undefined
  for (const child of family.children) {
    const prefix = `${child.runId}:`
    if (requestId.startsWith(prefix)) {
      return child.send({ ...event, requestId: requestId.slice(prefix.length) }, options)
    }
  }
  return undefined
}
