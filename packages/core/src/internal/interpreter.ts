/**
 * The run loop as a deterministic interpreter (DESIGN.md): `transition(state, input)` updates the run's
 * bookkeeping and returns the commands the shell must carry out. It performs no effects, starts no fibers and
 * reads no clock, so it is unit-tested on its own and its state can be snapshotted between two inputs.
 *
 * For speed the state is updated in place (a run's state is owned by exactly one interpreter), and inputs are
 * applied atomically by whichever fiber produced them: JavaScript runs one transition at a time, so inputs are
 * serialized exactly as by a mailbox fiber, without a hand-off per hop.
 */
import type { Duration } from "effect/Duration"
import type { AnyEvent } from "../Event.js"
import { childId, collectId, externalId, isExternalId, startEventId, writeId } from "./ids.js"
import {
  EventNotAcceptedError,
  PromptNotOpenError,
  RecoveryBudgetError,
  WorkflowStalledError
} from "../WorkflowError.js"
import type { Plan } from "./plan.js"

/** @internal */
export type Status = "running" | "completed" | "failed" | "cancelled" | "timed-out"

/** An invocation of a step for one event, identified by `(step, eventId)`. @internal */
export interface Invocation {
  readonly step: number
  readonly eventId: string
  readonly event: AnyEvent
  /** How many events this invocation has emitted (the `k` of its children's ids). */
  emitted: number
  /** Executions started so far (retries included). */
  attempts: number
  /** Waiters registered so far (the index part of a waiter's key). */
  waits: number
  /** `ctx.write`s so far (the index part of a write's id). */
  writes: number
  /** `ctx.collect` calls so far. */
  collects: number
  /** What this invocation's completed `ctx.collect` calls returned, by call index (for a re-execution). */
  collectResults: Map<number, Array<AnyEvent>> | undefined
  /** Events that resolved this invocation's waits, by wait index (kept for a re-execution after resume). */
  answers: Map<number, AnyEvent> | undefined
  /**
   * Set when this is the re-execution of an invocation that was in flight in a snapshot: what it had already
   * dispatched, published and awaited then, which the re-execution must not do again.
   */
  replay: Replay | undefined
  /** Currently suspended in `ctx.waitFor` (its worker slot is released). */
  suspended: boolean
  /** `ctx.send`/`ctx.write` effects the current execution created and has not run (a forgotten `yield*`?). */
  unran: number
  /** When its current (last) execution started (epoch ms), recorded by a journaled run's shell. */
  startedAt: number | undefined
}

/** What a re-executed invocation had done before the snapshot. @internal */
export interface Replay {
  readonly emitted: number
  readonly writes: number
  readonly waits: number
}

/** A `ctx.waitFor` registration. @internal */
export interface Waiter {
  readonly key: string
  readonly index: number
  readonly invocation: Invocation
  readonly tag: string
  readonly match: ((event: any) => boolean) | undefined
}

/** An `InputRequired` that no external event has answered yet. @internal */
export interface PendingInput {
  /** The prompt's event id (a `waitFor` prompt's is its waiter's key): links it to its waiter. */
  readonly eventId: string
  /**
   * The prompt's public id, the one answers name: the `requestId` the step gave it, or else its event id (stamped
   * into the published prompt, so `pending` and the prompt users see carry one and the same id).
   */
  readonly requestId: string
  /** The `InputRequired` (or other prompt event) that asked, carrying `requestId`. */
  readonly prompt: AnyEvent
  /** For a `waitFor` prompt: the tag its waiter awaits (only that waiter takes the answer). */
  readonly awaits?: string | undefined
}

/**
 * What the run does with an event sent from outside, decided by {@link admit} before anything changes: refused
 * (nothing reaches the run), or admitted as the answer to one open prompt and/or one open waiter.
 *
 * @internal
 */
export type Admission =
  | { readonly _tag: "Rejected"; readonly error: EventNotAcceptedError | PromptNotOpenError }
  | {
      readonly _tag: "Admitted"
      /** The open prompt it answers (removed from `pending`). */
      readonly prompt: PendingInput | undefined
      /** The open waiter it resolves; when `undefined` it is dispatched to steps, bypassing every waiter. */
      readonly waiter: Waiter | undefined
      /**
       * It answers the prompt of a waiter that is not registered yet (a resumed run re-executes the step up to its
       * `waitFor`): it is kept (unclaimed) for that waiter instead of going to steps.
       */
      readonly park?: boolean | undefined
    }

/** @internal */
export interface Fifo<A> {
  items: Array<A>
  head: number
}

/** @internal */
export interface RunState {
  readonly plan: Plan
  readonly runId: string
  readonly trace: boolean
  status: Status
  /** Invocations holding a worker slot, per step. */
  readonly running: Array<number>
  /** Invocations waiting for a worker slot, per step (FIFO). */
  readonly queues: Array<Fifo<Invocation>>
  /** Waiters resolved while their step had no free slot: they resume before queued events. */
  readonly resumes: Array<Fifo<Resume>>
  queued: number
  /** Resolved waiters waiting for a slot (the sum of `resumes`). */
  resuming: number
  /** Every started, unfinished invocation (running, retrying or suspended), in start order. */
  readonly active: Set<Invocation>
  suspended: number
  external: number
  readonly collected: Map<string, Array<AnyEvent>>
  readonly pending: Array<PendingInput>
  readonly waiters: Array<Waiter>
  /** Events no step and no waiter took: a waiter registered later takes the oldest matching one. */
  readonly unclaimed: Array<{ readonly id: string; readonly event: AnyEvent }>
  idle: boolean
  /** Step failures routed to `StepFailed` so far, and how many may be (`maxRecoveries`). */
  recoveries: number
  maxRecoveries: number
  /**
   * A durable run on a journal: every journaled fact of a transition is pushed here (with its ids, computed only
   * here) for the shell to append; `undefined` for runs that keep no journal (no cost on their hot path).
   */
  records: Array<Fact> | undefined
  /**
   * Set while a journal is replayed: which waiter (key) each event (id) answered. `ctx.waitFor` match functions are
   * not journaled, so a replay takes the recorded answers instead of matching.
   */
  replayAnswers: Map<string, string> | undefined
  /**
   * The id under which `ctx.collect` buffered each event (its snapshot/journal identity; a re-execution after a
   * resume does not buffer the same event twice). Created on first use: most runs never collect.
   */
  collectIds: WeakMap<AnyEvent, string> | undefined
}

