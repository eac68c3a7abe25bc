/**
 * The journal engine's pure parts: what the interpreter's journaled facts become as journal entries, and the
 * replay of a journal through the same `transition` (resume = journal replayed, then the invocations that were in
 * flight re-executed). No fibers, no clock, no store.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { AnyEvent } from "../Event.js"
import type * as Journal from "../Journal.js"
import type * as Snapshot from "../Snapshot.js"
import { InvalidSnapshotError } from "../WorkflowError.js"
import { childId, externalId, waiterKey, writeId } from "./ids.js"
import * as I from "./interpreter.js"
import { ids } from "./journal.js"
import type { Plan } from "./plan.js"
import { encodeRunError } from "./runError.js"
import {
  decode as decodeSnapshot,
  decodeEvent,
  encode as encodeSnapshot,
  encodeError,
  encodeEvent
} from "./snapshot.js"

/** What turning facts into entries needs from the shell. @internal */
export interface EntryContext {
  readonly plan: Plan
  readonly runId: string
  readonly signature: string
  readonly trace: boolean
  readonly timeout: number | undefined
  /** The parent run of a child workflow's run, and the conversation a run continues (for `RunStarted`). */
  readonly parent?: (() => string | undefined) | undefined
  readonly conversation?: (() => { readonly id: string; readonly previous: string } | undefined) | undefined
  /** Commits an invocation's state updates and returns the run's committed state, encoded. */
  readonly commit: (invocation: I.Invocation) => unknown
  /** The committed state, encoded (for `RunStarted`). */
  readonly committed: () => unknown
  readonly now: number
  /** The trace context the run continues (`RunStarted.traceParent`), if any. */
  readonly traceParent: { readonly traceId: string; readonly spanId: string } | undefined
  /** When the invocation's current (last) attempt started (epoch ms), if the shell recorded it. */
  readonly startedAt: (invocation: I.Invocation) => number | undefined
}

/** `startedAt` when known (the field is optional). */
const started = (ctx: EntryContext, inv: I.Invocation): { readonly startedAt?: number } => {
  const at = ctx.startedAt(inv)
  return at === undefined ? {} : { startedAt: at }
}

const stepName = (plan: Plan, inv: I.Invocation) => plan.steps[inv.step].name

const identified = (plan: Plan, e: { readonly id: string; readonly event: AnyEvent }): Journal.IdentifiedEvent => ({
  event: encodeEvent(plan, e.event),
  id: e.id
})

/** The fields of an `InvocationCompleted` entry, `log` and `startedAt` absent when undefined. */
interface CompletedFields {
  readonly at: number | undefined
  readonly attempts: number
  readonly eventId: string
  readonly events: ReadonlyArray<Journal.IdentifiedEvent>
  readonly id: string
  readonly log: { readonly from: number; readonly events: ReadonlyArray<unknown> } | undefined
  readonly startedAt: number | undefined
  readonly state: unknown
  readonly step: string
  readonly tag: string
  readonly writes: ReadonlyArray<{ readonly index: number; readonly event: unknown }>
}

/**
 * An `InvocationCompleted` entry, its keys in sorted order (the hop's entry: its canonical JSON is `JSON.stringify`
 * of it, nothing copied). Also used by the shell to add the published log's new part and the writes to it.
 *
 * @internal
 */
export const completed = (f: CompletedFields): Journal.Entry & { readonly _tag: "InvocationCompleted" } => {
  const entry: any = { _tag: "InvocationCompleted" }
  if (f.at !== undefined) entry.at = f.at
  entry.attempts = f.attempts
  entry.eventId = f.eventId
  entry.events = f.events
  entry.id = f.id
  if (f.log !== undefined) entry.log = { events: f.log.events, from: f.log.from }
  entry.sends = []
  if (f.startedAt !== undefined) entry.startedAt = f.startedAt
  entry.state = f.state
  entry.step = f.step
  entry.tag = f.tag
  entry.writes = f.writes
  return entry
}

/** A completion that carries the published log's new part and the writes of its invocation (one entry per hop). */
export const withLog = (
  e: Journal.Entry & { readonly _tag: "InvocationCompleted" },
  log: CompletedFields["log"],
  writes: CompletedFields["writes"]
): Journal.Entry & { readonly _tag: "InvocationCompleted" } =>
  completed({
    at: e.at,
    attempts: e.attempts,
    eventId: e.eventId,
    events: e.events,
    id: e.id,
    log,
    startedAt: e.startedAt,
    state: e.state,
    step: e.step,
    tag: e.tag,
    writes
  })

/** What a run's `RunStarted` links it to: its parent run, its conversation, the trace it continues. */
interface Links {
  readonly parent?: string | undefined
  readonly conversation?: { readonly id: string; readonly previous: string } | undefined
  readonly traceParent?: { readonly traceId: string; readonly spanId: string } | undefined
}