/**
 * A journaled fact, as the transition saw it (events are live values; the shell encodes them into journal entries).
 *
 * @internal
 */
export type Fact =
  | { readonly _tag: "Started"; readonly input: unknown }
  | {
      readonly _tag: "Sent"
      readonly invocation: Invocation
      readonly id: string
      readonly event: AnyEvent
      readonly target: number | undefined
    }
  | {
      readonly _tag: "External"
      readonly id: string
      readonly event: AnyEvent
      readonly step: number | undefined
      /** The admission verdict: the prompt (its event id) it answered, the waiter (key) it resolved, parked. */
      readonly prompt: string | undefined
      readonly waiter: string | undefined
      readonly park: boolean
    }
  | { readonly _tag: "Written"; readonly invocation: Invocation; readonly index: number; readonly event: AnyEvent }
  | { readonly _tag: "AttemptFailed"; readonly invocation: Invocation; readonly error: unknown }
  | {
      readonly _tag: "Completed"
      readonly invocation: Invocation
      readonly events: ReadonlyArray<{ readonly id: string; readonly event: AnyEvent }>
    }
  | {
      readonly _tag: "Failed"
      readonly invocation: Invocation
      readonly error: unknown
      readonly defect: boolean
      readonly interrupted: boolean
      readonly stepFailed: { readonly id: string; readonly event: AnyEvent } | undefined
    }
  | { readonly _tag: "Waited"; readonly waiter: Waiter; readonly prompt: AnyEvent | undefined }
  | {
      readonly _tag: "Collected"
      readonly invocation: Invocation
      readonly call: number
      readonly bufferedAs: string
      readonly event: AnyEvent
      readonly pushed: boolean
      readonly expected: ReadonlyArray<string>
      readonly count: number | undefined
    }
  | {
      readonly _tag: "Answered"
      readonly waiter: Waiter
      readonly outcome:
        | { readonly _tag: "Event"; readonly id: string; readonly event: AnyEvent }
        | { readonly _tag: "Expired" }
        | { readonly _tag: "Abandoned" }
    }
  | { readonly _tag: "Ended"; readonly status: Exclude<Status, "running">; readonly ending: Ending }

/** @internal */
export interface Resume {
  readonly waiter: Waiter
  readonly outcome: { readonly _tag: "Event"; readonly event: AnyEvent } | { readonly _tag: "Expired" }
}

/** @internal */
export type Input =
  | { readonly _tag: "Start"; readonly input: unknown }
  | { readonly _tag: "Send"; readonly from: Invocation; readonly event: AnyEvent; readonly step: number | undefined }
  | {
      readonly _tag: "External"
      readonly event: AnyEvent
      readonly step: number | undefined
      /** The verdict of {@link admit}, taken in the same synchronous turn (computed here when absent). */
      readonly admitted?: Admission | undefined
    }
  | { readonly _tag: "Write"; readonly from: Invocation; readonly event: AnyEvent }
  | { readonly _tag: "Attempt"; readonly invocation: Invocation }
  | { readonly _tag: "AttemptFailed"; readonly invocation: Invocation; readonly error: unknown }
  | {
      readonly _tag: "Completed"
      readonly invocation: Invocation
      readonly output: AnyEvent | ReadonlyArray<AnyEvent> | undefined
    }
  | {
      readonly _tag: "Failed"
      readonly invocation: Invocation
      readonly error: unknown
      /** A defect is not retried; it is routed to `StepFailed` (marked `defect: true`) when a step accepts it. */
      readonly defect: boolean
      /** An interruption of the step's own fiber: never routed to `StepFailed`. */
      readonly interrupted?: boolean | undefined
    }
  | {
      readonly _tag: "Wait"
      readonly invocation: Invocation
      readonly waiter: Waiter
      readonly prompt: AnyEvent | undefined
    }
  | { readonly _tag: "WaitExpired"; readonly waiter: Waiter }
  | { readonly _tag: "WaitAbandoned"; readonly waiter: Waiter }
  | {
      /**
       * `ctx.collect(event, expected)` (or the count form, `count` events of `expected[0]`): the next collect call of
       * `invocation`. Its result (when complete) is left in `invocation.collectResults` under the call's index, where
       * a re-execution after a resume finds it. `journaled`: replaying a `Collected` entry (its call, id and verdict).
       */
      readonly _tag: "Collect"
      readonly invocation: Invocation
      readonly event: AnyEvent
      readonly expected: ReadonlyArray<string>
      readonly count: number | undefined
      readonly journaled?: { readonly call: number; readonly bufferedAs: string; readonly pushed: boolean } | undefined
    }
  | { readonly _tag: "Restart"; readonly invocations: ReadonlyArray<Invocation> }
  | { readonly _tag: "Abort"; readonly error: unknown }
  | { readonly _tag: "Cancel" }
  | { readonly _tag: "Timeout"; readonly timeout: Duration }