const linksOf = (started: Journal.Entry & { readonly _tag: "RunStarted" }): Links => ({
  parent: started.parent,
  conversation: started.conversation,
  traceParent: started.traceParent
})

/** The optional `parent` / `conversation` fields of `RunStarted` (absent when unset: older journals stay equal). */
const withParent = (
  parent: string | undefined,
  conversation: { readonly id: string; readonly previous: string } | undefined
) => ({
  ...(parent === undefined ? {} : { parent }),
  ...(conversation === undefined ? {} : { conversation: { id: conversation.id, previous: conversation.previous } })
})

/** The journal entry of one fact (ids as the transition computed them). @internal */
export const toEntry = (ctx: EntryContext, fact: I.Fact): Journal.Entry => {
  const plan = ctx.plan
  // Every entry says when it was written (informative: timelines, the studio's waterfall).
  const at = ctx.now
  switch (fact._tag) {
    case "Started": {
      // Keys in sorted order, as every entry this engine builds: the canonical JSON of an entry whose objects are in
      // order is `JSON.stringify` of it, nothing copied (journal.ts).
      const parent = ctx.parent?.()
      const conversation = ctx.conversation?.()
      const traceParent = ctx.traceParent
      return {
        _tag: "RunStarted",
        at,
        ...(conversation === undefined
          ? {}
          : { conversation: { id: conversation.id, previous: conversation.previous } }),
        id: ids.runStarted,
        input: Schema.encodeUnknownSync(plan.workflow.input as Schema.Schema<unknown, unknown, never>)(fact.input),
        options: ctx.timeout === undefined ? { trace: ctx.trace } : { timeout: ctx.timeout, trace: ctx.trace },
        ...(parent === undefined ? {} : { parent }),
        runId: ctx.runId,
        signature: ctx.signature,
        state: ctx.committed(),
        ...(traceParent === undefined
          ? {}
          : { traceParent: { spanId: traceParent.spanId, traceId: traceParent.traceId } }),
        version: 1,
        workflow: plan.name
      }
    }
    case "Sent": {
      const step = stepName(plan, fact.invocation)
      return {
        _tag: "EventSent",
        at,
        event: encodeEvent(plan, fact.event),
        eventId: fact.id,
        from: fact.invocation.eventId,
        id: ids.eventSent(fact.id),
        step,
        ...(fact.target === undefined ? {} : { target: plan.steps[fact.target].name })
      }
    }
    case "External":
      return {
        _tag: "ExternalEventSent",
        at,
        event: encodeEvent(plan, fact.event),
        eventId: fact.id,
        id: ids.externalEventSent(fact.id),
        ...(fact.park ? { park: true } : {}),
        ...(fact.prompt === undefined ? {} : { prompt: fact.prompt }),
        ...(fact.step === undefined ? {} : { step: plan.steps[fact.step].name }),
        ...(fact.waiter === undefined ? {} : { waiter: fact.waiter })
      }
    case "Written": {
      const step = stepName(plan, fact.invocation)
      return {
        _tag: "Written",
        at,
        eventId: fact.invocation.eventId,
        id: ids.written(writeId(fact.invocation.eventId, step, fact.index)),
        index: fact.index,
        ...(fact.event._tag === "InputRequired" ? { prompt: encodeEvent(plan, fact.event) } : {}),
        step
      }
    }
    case "AttemptFailed": {
      const inv = fact.invocation
      const step = stepName(plan, inv)
      return {
        _tag: "AttemptFailed",
        at,
        attempt: inv.attempts,
        error: encodeError(fact.error),
        eventId: inv.eventId,
        id: ids.attemptFailed(step, inv.eventId, inv.attempts),
        ...started(ctx, inv),
        step
      }
    }
    case "Completed": {
      const inv = fact.invocation
      const step = stepName(plan, inv)
      return completed({
        at,
        attempts: inv.attempts,
        eventId: inv.eventId,
        events: fact.events.map((e) => identified(plan, e)),
        id: ids.invocationCompleted(step, inv.eventId),
        log: undefined,
        startedAt: ctx.startedAt(inv),
        state: ctx.commit(inv),
        step,
        tag: inv.event._tag,
        writes: []
      })
    }
    case "Failed": {
      const inv = fact.invocation
      const step = stepName(plan, inv)
      return {
        _tag: "InvocationFailed",
        at,
        attempts: inv.attempts,
        defect: fact.defect,
        error: encodeError(fact.error),
        ...(fact.stepFailed === undefined ? {} : { event: identified(plan, fact.stepFailed) }),
        eventId: inv.eventId,
        id: ids.invocationFailed(step, inv.eventId),
        ...(fact.interrupted ? { interrupted: true } : {}),
        ...started(ctx, inv),
        state: ctx.commit(inv),
        step
      }
    }
    case "Waited": {
      const w = fact.waiter
      const given = (fact.prompt as { readonly requestId?: unknown } | undefined)?.requestId
      return {
        _tag: "WaiterRegistered",
        at,
        eventId: w.invocation.eventId,
        id: ids.waiterRegistered(w.key),
        index: w.index,
        key: w.key,
        ...(fact.prompt === undefined ? {} : { prompt: { event: encodeEvent(plan, fact.prompt), id: w.key } }),
        ...(typeof given === "string" ? { requestId: given } : {}),
        step: stepName(plan, w.invocation),
        tag: w.tag
      }
    }
    case "Collected":
      return collectedEntry(
        plan,
        fact.invocation,
        fact.call,
        fact.bufferedAs,
        fact.event,
        fact.pushed,
        fact.expected,
        fact.count,
        at
      )
    case "Answered": {
      const w = fact.waiter
      const o = fact.outcome
      return {
        _tag: "WaiterAnswered",
        at,
        eventId: w.invocation.eventId,
        id: ids.waiterAnswered(w.key),
        index: w.index,
        key: w.key,
        outcome: o._tag === "Event" ? { _tag: "Event", answer: identified(plan, o) } : { _tag: o._tag },
        step: stepName(plan, w.invocation)
      }
    }
    case "Ended": {
      const ending = fact.ending
      return {
        _tag: "RunEnded",
        at,
        ...(ending._tag === "Completed" || ending._tag === "Cancelled"
          ? {}
          : {
              // With its fields: a durable parent re-executing its step gets this child's error back from it.
              error: encodeRunError(
                ending._tag === "TimedOut"
                  ? {
                      _tag: "WorkflowTimeoutError",
                      message: `timed out after ${Duration.format(ending.timeout)}`,
                      timeout: Duration.toMillis(ending.timeout),
                      activeSteps: ending.activeSteps
                    }
                  : ending.error,
                ending._tag === "Failed" && ending.defect
              )
            }),
        id: ids.runEnded,
        ...(ending._tag === "Completed"
          ? {
              result: Schema.encodeUnknownSync(plan.workflow.output as Schema.Schema<unknown, unknown, never>)(
                ending.result
              )
            }
          : {}),
        status: fact.status
      }
    }
  }
}