/** How a run ended. @internal */
export type Ending =
  | { readonly _tag: "Completed"; readonly result: unknown }
  | { readonly _tag: "Failed"; readonly step: string; readonly error: unknown; readonly defect: boolean }
  | { readonly _tag: "Cancelled" }
  | { readonly _tag: "Aborted"; readonly error: unknown }
  | { readonly _tag: "TimedOut"; readonly timeout: Duration; readonly activeSteps: ReadonlyArray<string> }
  | { readonly _tag: "Stalled"; readonly waitingFor: ReadonlyArray<string>; readonly error: WorkflowStalledError }

/** @internal */
export type Command =
  | { readonly _tag: "Run"; readonly invocation: Invocation }
  | { readonly _tag: "Publish"; readonly event: AnyEvent }
  | { readonly _tag: "Resume"; readonly resume: Resume }
  | { readonly _tag: "End"; readonly ending: Ending }

/** @internal */
export const make = (plan: Plan, runId: string, trace = true): RunState => ({
  plan,
  runId,
  trace,
  status: "running",
  running: plan.steps.map(() => 0),
  queues: plan.steps.map(() => ({ items: [], head: 0 })),
  resumes: plan.steps.map(() => ({ items: [], head: 0 })),
  queued: 0,
  resuming: 0,
  active: new Set(),
  suspended: 0,
  external: 0,
  collected: new Map(),
  pending: [],
  waiters: [],
  unclaimed: [],
  idle: false,
  recoveries: 0,
  maxRecoveries: plan.workflow.maxRecoveries ?? Infinity,
  records: undefined,
  replayAnswers: undefined,
  collectIds: undefined
})

/** A new invocation record. @internal */
export const invocation = (step: number, eventId: string, event: AnyEvent, replay?: Replay): Invocation => ({
  step,
  eventId,
  event,
  emitted: 0,
  attempts: 0,
  waits: 0,
  writes: 0,
  collects: 0,
  collectResults: undefined,
  answers: undefined,
  replay,
  suspended: false,
  unran: 0,
  startedAt: undefined
})

// -----------------------------------------------------------------------------
// FIFO queue with amortized O(1) shift
// -----------------------------------------------------------------------------

const push = <A>(fifo: Fifo<A>, a: A): void => {
  fifo.items.push(a)
}

const size = <A>(fifo: Fifo<A>): number => fifo.items.length - fifo.head

const shift = <A>(fifo: Fifo<A>): A => {
  const a = fifo.items[fifo.head]
  fifo.items[fifo.head] = undefined as any
  fifo.head++
  if (fifo.head === fifo.items.length) {
    fifo.items = []
    fifo.head = 0
  } else if (fifo.head > 1024 && fifo.head * 2 > fifo.items.length) {
    fifo.items = fifo.items.slice(fifo.head)
    fifo.head = 0
  }
  return a
}

/** @internal */
export const fifoItems = <A>(fifo: Fifo<A>): ReadonlyArray<A> => fifo.items.slice(fifo.head)

// -----------------------------------------------------------------------------
// Transition
// -----------------------------------------------------------------------------

/**
 * Applies one input to the run state (in place) and returns the commands to carry out, in order.
 *
 * @internal
 */
export const transition = (state: RunState, input: Input): Array<Command> => {
  const out: Array<Command> = []
  if (state.status !== "running") return out
  switch (input._tag) {
    case "Start": {
      if (state.records !== undefined) state.records.push({ _tag: "Started", input: input.input })
      dispatch(state, startEventId, { _tag: "StartEvent", input: input.input } as AnyEvent, undefined, out)
      break
    }
    case "Send": {
      const inv = input.from
      const k = inv.emitted++
      // A re-execution after resume does not dispatch again what the first execution had dispatched.
      if (inv.replay !== undefined && k < inv.replay.emitted) break
      const id = childId(inv.eventId, state.plan.steps[inv.step].name, k)
      if (state.records !== undefined) {
        state.records.push({ _tag: "Sent", invocation: inv, id, event: input.event, target: input.step })
      }
      dispatch(state, id, input.event, input.step, out)
      break
    }
    case "External": {
      const admitted = input.admitted ?? admit(state, input.event, input.step)
      if (admitted._tag === "Rejected") return out
      const id = externalId(state.external++)
      if (state.records !== undefined) {
        state.records.push({
          _tag: "External",
          id,
          event: input.event,
          step: input.step,
          prompt: admitted.prompt?.eventId,
          waiter: admitted.park === true ? undefined : admitted.waiter?.key,
          park: admitted.park === true
        })
      }
      if (admitted.prompt !== undefined) removePending(state, admitted.prompt)
      if (admitted.park === true) {
        state.unclaimed.push({ id, event: input.event })
        break
      }
      const waiter = admitted.waiter
      if (waiter !== undefined) {
        state.waiters.splice(state.waiters.indexOf(waiter), 1)
        recordAnswer(waiter.invocation, waiter.index, input.event)
        if (state.records !== undefined) {
          state.records.push({ _tag: "Answered", waiter, outcome: { _tag: "Event", id, event: input.event } })
        }
        const own = state.pending.findIndex((p) => p.eventId === waiter.key)
        if (own >= 0) state.pending.splice(own, 1)
        resume(state, { waiter, outcome: { _tag: "Event", event: input.event } }, out)
        break
      }
      dispatch(state, id, input.event, input.step, out, true)
      break
    }
    case "Write": {
      const inv = input.from
      const n = inv.writes++
      // A re-execution after resume does not publish again what the first execution had published.
      if (inv.replay !== undefined && n < inv.replay.writes) break
      let event = input.event
      if (state.records !== undefined) state.records.push({ _tag: "Written", invocation: inv, index: n, event })
      if (event._tag === "InputRequired") {
        event = openPrompt(state, writeId(inv.eventId, state.plan.steps[inv.step].name, n), event)
      }
      out.push({ _tag: "Publish", event })
      break
    }
    case "Attempt": {
      const inv = input.invocation
      inv.attempts++
      if (state.trace) {
        out.push({
          _tag: "Publish",
          event: {
            // Keys in sorted order, as the journal writes them (its canonical JSON then copies nothing)
            _tag: "StepStarted",
            attempt: inv.attempts,
            eventId: inv.eventId,
            step: state.plan.steps[inv.step].name
          } as AnyEvent
        })
      }
      break
    }
    case "AttemptFailed": {
      const inv = input.invocation
      if (state.records !== undefined)
        state.records.push({ _tag: "AttemptFailed", invocation: inv, error: input.error })
      if (state.trace) {
        out.push({
          _tag: "Publish",
          event: {
            _tag: "StepFailedAttempt",
            attempt: inv.attempts,
            error: input.error,
            eventId: inv.eventId,
            step: state.plan.steps[inv.step].name
          } as AnyEvent
        })
      }
      break
    }
    case "Completed": {
      const inv = input.invocation
      const step = state.plan.steps[inv.step]
      release(state, inv)
      const output = input.output
      if (output === undefined) {
        if (state.records !== undefined) state.records.push({ _tag: "Completed", invocation: inv, events: [] })
        if (state.trace) publishCompleted(state, inv, [], out)
      } else if (Array.isArray(output)) {
        const ids: Array<string> = []
        for (let i = 0; i < output.length; i++) ids.push(childId(inv.eventId, step.name, inv.emitted++))
        if (state.records !== undefined) {
          state.records.push({
            _tag: "Completed",
            invocation: inv,
            events: ids.map((id, i) => ({ id, event: output[i] as AnyEvent }))
          })
        }
        if (state.trace) publishCompleted(state, inv, ids, out)
        for (let i = 0; i < output.length && state.status === "running"; i++) {
          dispatch(state, ids[i], output[i], undefined, out)
        }
      } else {
        const id = childId(inv.eventId, step.name, inv.emitted++)
        if (state.records !== undefined) {
          state.records.push({ _tag: "Completed", invocation: inv, events: [{ id, event: output as AnyEvent }] })
        }
        if (state.trace) publishCompleted(state, inv, [id], out)
        dispatch(state, id, output as AnyEvent, undefined, out)
      }
      fill(state, inv.step, out)
      break
    }
    case "Failed": {
      const inv = input.invocation
      const step = state.plan.steps[inv.step]
      release(state, inv)
      if (input.interrupted !== true && state.plan.recovers && !step.acceptsStepFailed) {
        if (state.recoveries >= state.maxRecoveries) {
          const error = new RecoveryBudgetError({
            workflow: state.plan.name,
            runId: state.runId,
            step: step.name,
            maxRecoveries: state.maxRecoveries,
            error: input.error
          })
          if (state.records !== undefined) recordFailed(state, input, undefined)
          end(
            state,
            "failed",
            { _tag: "Failed", step: step.name, error, defect: false },
            { _tag: "WorkflowFailed", attempts: inv.attempts, error, step: step.name } as AnyEvent,
            out
          )
        } else {
          state.recoveries++
          const event: Record<string, unknown> = input.defect
            ? {
                _tag: "StepFailed",
                attempts: inv.attempts,
                defect: true,
                error: input.error,
                event: inv.event,
                step: step.name
              }
            : { _tag: "StepFailed", attempts: inv.attempts, error: input.error, event: inv.event, step: step.name }
          const stepFailed = { id: childId(inv.eventId, step.name, inv.emitted++), event: event as unknown as AnyEvent }
          if (state.records !== undefined) recordFailed(state, input, stepFailed)
          dispatch(state, stepFailed.id, stepFailed.event, undefined, out)
        }
      } else {
        if (state.records !== undefined) recordFailed(state, input, undefined)
        end(
          state,
          "failed",
          { _tag: "Failed", step: step.name, error: input.error, defect: input.defect },
          {
            _tag: "WorkflowFailed",
            attempts: inv.attempts,
            error: input.error,
            step: step.name
          } as AnyEvent,
          out
        )
      }
      fill(state, inv.step, out)
      break
    }
    case "Wait": {
      const inv = input.invocation
      const waiter = input.waiter
      // A re-execution after resume does not publish its prompt again (its pending entry is in the snapshot).
      const replayed = inv.replay !== undefined && waiter.index < inv.replay.waits
      // An answer from outside cannot answer a prompt that did not exist yet when it came: a newly prompted waiter
      // takes no unclaimed external event (or a stray "yes" would approve the next draft before anyone saw it).
      const fresh = input.prompt?._tag === "InputRequired" && !replayed
      // An event that arrived before the waiter (and that nothing else took) answers it at once.
      if (state.records !== undefined && !replayed) {
        state.records.push({ _tag: "Waited", waiter, prompt: input.prompt })
      }
      for (let i = 0; i < state.unclaimed.length; i++) {
        const { id, event } = state.unclaimed[i]
        if (
          state.replayAnswers !== undefined
            ? state.replayAnswers.get(id) === waiter.key
            : !(fresh && isExternalId(id)) && event._tag === waiter.tag && matches(waiter, event)
        ) {
          state.unclaimed.splice(i, 1)
          recordAnswer(inv, waiter.index, event)
          if (state.records !== undefined) {
            state.records.push({ _tag: "Answered", waiter, outcome: { _tag: "Event", id, event } })
          }
          out.push({ _tag: "Resume", resume: { waiter, outcome: { _tag: "Event", event } } })
          return out
        }
      }
      state.waiters.push(waiter)
      if (!inv.suspended) {
        inv.suspended = true
        state.suspended++
        state.running[inv.step]--
        fill(state, inv.step, out)
      }
      if (input.prompt !== undefined && !replayed) {
        const prompt =
          input.prompt._tag === "InputRequired" ? openPrompt(state, waiter.key, input.prompt, waiter.tag) : input.prompt
        out.push({ _tag: "Publish", event: prompt })
      }
      break
    }
    case "Collect": {
      collectInput(state, input)
      break
    }
    case "Restart": {
      // Re-execute the invocations that were in flight in a snapshot, in their order, up to each step's cap; the
      // rest wait ahead of the queued events.
      const front: Array<Array<Invocation>> = state.plan.steps.map(() => [])
      for (const inv of input.invocations) {
        if (state.running[inv.step] < state.plan.steps[inv.step].workers) begin(state, inv, out)
        else front[inv.step].push(inv)
      }
      front.forEach((invs, s) => {
        if (invs.length === 0) return
        const queue = state.queues[s]
        queue.items = [...invs, ...queue.items.slice(queue.head)]
        queue.head = 0
        state.queued += invs.length
      })
      for (let s = 0; s < state.plan.steps.length; s++) fill(state, s, out)
      break
    }
    case "WaitExpired": {
      const index = state.waiters.indexOf(input.waiter)
      if (index >= 0) {
        state.waiters.splice(index, 1)
        closePrompt(state, input.waiter)
        if (state.records !== undefined) {
          state.records.push({ _tag: "Answered", waiter: input.waiter, outcome: { _tag: "Expired" } })
        }
        resume(state, { waiter: input.waiter, outcome: { _tag: "Expired" } }, out)
      }
      break
    }
    case "WaitAbandoned": {
      // The waiting code was interrupted (e.g. the handler wrapped waitFor in its own timeout) and goes on:
      // unregister the waiter and count the invocation as running again, even above the cap for a moment.
      const index = state.waiters.indexOf(input.waiter)
      if (index >= 0) {
        state.waiters.splice(index, 1)
        closePrompt(state, input.waiter)
        if (state.records !== undefined) {
          state.records.push({ _tag: "Answered", waiter: input.waiter, outcome: { _tag: "Abandoned" } })
        }
      }
      const inv = input.waiter.invocation
      if (inv.suspended && state.active.has(inv) && !state.waiters.some((w) => w.invocation === inv)) {
        inv.suspended = false
        state.suspended--
        state.running[inv.step]++
      }
      break
    }
    case "Abort": {
      end(
        state,
        "failed",
        { _tag: "Aborted", error: input.error },
        {
          _tag: "WorkflowFailed",
          attempts: 0,
          error: input.error,
          step: null
        } as AnyEvent,
        out
      )
      return out
    }
    case "Cancel": {
      end(state, "cancelled", { _tag: "Cancelled" }, { _tag: "WorkflowCancelled" }, out)
      return out
    }
    case "Timeout": {
      const activeSteps = activeStepNames(state)
      end(
        state,
        "timed-out",
        { _tag: "TimedOut", timeout: input.timeout, activeSteps },
        {
          _tag: "WorkflowTimedOut",
          activeSteps,
          timeout: input.timeout
        } as AnyEvent,
        out
      )
      return out
    }
  }
  checkIdle(state, out)
  return out
}