/** The entry of one `ctx.collect` call. @internal */
export const collectedEntry = (
  plan: Plan,
  inv: I.Invocation,
  call: number,
  bufferedAs: string,
  event: AnyEvent,
  pushed: boolean,
  expected: ReadonlyArray<string>,
  count: number | undefined,
  at?: number
): Journal.Entry => {
  const step = stepName(plan, inv)
  return {
    _tag: "Collected",
    ...(at === undefined ? {} : { at }),
    bufferedAs,
    call,
    ...(count === undefined ? {} : { count }),
    event: encodeEvent(plan, event),
    eventId: inv.eventId,
    expected: [...expected],
    id: ids.collected(step, inv.eventId, call),
    pushed,
    step
  }
}

// -----------------------------------------------------------------------------
// Replay
// -----------------------------------------------------------------------------

class Mismatch {
  constructor(readonly message: string) {}
}

/** A journal replayed: the run as a decoded snapshot (ready to restart), its derived log, how it ended. @internal */
export interface Replayed {
  readonly snapshot: Snapshot.Snapshot
  /** The published log, derived from the journal's `Published` chunks (positions are stable). */
  readonly published: ReadonlyArray<AnyEvent>
  readonly encodedPublished: ReadonlyArray<unknown>
  /** The encoded committed state. */
  readonly committed: unknown
  readonly signature: string
  readonly createdAt: number
  readonly entries: number
  /** The `trace` option the run was started with. */
  readonly trace: boolean
  /** The trace context the run continues (`RunStarted.traceParent`). */
  readonly traceParent: { readonly traceId: string; readonly spanId: string } | undefined
}

const decodeState = (plan: Plan, encoded: unknown, where: string): unknown => {
  const schema = plan.workflow.state as Schema.Schema<unknown, unknown, never> | undefined
  if (schema === undefined) return encoded
  const result = Schema.decodeUnknownEither(schema)(encoded)
  if (Either.isLeft(result)) {
    throw new Mismatch(
      `${where}: the state no longer decodes: ${ParseResult.TreeFormatter.formatErrorSync(result.left)}`
    )
  }
  return result.right
}

const decodeOrMismatch = (plan: Plan, encoded: unknown, where: string): AnyEvent => {
  try {
    return decodeEvent(plan, encoded, where)
  } catch (error) {
    const detail = (error as { readonly detail?: unknown }).detail
    throw new Mismatch(`${where}: ${typeof detail === "string" ? detail : String(error)}`)
  }
}

/**
 * Replays a journal (every entry, from offset 0) through the interpreter's `transition`, asserting that the ids it
 * computes are the journaled ones, and returns the run as a snapshot from which the shell restarts it (today's
 * restart path: in-flight invocations are re-executed, skipping what they had already sent, written and awaited).
 *
 * Returns the list of mismatches when the journal does not replay on this definition.
 *
 * @internal
 */