const recordFailed = (
  state: RunState,
  input: Extract<Input, { readonly _tag: "Failed" }>,
  stepFailed: { readonly id: string; readonly event: AnyEvent } | undefined
): void => {
  state.records!.push({
    _tag: "Failed",
    invocation: input.invocation,
    error: input.error,
    defect: input.defect,
    interrupted: input.interrupted === true,
    stepFailed
  })
}

const publishCompleted = (state: RunState, inv: Invocation, emitted: ReadonlyArray<string>, out: Array<Command>) => {
  out.push({
    _tag: "Publish",
    event: { _tag: "StepCompleted", emitted, eventId: inv.eventId, step: state.plan.steps[inv.step].name } as AnyEvent
  })
}

/** Routes one event: to a waiter, to the steps that accept it, or reports it unhandled. */
const dispatch = (
  state: RunState,
  eventId: string,
  input: AnyEvent,
  target: number | undefined,
  out: Array<Command>,
  /** An admitted external event: {@link admit} already chose its waiter (none). */
  skipWaiters = false
): void => {
  if (state.status !== "running") return
  let event = input
  const tag = event._tag
  if (tag === "StopEvent") {
    end(state, "completed", { _tag: "Completed", result: (event as any).result }, event, out)
    return
  }
  if (target === undefined && !skipWaiters && state.waiters.length > 0) {
    const i = state.replayAnswers === undefined ? findWaiter(state, event) : replayedWaiter(state, eventId)
    if (i >= 0) {
      const waiter = state.waiters[i]
      state.waiters.splice(i, 1)
      recordAnswer(waiter.invocation, waiter.index, event)
      if (state.records !== undefined) {
        state.records.push({ _tag: "Answered", waiter, outcome: { _tag: "Event", id: eventId, event } })
      }
      const prompt = state.pending.findIndex((p) => p.eventId === waiter.key)
      if (prompt >= 0) state.pending.splice(prompt, 1)
      resume(state, { waiter, outcome: { _tag: "Event", event } }, out)
      return
    }
  }
  if (tag === "InputRequired" && target === undefined) {
    event = openPrompt(state, eventId, event)
    out.push({ _tag: "Publish", event })
  }
  const routes = target === undefined ? state.plan.routes.get(tag) : [target]
  if (routes === undefined || routes.length === 0) {
    if (tag !== "InputRequired") {
      // Kept, not lost: a waiter registered later takes it.
      state.unclaimed.push({ id: eventId, event })
      if (state.trace) out.push({ _tag: "Publish", event: { _tag: "UnhandledEvent", eventId, tag } as AnyEvent })
    }
    return
  }
  if (state.trace) {
    const steps = target === undefined ? state.plan.routeNames.get(tag)! : [state.plan.steps[target].name]
    out.push({ _tag: "Publish", event: { _tag: "EventDispatched", eventId, steps, tag } as AnyEvent })
  }
  for (let i = 0; i < routes.length; i++) {
    const s = routes[i]
    const inv = invocation(s, eventId, event)
    const queue = state.queues[s]
    if (size(queue) === 0 && size(state.resumes[s]) === 0 && state.running[s] < state.plan.steps[s].workers) {
      begin(state, inv, out)
    } else {
      push(queue, inv)
      state.queued++
    }
  }
}