export const replay = (
  plan: Plan,
  runId: string,
  entries: ReadonlyArray<Journal.Stored>,
  now: number,
  compaction?: Compacted
): Replayed | ReadonlyArray<string> => {
  const replayed = replayState(plan, runId, entries, compaction)
  return "state" in replayed ? finish(plan, replayed, now) : replayed
}

/** A journal replayed up to its end, before it is turned into a snapshot (what a compaction holds). */
interface ReplayedState {
  readonly state: I.RunState
  readonly value: unknown
  readonly committed: unknown
  readonly published: ReadonlyArray<AnyEvent>
  readonly encodedPublished: ReadonlyArray<unknown>
  readonly publishedLength: number
  readonly collectedIds: Map<AnyEvent, string>
  readonly ended: (Journal.Entry & { readonly _tag: "RunEnded" }) | undefined
  readonly signature: string
  readonly createdAt: number | undefined
  readonly trace: boolean
  readonly upToOffset: number
  readonly links: Links
}

const replayState = (
  plan: Plan,
  runId: string,
  entries: ReadonlyArray<Journal.Stored>,
  compaction: Compacted | undefined
): ReplayedState | ReadonlyArray<string> => {
  const first = entries[0]?.entry
  if (compaction === undefined && (first === undefined || first._tag !== "RunStarted"))
    return [`run ${runId}: the journal does not start with RunStarted`]
  const started = first?._tag === "RunStarted" ? first : undefined
  const meta =
    compaction !== undefined
      ? compaction.meta
      : {
          signature: started!.signature,
          createdAt: started!.at,
          trace: started!.options.trace,
          links: linksOf(started!)
        }
  // Entries before the compaction's offset stand replayed in it: only their log chunks are read (for the log).
  const base = compaction?.upToOffset ?? 0
  const publishedBase = compaction === undefined || entries[0]?.offset === 0 ? 0 : compaction.publishedLength
  const state = compaction?.state ?? I.make(plan, runId, meta.trace)
  const answers = new Map<string, string>()
  for (const { entry } of entries) {
    if (entry._tag === "WaiterAnswered" && entry.outcome._tag === "Event")
      answers.set(entry.outcome.answer.id, entry.key)
  }
  state.replayAnswers = answers
  const published: Array<AnyEvent> = []
  const encodedPublished: Array<unknown> = []
  const collectedIds = compaction?.collectedIds ?? new Map<AnyEvent, string>()
  let committed: unknown = compaction !== undefined ? compaction.committed : started!.state
  let value: unknown
  let ended: (Journal.Entry & { readonly _tag: "RunEnded" }) | undefined = compaction?.ended
  let where = ""
  let upToOffset = base

  const find = (step: string, eventId: string): I.Invocation => {
    const s = plan.stepIndex.get(step)
    if (s === undefined) throw new Mismatch(`${where}: the workflow has no step "${step}"`)
    for (const inv of state.active) if (inv.step === s && inv.eventId === eventId) return inv
    const queue = state.queues[s]
    for (let i = queue.head; i < queue.items.length; i++) {
      const inv = queue.items[i]
      if (inv.eventId !== eventId) continue
      // The live run had started it (a slot freed in an order the replay does not see): start it here too.
      queue.items.splice(i, 1)
      state.queued--
      state.running[s]++
      state.active.add(inv)
      return inv
    }
    throw new Mismatch(
      `${where}: no invocation of step "${step}" for event ${eventId} was started when it was journaled`
    )
  }
  const apply = (input: I.Input) => {
    I.transition(state, input)
  }
  /** A chunk of the published log (a `Published` entry, or the one a completion carries). */
  const takeLog = (from: number, events: ReadonlyArray<unknown>) => {
    if (from !== publishedBase + published.length) {
      throw new Mismatch(
        `${where}: a log chunk from position ${from}, but the log has ${publishedBase + published.length}`
      )
    }
    events.forEach((e, i) => {
      published.push(decodeOrMismatch(plan, e, `${where}, event ${from + i}`))
      encodedPublished.push(e)
    })
  }
  const expectId = (computed: string, journaled: string) => {
    if (computed !== journaled) {
      throw new Mismatch(`${where}: the replay computed event id ${computed} where the journal has ${journaled}`)
    }
  }

  try {
    value =
      compaction !== undefined
        ? decodeState(plan, compaction.committed, `the compaction at offset ${base}`)
        : decodeState(plan, started!.state, "entry 0 (RunStarted)")
    for (const stored of entries) {
      const entry = stored.entry
      where = `entry ${stored.offset} (${entry._tag} "${entry.id}")`
      if (stored.offset >= upToOffset) upToOffset = stored.offset + 1
      if (stored.offset < base) {
        if (entry._tag === "Published") takeLog(entry.from, entry.events)
        else if (entry._tag === "InvocationCompleted" && entry.log !== undefined)
          takeLog(entry.log.from, entry.log.events)
        continue
      }
      if (
        stored.offset === base &&
        compaction !== undefined &&
        publishedBase + published.length !== compaction.publishedLength
      ) {
        throw new Mismatch(
          `${where}: the compaction holds a log of ${compaction.publishedLength} events, the entries before it ${publishedBase + published.length}`
        )
      }
      if (state.status !== "running" && entry._tag !== "Published" && entry._tag !== "RunEnded") {
        if (entry._tag === "InvocationCompleted" && entry.log !== undefined) takeLog(entry.log.from, entry.log.events)
        continue
      }
      switch (entry._tag) {
        case "RunStarted": {
          if (stored.offset !== 0) throw new Mismatch(`${where}: RunStarted after the first entry`)
          const input = Schema.decodeUnknownEither(plan.workflow.input as Schema.Schema<unknown, unknown, never>)(
            entry.input
          )
          if (Either.isLeft(input)) {
            throw new Mismatch(
              `${where}: the input no longer decodes: ${ParseResult.TreeFormatter.formatErrorSync(input.left)}`
            )
          }
          apply({ _tag: "Start", input: input.right })
          break
        }
        case "EventSent": {
          const inv = find(entry.step, entry.from)
          let target: number | undefined
          if (entry.target !== undefined) {
            target = plan.stepIndex.get(entry.target)
            if (target === undefined) throw new Mismatch(`${where}: the workflow has no step "${entry.target}"`)
          }
          expectId(childId(inv.eventId, entry.step, inv.emitted), entry.eventId)
          apply({ _tag: "Send", from: inv, event: decodeOrMismatch(plan, entry.event, where), step: target })
          break
        }
        case "ExternalEventSent": {
          expectId(externalId(state.external), entry.eventId)
          let step: number | undefined
          if (entry.step !== undefined) {
            step = plan.stepIndex.get(entry.step)
            if (step === undefined) throw new Mismatch(`${where}: the workflow has no step "${entry.step}"`)
          }
          const prompt = entry.prompt === undefined ? undefined : state.pending.find((p) => p.eventId === entry.prompt)
          const waiter = entry.waiter === undefined ? undefined : state.waiters.find((w) => w.key === entry.waiter)
          if (
            (entry.prompt !== undefined && prompt === undefined) ||
            (entry.waiter !== undefined && waiter === undefined)
          ) {
            throw new Mismatch(`${where}: the prompt or waiter it answered is not open in the replay`)
          }
          apply({
            _tag: "External",
            event: decodeOrMismatch(plan, entry.event, where),
            step,
            admitted: { _tag: "Admitted", prompt, waiter, park: entry.park === true }
          })
          break
        }
        case "Written": {
          const inv = find(entry.step, entry.eventId)
          if (inv.writes !== entry.index) {
            throw new Mismatch(`${where}: write ${entry.index} where the replay expected write ${inv.writes}`)
          }
          const event =
            entry.prompt === undefined ? ({ _tag: "Written" } as AnyEvent) : decodeOrMismatch(plan, entry.prompt, where)
          apply({ _tag: "Write", from: inv, event })
          break
        }
        case "AttemptFailed": {
          const inv = find(entry.step, entry.eventId)
          inv.attempts = Math.max(inv.attempts, entry.attempt)
          break
        }
        case "InvocationCompleted": {
          const inv = find(entry.step, entry.eventId)
          inv.attempts = entry.attempts
          const events = entry.events.map((e) => decodeOrMismatch(plan, e.event, `${where}, event ${e.id}`))
          entry.events.forEach((e, i) => {
            expectId(childId(inv.eventId, entry.step, inv.emitted + i), e.id)
          })
          // Writes folded into the completion (appended with it): each as its `Written` entry would replay.
          for (const w of entry.writes) {
            if (inv.writes !== w.index) {
              throw new Mismatch(`${where}: write ${w.index} where the replay expected write ${inv.writes}`)
            }
            const tag = (w.event as { readonly _tag?: unknown } | null)?._tag
            const event =
              tag === "InputRequired" ? decodeOrMismatch(plan, w.event, where) : ({ _tag: "Written" } as AnyEvent)
            apply({ _tag: "Write", from: inv, event })
          }
          value = decodeState(plan, entry.state, where)
          committed = entry.state
          apply({ _tag: "Completed", invocation: inv, output: events })
          if (entry.log !== undefined) takeLog(entry.log.from, entry.log.events)
          break
        }
        case "InvocationFailed": {
          const inv = find(entry.step, entry.eventId)
          inv.attempts = entry.attempts
          if (entry.event !== undefined) expectId(childId(inv.eventId, entry.step, inv.emitted), entry.event.id)
          if (entry.state !== undefined) {
            value = decodeState(plan, entry.state, where)
            committed = entry.state
          }
          apply({
            _tag: "Failed",
            invocation: inv,
            error: entry.error,
            defect: entry.defect,
            interrupted: entry.interrupted === true
          })
          break
        }
        case "WaiterRegistered": {
          const inv = find(entry.step, entry.eventId)
          expectId(waiterKey(entry.step, entry.eventId, entry.index), entry.key)
          inv.waits = Math.max(inv.waits, entry.index + 1)
          const waiter: I.Waiter = {
            key: entry.key,
            index: entry.index,
            invocation: inv,
            tag: entry.tag,
            match: undefined
          }
          const prompt = entry.prompt === undefined ? undefined : decodeOrMismatch(plan, entry.prompt.event, where)
          apply({ _tag: "Wait", invocation: inv, waiter, prompt })
          break
        }
        case "WaiterAnswered": {
          // An answer by an event is the consequence of the entry that dispatched it (replayed there).
          if (entry.outcome._tag === "Event") break
          const waiter = state.waiters.find((w) => w.key === entry.key)
          if (waiter === undefined) throw new Mismatch(`${where}: waiter ${entry.key} is not open in the replay`)
          apply(entry.outcome._tag === "Expired" ? { _tag: "WaitExpired", waiter } : { _tag: "WaitAbandoned", waiter })
          break
        }
        case "Collected": {
          const inv = find(entry.step, entry.eventId)
          const event = entry.bufferedAs === inv.eventId ? inv.event : decodeOrMismatch(plan, entry.event, where)
          if (entry.pushed) collectedIds.set(event, entry.bufferedAs)
          apply({
            _tag: "Collect",
            invocation: inv,
            event,
            expected: entry.expected,
            count: entry.count,
            journaled: { call: entry.call, bufferedAs: entry.bufferedAs, pushed: entry.pushed }
          })
          break
        }
        case "Published": {
          takeLog(entry.from, entry.events)
          break
        }
        case "RunEnded": {
          ended = entry
          if (state.status === "running") state.status = entry.status
          break
        }
      }
    }
  } catch (error) {
    if (error instanceof Mismatch) return [error.message]
    throw error
  }
  state.replayAnswers = undefined
  return {
    state,
    value,
    committed,
    published,
    encodedPublished,
    publishedLength: publishedBase + published.length,
    collectedIds,
    ended,
    signature: meta.signature,
    createdAt: meta.createdAt,
    trace: meta.trace,
    upToOffset,
    links: meta.links
  }
}