const findWaiter = (state: RunState, event: AnyEvent): number => {
  for (let i = 0; i < state.waiters.length; i++) {
    const waiter = state.waiters[i]
    if (waiter.tag === event._tag && matches(waiter, event)) return i
  }
  return -1
}

/** During a replay: the waiter the journal says `eventId` answered (match functions are not journaled). */
const replayedWaiter = (state: RunState, eventId: string): number => {
  const key = state.replayAnswers!.get(eventId)
  return key === undefined ? -1 : state.waiters.findIndex((w) => w.key === key)
}

const recordAnswer = (inv: Invocation, index: number, event: AnyEvent): void => {
  if (inv.answers === undefined) inv.answers = new Map()
  inv.answers.set(index, event)
}

const matches = (waiter: Waiter, event: AnyEvent): boolean => {
  if (waiter.match === undefined) return true
  try {
    return waiter.match(event) === true
  } catch {
    return false
  }
}

const begin = (state: RunState, inv: Invocation, out: Array<Command>): void => {
  state.running[inv.step]++
  state.active.add(inv)
  state.idle = false
  out.push({ _tag: "Run", invocation: inv })
}

const release = (state: RunState, inv: Invocation): void => {
  if (inv.suspended) {
    inv.suspended = false
    state.suspended--
  } else {
    state.running[inv.step]--
  }
  state.active.delete(inv)
  if (inv.waits > 0 && state.waiters.length > 0) {
    for (let i = state.waiters.length - 1; i >= 0; i--) {
      if (state.waiters[i].invocation === inv) state.waiters.splice(i, 1)
    }
  }
}

/** Gives a resolved waiter its slot back (or queues it, ahead of new events, until a slot frees). */
const resume = (state: RunState, resume: Resume, out: Array<Command>): void => {
  const s = resume.waiter.invocation.step
  if (state.running[s] < state.plan.steps[s].workers) {
    reacquire(state, resume, out)
  } else {
    push(state.resumes[s], resume)
    state.resuming++
  }
}

const reacquire = (state: RunState, resume: Resume, out: Array<Command>): void => {
  const inv = resume.waiter.invocation
  if (inv.suspended && !state.waiters.some((w) => w.invocation === inv)) {
    inv.suspended = false
    state.suspended--
    state.running[inv.step]++
  }
  state.idle = false
  out.push({ _tag: "Resume", resume })
}

/** Starts what the freed slots of step `s` allow: resumed waiters first, then queued events (FIFO). */
const fill = (state: RunState, s: number, out: Array<Command>): void => {
  if (state.status !== "running") return
  const workers = state.plan.steps[s].workers
  const resumes = state.resumes[s]
  while (size(resumes) > 0 && state.running[s] < workers) {
    state.resuming--
    reacquire(state, shift(resumes), out)
  }
  const queue = state.queues[s]
  while (size(queue) > 0 && state.running[s] < workers) {
    state.queued--
    begin(state, shift(queue), out)
  }
}

/** Opens a prompt under `eventId`: its `requestId` is the one the step gave, or else `eventId` (stamped into it). */
const openPrompt = (state: RunState, eventId: string, prompt: AnyEvent, awaits?: string): AnyEvent => {
  const given = (prompt as { readonly requestId?: unknown }).requestId
  const requestId = typeof given === "string" ? given : eventId
  const stamped = typeof given === "string" ? prompt : ({ ...prompt, requestId } as AnyEvent)
  state.pending.push(
    awaits === undefined ? { eventId, requestId, prompt: stamped } : { eventId, requestId, prompt: stamped, awaits }
  )
  return stamped
}

/** A waiter that gives up (expired, abandoned) closes its prompt: no answer can reach it any more. */
const closePrompt = (state: RunState, waiter: Waiter): void => {
  const index = state.pending.findIndex((p) => p.eventId === waiter.key)
  if (index >= 0) state.pending.splice(index, 1)
}

const removePending = (state: RunState, prompt: PendingInput): void => {
  const index = state.pending.indexOf(prompt)
  if (index >= 0) state.pending.splice(index, 1)
}

/** The open waiter whose prompt `prompt` is, if any. */
const waiterOf = (state: RunState, prompt: PendingInput): Waiter | undefined => {
  for (const waiter of state.waiters) if (waiter.key === prompt.eventId) return waiter
  return undefined
}