const finish = (plan: Plan, replayed: ReplayedState, now: number): Replayed => {
  const { collectedIds, committed, encodedPublished, ended, published, state, value } = replayed
  const status: Snapshot.Status =
    ended !== undefined
      ? ended.status
      : state.status !== "running"
        ? state.status
        : I.isWaiting(state)
          ? "waiting"
          : "running"
  const snapshot = encodeSnapshot({
    state,
    published: [],
    encodedPublished: [],
    value,
    collectedId: (event) => collectedIds.get(event) ?? "",
    status,
    createdAt: replayed.createdAt ?? now,
    now,
    result: undefined
  })
  const full: Snapshot.Snapshot = {
    ...snapshot,
    ...withParent(replayed.links.parent, replayed.links.conversation),
    published: encodedPublished,
    ...(ended?.result !== undefined ? { result: reencodeResult(plan, ended.result) } : {}),
    ...(ended?.error !== undefined ? { error: ended.error } : {})
  }
  return {
    snapshot: full,
    published,
    encodedPublished,
    committed,
    signature: replayed.signature,
    createdAt: replayed.createdAt ?? now,
    entries: replayed.upToOffset,
    traceParent: replayed.links.traceParent,
    trace: replayed.trace
  }
}

/** A result as its schema encodes it (the journal stores JSON with sorted keys). */
const reencodeResult = (plan: Plan, result: unknown): unknown => {
  const schema = plan.workflow.output as Schema.Schema<unknown, unknown, never>
  const decoded = Schema.decodeUnknownEither(schema)(result)
  return Either.isLeft(decoded) ? result : Schema.encodeUnknownSync(schema)(decoded.right)
}

/** Decodes a replayed run for the shell (the snapshot restart path). @internal */
export const restore = (plan: Plan, replayed: Replayed, trace: boolean) => {
  const restored = decodeSnapshot(plan, { ...replayed.snapshot, published: [] }, trace)
  if (restored instanceof InvalidSnapshotError) return restored
  return { ...restored, published: replayed.published.slice() }
}

// -----------------------------------------------------------------------------
// Compaction
// -----------------------------------------------------------------------------

/** The compaction format this engine writes and reads (another format is ignored: the journal is replayed). */
export const compactionFormat = "eventflow.compaction/1"

/** A compaction decoded: the replay-form run at `upToOffset`, from which the tail is replayed. @internal */
export interface Compacted {
  readonly upToOffset: number
  readonly publishedLength: number
  readonly state: I.RunState
  readonly committed: unknown
  readonly collectedIds: Map<AnyEvent, string>
  readonly meta: {
    readonly signature: string
    readonly createdAt: number | undefined
    readonly trace: boolean
    readonly links: Links
  }
  /** The run's `RunEnded` entry, when the compaction stands for it. */
  readonly ended: (Journal.Entry & { readonly _tag: "RunEnded" }) | undefined
}

interface EncodedInvocation {
  readonly step: number
  readonly eventId: string
  readonly event: unknown
  readonly emitted: number
  readonly attempts: number
  readonly waits: number
  readonly writes: number
  readonly collects: number
  readonly collectResults: ReadonlyArray<readonly [number, ReadonlyArray<unknown>]> | null
  readonly answers: ReadonlyArray<readonly [number, unknown]> | null
  readonly replay: I.Replay | null
  readonly suspended: boolean
}