/** `true` when an open prompt belongs to `waiter` (it is answered through that prompt, not by stray answers). */
const hasOwnPrompt = (state: RunState, waiter: Waiter): boolean => state.pending.some((p) => p.eventId === waiter.key)

/** The tags the run accepts from outside right now: HumanResponse, the `external` types, and what waiters await. */
export const acceptedTags = (state: RunState): ReadonlyArray<string> => {
  const tags = new Set(state.plan.externalTags)
  for (const waiter of state.waiters) tags.add(waiter.tag)
  return [...tags]
}

/**
 * Decides, without changing anything, what an event sent from outside may do (API §7): only an event an open
 * `ctx.waitFor` awaits, `HumanResponse` and the `external` types may enter; an answer that names a prompt
 * (`requestId`) answers exactly that open prompt, and one naming a prompt that is not open is refused; one without
 * `requestId` goes to the first waiter that accepts it, or answers the oldest prompt no waiter owns. A targeted send
 * (`step`) bypasses waiters, so it only takes `HumanResponse` and `external` types.
 *
 * The shell applies the verdict in the same synchronous turn (`External.admitted`), so the check and the consumption
 * of a prompt are one atomic step: of concurrent answers to one prompt, exactly one is admitted.
 *
 * @internal
 */
export const admit = (state: RunState, event: AnyEvent, step: number | undefined): Admission => {
  const tag = event._tag
  const plan = state.plan
  const external = tag !== "StartEvent" && tag !== "StopEvent" && plan.externalTags.has(tag)
  const refuse = (detail?: string, accepted: ReadonlyArray<string> = acceptedTags(state)): Admission => ({
    _tag: "Rejected",
    error: new EventNotAcceptedError({
      workflow: plan.name,
      runId: state.runId,
      tag,
      step: step === undefined ? undefined : plan.steps[step].name,
      accepted,
      detail
    })
  })
  if (tag === "StartEvent" || tag === "StopEvent") return refuse(`"${tag}" is the run's own control event`)
  const requestId = (event as { readonly requestId?: unknown }).requestId
  if (typeof requestId === "string" && (external || state.waiters.some((w) => w.tag === tag))) {
    const prompt = state.pending.find((p) => p.requestId === requestId)
    if (prompt === undefined) {
      return {
        _tag: "Rejected",
        error: new PromptNotOpenError({
          workflow: plan.name,
          runId: state.runId,
          requestId,
          open: state.pending.map((p) => p.requestId)
        })
      }
    }
    const owner = waiterOf(state, prompt)
    if (owner === undefined && prompt.awaits !== undefined) {
      // Its waiter is not registered (yet): a resumed run is re-executing the step up to its `waitFor`.
      if (step !== undefined) {
        return refuse(`prompt "${requestId}" is answered by the step waiting on it; send the answer without a step`)
      }
      if (prompt.awaits !== tag)
        return refuse(`prompt "${requestId}" awaits a "${prompt.awaits}" event`, [prompt.awaits])
      return { _tag: "Admitted", prompt, waiter: undefined, park: true }
    }
    if (owner !== undefined) {
      if (step !== undefined) {
        return refuse(`prompt "${requestId}" is answered by the step waiting on it; send the answer without a step`)
      }
      if (owner.tag !== tag || !matches(owner, event)) {
        return refuse(
          owner.tag !== tag
            ? `prompt "${requestId}" awaits a "${owner.tag}" event`
            : `the waitFor of prompt "${requestId}" does not match this event`,
          [owner.tag]
        )
      }
      return { _tag: "Admitted", prompt, waiter: owner }
    }
    if (!external) return refuse(`prompt "${requestId}" is answered by HumanResponse or an \`external\` type`)
    return { _tag: "Admitted", prompt, waiter: step === undefined ? freeWaiter(state, event) : undefined }
  }
  if (step === undefined && state.waiters.length > 0) {
    const i = findWaiter(state, event)
    if (i >= 0) {
      const waiter = state.waiters[i]
      return { _tag: "Admitted", prompt: state.pending.find((p) => p.eventId === waiter.key), waiter }
    }
  }
  if (!external) {
    const awaited = state.waiters.some((w) => w.tag === tag)
    return refuse(
      awaited && step !== undefined
        ? `a send to a step bypasses the ctx.waitFor that awaits "${tag}"; send it without a step`
        : awaited
          ? `no open ctx.waitFor for "${tag}" matches this event`
          : undefined
    )
  }
  // The oldest prompt no open waiter owns; a waitFor prompt whose waiter is not registered yet keeps the answer.
  const prompt = state.pending.find(
    (p) => waiterOf(state, p) === undefined && (p.awaits === undefined || (p.awaits === tag && step === undefined))
  )
  return { _tag: "Admitted", prompt, waiter: undefined, park: prompt?.awaits !== undefined }
}

/** The first waiter that accepts `event` and has no prompt of its own (it waits for the answer to a written one). */
const freeWaiter = (state: RunState, event: AnyEvent): Waiter | undefined => {
  for (const waiter of state.waiters) {
    if (waiter.tag === event._tag && matches(waiter, event) && !hasOwnPrompt(state, waiter)) return waiter
  }
  return undefined
}

const end = (
  state: RunState,
  status: Exclude<Status, "running">,
  ending: Ending,
  terminal: AnyEvent,
  out: Array<Command>
): void => {
  state.status = status
  if (state.records !== undefined) state.records.push({ _tag: "Ended", status, ending })
  out.push({ _tag: "Publish", event: terminal })
  out.push({ _tag: "End", ending })
}

/** Names of the steps with started, unfinished invocations (running, retrying or waiting). */
export const activeStepNames = (state: RunState): ReadonlyArray<string> => {
  const names = new Set<string>()
  for (const inv of state.active) names.add(state.plan.steps[inv.step].name)
  return [...names]
}