/**
 * Replays a journal (from its last compaction, if any, and the tail after it) and encodes the run it replays to as
 * a compaction (JSON) standing for every entry before the returned offset. `undefined` when there is nothing new to
 * compact; the mismatches when the journal does not replay.
 *
 * @internal
 */
export const compactionOf = (
  plan: Plan,
  runId: string,
  tail: ReadonlyArray<Journal.Stored>,
  compaction: Compacted | undefined
): { readonly snapshot: unknown; readonly upToOffset: number } | ReadonlyArray<string> => {
  const replayed = replayState(plan, runId, tail, compaction)
  if (!("state" in replayed)) return replayed
  const { state } = replayed
  const invocations: Array<EncodedInvocation> = []
  const index = new Map<I.Invocation, number>()
  const ref = (inv: I.Invocation): number => {
    let i = index.get(inv)
    if (i === undefined) {
      i = invocations.length
      index.set(inv, i)
      invocations.push({
        step: inv.step,
        eventId: inv.eventId,
        event: encodeEvent(plan, inv.event),
        emitted: inv.emitted,
        attempts: inv.attempts,
        waits: inv.waits,
        writes: inv.writes,
        collects: inv.collects,
        collectResults:
          inv.collectResults === undefined
            ? null
            : [...inv.collectResults].map(([k, events]) => [k, events.map((e) => encodeEvent(plan, e))] as const),
        answers:
          inv.answers === undefined ? null : [...inv.answers].map(([k, e]) => [k, encodeEvent(plan, e)] as const),
        replay: inv.replay ?? null,
        suspended: inv.suspended
      })
    }
    return i
  }
  const active = [...state.active].map(ref)
  const queues = state.queues.map((q) => I.fifoItems(q).map(ref))
  const waiters = state.waiters.map((w) => ({ key: w.key, index: w.index, invocation: ref(w.invocation), tag: w.tag }))
  const waiterKey = new Map(state.waiters.map((w) => [w, w.key]))
  const resumes = state.resumes.map((q) =>
    I.fifoItems(q).map((r) => ({
      waiter: { key: r.waiter.key, index: r.waiter.index, invocation: ref(r.waiter.invocation), tag: r.waiter.tag },
      open: waiterKey.has(r.waiter),
      outcome: r.outcome._tag === "Event" ? { _tag: "Event", event: encodeEvent(plan, r.outcome.event) } : r.outcome
    }))
  )
  const snapshot = {
    format: compactionFormat,
    workflow: plan.name,
    runId,
    signature: replayed.signature,
    createdAt: replayed.createdAt ?? null,
    trace: replayed.trace,
    links: replayed.links,
    upToOffset: replayed.upToOffset,
    publishedLength: replayed.publishedLength,
    committed: replayed.committed,
    ended: replayed.ended ?? null,
    status: state.status,
    running: state.running.slice(),
    queued: state.queued,
    resuming: state.resuming,
    suspended: state.suspended,
    external: state.external,
    idle: state.idle,
    recoveries: state.recoveries,
    invocations,
    active,
    queues,
    resumes,
    waiters,
    collected: [...state.collected].map(([step, events]) => ({
      step,
      events: events.map((e) => ({ id: replayed.collectedIds.get(e) ?? null, event: encodeEvent(plan, e) }))
    })),
    pending: state.pending.map((p) => ({
      eventId: p.eventId,
      requestId: p.requestId,
      prompt: encodeEvent(plan, p.prompt),
      awaits: p.awaits ?? null
    })),
    unclaimed: state.unclaimed.map((u) => ({ id: u.id, event: encodeEvent(plan, u.event) }))
  }
  // JSON through and through (what a store keeps).
  return { snapshot: JSON.parse(JSON.stringify(snapshot)), upToOffset: replayed.upToOffset }
}

/**
 * Decodes a compaction for this definition. A compaction of another format, workflow, run or definition signature,
 * or one that does not decode, is not used: the reason is returned and the caller replays the whole journal (the
 * entries are kept, so the journal alone is the truth; a compaction only saves replay work).
 *
 * @internal
 */
export const decodeCompaction = (
  plan: Plan,
  runId: string,
  signature: string,
  stored: { readonly upToOffset: number; readonly snapshot: unknown }
): Compacted | string => {
  const c = stored.snapshot as any
  if (typeof c !== "object" || c === null) return "it is not an object"
  if (c.format !== compactionFormat) return `its format is ${JSON.stringify(c.format)}, not "${compactionFormat}"`
  if (c.workflow !== plan.name || c.runId !== runId) return `it is of run ${c.runId} of workflow "${c.workflow}"`
  if (c.signature !== signature) return "it was written for another definition signature"
  if (c.upToOffset !== stored.upToOffset) return `it stands for offset ${c.upToOffset}, stored at ${stored.upToOffset}`
  try {
    const where = (path: string) => `compaction.${path}`
    const state = I.make(plan, runId, c.trace === true)
    const invocations: Array<I.Invocation> = (c.invocations as Array<EncodedInvocation>).map((e, i) => {
      if (plan.steps[e.step] === undefined) throw new Error(`invocations[${i}]: no step ${e.step}`)
      const inv = I.invocation(
        e.step,
        e.eventId,
        decodeEvent(plan, e.event, where(`invocations[${i}].event`)),
        e.replay ?? undefined
      )
      inv.emitted = e.emitted
      inv.attempts = e.attempts
      inv.waits = e.waits
      inv.writes = e.writes
      inv.collects = e.collects
      inv.suspended = e.suspended
      if (e.collectResults !== null) {
        inv.collectResults = new Map(
          e.collectResults.map(([k, events]) => [
            k,
            events.map((ev, j) => decodeEvent(plan, ev, where(`invocations[${i}].collectResults[${k}][${j}]`)))
          ])
        )
      }
      if (e.answers !== null) {
        inv.answers = new Map(
          e.answers.map(([k, ev]) => [k, decodeEvent(plan, ev, where(`invocations[${i}].answers[${k}]`))])
        )
      }
      return inv
    })
    const inv = (i: number): I.Invocation => {
      const found = invocations[i]
      if (found === undefined) throw new Error(`no invocation ${i}`)
      return found
    }
    state.status = c.status
    ;(c.running as Array<number>).forEach((n, s) => {
      state.running[s] = n
    })
    state.queued = c.queued
    state.resuming = c.resuming
    state.suspended = c.suspended
    state.external = c.external
    state.idle = c.idle
    state.recoveries = c.recoveries
    for (const i of c.active as Array<number>) state.active.add(inv(i))
    ;(c.queues as Array<Array<number>>).forEach((items, s) => {
      for (const i of items) state.queues[s].items.push(inv(i))
    })
    const waiterOf = (w: any): I.Waiter => ({
      key: w.key,
      index: w.index,
      invocation: inv(w.invocation),
      tag: w.tag,
      match: undefined
    })
    const waiters = new Map<string, I.Waiter>()
    for (const w of c.waiters) {
      const waiter = waiterOf(w)
      waiters.set(waiter.key, waiter)
      state.waiters.push(waiter)
    }
    ;(c.resumes as Array<Array<any>>).forEach((items, s) => {
      for (const r of items) {
        state.resumes[s].items.push({
          waiter: (r.open ? waiters.get(r.waiter.key) : undefined) ?? waiterOf(r.waiter),
          outcome:
            r.outcome._tag === "Event"
              ? { _tag: "Event", event: decodeEvent(plan, r.outcome.event, where("resumes")) }
              : { _tag: "Expired" }
        })
      }
    })
    const collectedIds = new Map<AnyEvent, string>()
    for (const entry of c.collected) {
      state.collected.set(
        entry.step,
        entry.events.map((e: any, j: number) => {
          const event = decodeEvent(plan, e.event, where(`collected.${entry.step}[${j}]`))
          if (e.id !== null) collectedIds.set(event, e.id)
          return event
        })
      )
    }
    for (const p of c.pending) {
      state.pending.push({
        eventId: p.eventId,
        requestId: p.requestId,
        prompt: decodeEvent(plan, p.prompt, where("pending")),
        ...(p.awaits === null ? {} : { awaits: p.awaits })
      })
    }
    for (const u of c.unclaimed)
      state.unclaimed.push({ id: u.id, event: decodeEvent(plan, u.event, where("unclaimed")) })
    return {
      upToOffset: stored.upToOffset,
      publishedLength: c.publishedLength,
      state,
      committed: c.committed,
      collectedIds,
      meta: {
        signature: c.signature,
        createdAt: c.createdAt ?? undefined,
        trace: c.trace === true,
        links: c.links ?? {}
      },
      ended: c.ended ?? undefined
    }
  } catch (error) {
    const detail = (error as { readonly detail?: unknown }).detail
    return `it does not decode: ${typeof detail === "string" ? detail : String(error)}`
  }
}

/**
 * Every how many journal entries a durable run writes a compaction (a setting of the engine; tests lower it).
 *
 * @internal
 */
export const compactEvery = { current: 1000 }