/** `true` when nothing runs and nothing is queued (suspended waiters do not count as running). */
export const isQuiet = (state: RunState): boolean =>
  state.active.size === state.suspended && state.queued === 0 && state.resuming === 0

/** `true` when the run is quiet but can still be woken: an open waiter, an unanswered prompt, an external step. */
export const isWaiting = (state: RunState): boolean =>
  state.status === "running" &&
  isQuiet(state) &&
  (state.waiters.length > 0 || state.pending.length > 0 || state.plan.wakeable)

const checkIdle = (state: RunState, out: Array<Command>): void => {
  if (state.status !== "running" || !isQuiet(state)) return
  if (state.waiters.length > 0 || state.pending.length > 0 || state.plan.wakeable) {
    // `idle` only keeps RunIdle from being published twice for one idle period.
    if (!state.idle) {
      state.idle = true
      if (state.trace) out.push({ _tag: "Publish", event: { _tag: "RunIdle" } })
    }
    return
  }
  const waitingFor: Array<string> = []
  for (const [step, buffer] of state.collected) {
    if (buffer.length > 0) {
      waitingFor.push(
        `step "${step}" collected ${buffer.map((e) => e._tag).join(", ")} and was waiting for more events in ctx.collect`
      )
    }
  }
  const error = new WorkflowStalledError({ workflow: state.plan.name, runId: state.runId, waitingFor })
  end(
    state,
    "failed",
    { _tag: "Stalled", waitingFor, error },
    {
      _tag: "WorkflowFailed",
      attempts: 0,
      error,
      step: null
    } as AnyEvent,
    out
  )
}

// -----------------------------------------------------------------------------
// collect
// -----------------------------------------------------------------------------

const collectInput = (state: RunState, input: Extract<Input, { readonly _tag: "Collect" }>): void => {
  const inv = input.invocation
  const given = input.journaled
  const call = given?.call ?? inv.collects
  if (call >= inv.collects) inv.collects = call + 1
  // A re-execution after a resume gets what this call returned the first time (nothing is buffered again).
  if (inv.collectResults?.has(call)) return
  const event = input.event
  const stepName = state.plan.steps[inv.step].name
  const id = given?.bufferedAs ?? (event === inv.event ? inv.eventId : collectId(inv.eventId, call))
  let pushed = given?.pushed ?? true
  if (given === undefined && inv.replay !== undefined) {
    // Re-executed after a resume: an event the first execution already buffered is not buffered twice.
    const buffer = state.collected.get(stepName)
    if (buffer?.some((e) => state.collectIds?.get(e) === id)) pushed = false
  }
  if (pushed) {
    if (state.collectIds === undefined) state.collectIds = new WeakMap()
    state.collectIds.set(event, id)
  }
  if (state.records !== undefined) {
    state.records.push({
      _tag: "Collected",
      invocation: inv,
      call,
      bufferedAs: id,
      event,
      pushed,
      expected: input.expected,
      count: input.count
    })
  }
  const result =
    input.count === undefined
      ? collect(state, stepName, event, input.expected, pushed)
      : collectCount(state, stepName, event, input.expected[0] ?? "", input.count, pushed)
  if (result === undefined) return
  if (inv.collectResults === undefined) inv.collectResults = new Map()
  inv.collectResults.set(call, result)
}

/**
 * `ctx.collect`: buffers `event` for step `stepName` when its tag is expected; when one buffered event per
 * entry of `expected` is available, removes and returns them ordered as `expected` (same-tag entries in arrival
 * order). Events of tags not in `expected` are ignored.
 *
 * @internal
 */
export const collect = (
  state: Pick<RunState, "collected">,
  stepName: string,
  event: AnyEvent,
  expected: ReadonlyArray<string>,
  /** `false` when `event` is already in the buffer (a re-execution after resume collects it again). */
  push = true
): Array<AnyEvent> | undefined => {
  if (expected.length === 0) return []
  let buffer = state.collected.get(stepName)
  if (push && expected.includes(event._tag)) {
    if (buffer === undefined) {
      buffer = []
      state.collected.set(stepName, buffer)
    }
    buffer.push(event)
  }
  if (buffer === undefined || buffer.length < expected.length) return undefined
  const taken = new Array<number>(expected.length)
  const used = new Set<number>()
  for (let i = 0; i < expected.length; i++) {
    let found = -1
    for (let j = 0; j < buffer.length; j++) {
      if (!used.has(j) && buffer[j]._tag === expected[i]) {
        found = j
        break
      }
    }
    if (found < 0) return undefined
    used.add(found)
    taken[i] = found
  }
  const result = taken.map((j) => buffer[j])
  const rest = buffer.filter((_, j) => !used.has(j))
  if (rest.length === 0) state.collected.delete(stepName)
  else state.collected.set(stepName, rest)
  return result
}

/**
 * Count form of {@link collect}: `n` events of one tag.
 *
 * @internal
 */
export const collectCount = (
  state: Pick<RunState, "collected">,
  stepName: string,
  event: AnyEvent,
  tag: string,
  n: number,
  push = true
): Array<AnyEvent> | undefined => {
  if (n <= 0) return []
  if (event._tag !== tag) return undefined
  let buffer = state.collected.get(stepName)
  if (buffer === undefined) {
    buffer = []
    state.collected.set(stepName, buffer)
  }
  if (push) buffer.push(event)
  if (buffer.length < n) return undefined
  const result = buffer.splice(0, n)
  if (buffer.length === 0) state.collected.delete(stepName)
  return result
}
