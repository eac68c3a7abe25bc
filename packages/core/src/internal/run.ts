/**
 * The shell around the interpreter: it turns commands into effects (fibers for invocations, appends to the
 * published log, completion of waiters and of the run) and feeds the outcomes of those effects back as inputs.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as SynchronizedRef from "effect/SynchronizedRef"
import type { AnyEvent, EventType } from "../Event.js"
import type { RunHandle, RunOptions, Status } from "../Run.js"
import type { ChildOptions, RetryInfo, StepContext, WaitForOptions } from "../StepContext.js"
import type * as Journal from "../Journal.js"
import {
  type Compaction as JournalStoreCompaction,
  JournalStore,
  type Service as JournalStoreService
} from "../JournalStore.js"
import { RunStore, type Service as RunStoreService } from "../RunStore.js"
import type * as Snapshot from "../Snapshot.js"
import type * as Workflow from "../Workflow.js"
import {
  type EventNotAcceptedError,
  HandleRequiredError,
  InvalidEventError,
  InvalidInputError,
  InvalidSnapshotError,
  InvalidStepOutputError,
  JournalConflictError,
  RunNotFoundError,
  RunLimitError,
  JournalMismatchError,
  type PromptNotOpenError,
  RunStoreError,
  StateNotSerializableError,
  RunNotActiveError,
  StepTimeoutError,
  UnknownStepError,
  WaitTimeoutError,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  WorkflowValidationError
} from "../WorkflowError.js"
import { tagOf } from "./event.js"
import { waiterKey } from "./ids.js"
import { register } from "./registry.js"
import { definitionProblems, validate } from "./graph.js"
import * as I from "./interpreter.js"
import { Log } from "./log.js"
import { Outcome } from "./outcome.js"
import { decode as decodeSnapshot, encode as encodeSnapshot, encodeEvent, encodeState } from "./snapshot.js"
import { check as checkJournal } from "./journalCheck.js"
import { ids as journalIds, signature as signatureOf } from "./journal.js"
import {
  type EntryContext,
  type Compacted,
  compactEvery,
  compactionOf,
  decodeCompaction,
  replay as replayJournal,
  restore as restoreJournal,
  toEntry,
  withLog
} from "./journalEngine.js"
import { type Plan, planOf } from "./plan.js"
import { admit } from "./concurrency.js"
import * as child from "./child.js"
import { resolveContinue } from "./conversation.js"
import { RunHandleImpl } from "./handle.js"
import { make as makeStateRef, unsafeGet as unsafeGetState } from "./stateRef.js"
import { shouldYield, yieldToEventLoop } from "./yield.js"
import { observe, observerIn, type RunTelemetry } from "./telemetry.js"

const nativeTracer = Effect.runSync(Effect.tracer)

const describe = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

/** Checks a targeted send: the step exists and accepts the tag. @internal */
export const resolveStep = (plan: Plan, step: string, tag: string): number | UnknownStepError => {
  const index = plan.stepIndex.get(step)
  if (index === undefined) {
    return new UnknownStepError({
      workflow: plan.name,
      step,
      tag,
      known: plan.steps.map((s) => s.name),
      reason: "NoSuchStep"
    })
  }
  if (!plan.steps[index].def.accepts.includes(tag)) {
    return new UnknownStepError({
      workflow: plan.name,
      step,
      tag,
      known: (plan.routes.get(tag) ?? []).map((i) => plan.steps[i].name),
      reason: "DoesNotAccept"
    })
  }
  return index
}

/** What `handle.send` can fail with. @internal */
export type SendError =
  | UnknownStepError
  | InvalidEventError
  | RunNotActiveError
  | EventNotAcceptedError
  | PromptNotOpenError
  | RunLimitError
  | RunStoreError

/** The per-run limits on what sends from outside may add (`RunOptions.limits`), with their defaults. @internal */
export interface Limits {
  readonly maxPending: number
  readonly maxLogEvents: number
  readonly maxLogBytes: number
}

/** @internal */
export const defaultLimits: Limits = { maxPending: 1000, maxLogEvents: 100_000, maxLogBytes: 32 * 1024 * 1024 }

const limitsOf = (options: RunOptions | undefined): Limits => {
  const given = options?.limits
  if (given === undefined) return defaultLimits
  return {
    maxPending: given.maxPending ?? defaultLimits.maxPending,
    maxLogEvents: given.maxLogEvents ?? defaultLimits.maxLogEvents,
    maxLogBytes: given.maxLogBytes ?? defaultLimits.maxLogBytes
  }
}

/** The size of an event as JSON (UTF-16 code units; close enough for a limit), 0 when it does not serialize. */
const sizeOf = (event: AnyEvent): number => {
  try {
    return JSON.stringify(event)?.length ?? 0
  } catch {
    return 0
  }
}

const isOutput = (u: unknown): u is AnyEvent | ReadonlyArray<AnyEvent> | undefined => {
  if (u === undefined) return true
  if (Array.isArray(u)) return u.every(isEventLike)
  return isEventLike(u)
}

/**
 * An Effect (not an Option or Either, which are Effects too): a handler that forgot a `yield*`. Events are plain
 * objects, so the prototype test keeps this off the hot path.
 */
const returnedEffect = (u: unknown): boolean =>
  typeof u === "object" &&
  u !== null &&
  Object.getPrototypeOf(u) !== Object.prototype &&
  Effect.isEffect(u) &&
  !Option.isOption(u) &&
  !Either.isEither(u)

const isEventLike = (u: unknown): u is AnyEvent =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"

interface WaiterEntry {
  readonly deferred: Deferred.Deferred<AnyEvent, WaitTimeoutError>
  readonly timeout: Duration.Duration | undefined
}

/** A durable run's store, its checkpoint lock and the state of its append in flight (none of it in other runs). */
class Durable {
  constructor(readonly store: RunStoreService) {}
  /** The run's save and checkpoint effects (built once, run at every checkpoint). */
  saveOnce: Effect.Effect<void, RunStoreError> | undefined = undefined
  checkpointOnce: Effect.Effect<void> | undefined = undefined
  /** The checkpoint lock; who waits for it, first come first served (created on first use). */
  lockHeld = false
  lockQueue: Array<() => void> | undefined = undefined
  /** What ends the lock's hold: of a save (which reports a failure), of a checkpoint (which retries it). */
  saveHandlers: LockHandlers | undefined = undefined
  checkpointHandlers: LockHandlers | undefined = undefined
  /** The holder's `restore` (its caller's interruptibility, for a checkpoint's retries). */
  lockRestore: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined = undefined
  /** The entries of the append in flight (as sent: the log chunk included), the log's length and inputs then. */
  appending: Array<Journal.Entry> | undefined = undefined
  appendingLength = 0
  appendingUpTo = 0
  /**
   * The entries of an append that did not succeed, exactly as they were sent, and the length of the published log
   * they carry: the next append sends them again first, unchanged, so that one the store took after all is a no-op
   * (rebuilt, the carrier's log chunk would hold whatever the log gained meanwhile: a conflict on its entry id).
   */
  resend: Array<Journal.Entry> | undefined = undefined
  resendLength = 0
  /** Set while a worker applies its outcome (`proceedDurable`); `endedHere`: the run's exit, when that ended it. */
  finishHere = false
  endedHere: Exit.Exit<unknown, unknown> | undefined = undefined
}

/** A durable run on a journal: what is journaled but not appended yet, and the committed state. */
interface Journaled {
  readonly store: JournalStoreService
  /** Entries of the facts applied since the last append, in order (one append per checkpoint takes them all). */
  buffer: Array<Journal.Entry>
  /** How much of the published log the journal holds (its `Published` chunks). */
  loggedUpTo: number
  context: JournalContext
  /** The state with the updates of every finished invocation applied, in completion order (and encoded). */
  committed: unknown
  committedJson: unknown
  /** The state updates of each unfinished invocation, applied live and committed when it finishes (made on first use). */
  updates: Map<I.Invocation, Array<(s: unknown) => unknown>> | undefined
  /** The run's start could not be journaled (its state does not encode): it fails, and nothing of it is stored. */
  unstored: boolean
  /** The journal's length after the last append, and where the last compaction this process wrote stands. */
  appended: number
  compactedAt: number
  /** A compaction is being written (at most one at a time per run). */
  compacting: boolean
}

/**
 * The end of a hold of the checkpoint lock (one pair per run and kind): the outcome of the append in flight (or of
 * the save) taken in, the lock released, and a failure reported (a save) or retried (a checkpoint).
 */
interface LockHandlers {
  readonly onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<void, RunStoreError>
  readonly onSuccess: (result: unknown) => Effect.Effect<void, RunStoreError>
}

/** A cause's failures made defects (what `Effect.matchEffect` passes on for a cause with defects). */
const electFailures = (cause: Cause.Cause<unknown>): Cause.Cause<never> =>
  Cause.match(cause, {
    onEmpty: Cause.empty,
    onFail: Cause.die,
    onDie: Cause.die,
    onInterrupt: Cause.interrupt,
    onSequential: Cause.sequential,
    onParallel: Cause.parallel
  })

/** The `append` options of a run that has not ended (one object each, not one per append). */
const appendRunning = { status: "running" } as const
const appendWaiting = { status: "waiting" } as const

/** How a failed checkpoint is retried: soon at first, then every 5 seconds, until the store takes it. */
const checkpointRetry = Schedule.union(Schedule.exponential("50 millis"), Schedule.spaced("5 seconds"))

/** The journal's conflict behind a failed save, if that is what failed it (a conflict is never retried). */
const conflictOf = (error: unknown): JournalConflictError | undefined =>
  error instanceof RunStoreError && error.cause instanceof JournalConflictError ? error.cause : undefined

const notConflict = (error: unknown): boolean => conflictOf(error) === undefined

const currentFiber = (): Fiber.RuntimeFiber<unknown, unknown> | undefined =>
  Option.getOrUndefined(Fiber.getCurrentFiber())

const hasAnotherRun = (commands: ReadonlyArray<I.Command>, from: number): boolean => {
  for (let i = from + 1; i < commands.length; i++) if (commands[i]._tag === "Run") return true
  return false
}

/**
 * What turning a durable run's facts into entries reads from the run and its journal: one object per run, its
 * methods on its prototype (an object literal with getters and closures would be eight closures per run and a
 * dictionary-mode object read at every entry).
 */
class JournalContext implements EntryContext {
  readonly plan: Plan
  readonly runId: string
  readonly trace: boolean
  private readonly stateSchema: Schema.Schema<unknown, unknown, never> | undefined
  constructor(
    private readonly run: RunImpl<any>,
    private readonly journal: Journaled,
    readonly signature: string,
    readonly timeout: number | undefined
  ) {
    this.plan = run.plan
    this.runId = run.runId
    this.trace = run.state.trace
    this.stateSchema = run.plan.workflow.state as Schema.Schema<unknown, unknown, never> | undefined
  }
  parent(): string | undefined {
    return this.run.parentRunId
  }
  conversation(): { readonly id: string; readonly previous: string } | undefined {
    return this.run.conversation
  }
  get now(): number {
    return this.run.now()
  }
  startedAt(invocation: I.Invocation): number | undefined {
    return invocation.startedAt
  }
  get traceParent(): { readonly traceId: string; readonly spanId: string } | undefined {
    return this.run.traceParent
  }
  committed(): unknown {
    const journal = this.journal
    if (journal.committedJson === undefined) {
      journal.committedJson = encodeState(this.plan, this.runId, this.stateSchema, journal.committed)
    }
    return journal.committedJson
  }
  commit(invocation: I.Invocation): unknown {
    const journal = this.journal
    const log = journal.updates?.get(invocation)
    if (log !== undefined) {
      journal.updates!.delete(invocation)
      let v = journal.committed
      for (const f of log) v = f(v)
      journal.committed = v
      journal.committedJson = undefined
    }
    return this.committed()
  }
}

/** @internal */
export class RunImpl<S = unknown> {
  readonly state: I.RunState
  readonly log = new Log()
  readonly fibers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  private waiterEntries: Map<I.Waiter, WaiterEntry> | undefined = undefined
  /** The deferreds of open `ctx.waitFor`s (created on first use: most runs never wait). */
  get waiters(): Map<I.Waiter, WaiterEntry> {
    if (this.waiterEntries === undefined) this.waiterEntries = new Map()
    return this.waiterEntries
  }
  readonly ended = new Outcome<unknown, unknown>()
  readonly workflowName: string
  /** Ids under which `ctx.collect` buffered events (kept by the interpreter; for snapshots and resume). */
  get collectIds(): WeakMap<AnyEvent, string> {
    if (this.state.collectIds === undefined) this.state.collectIds = new WeakMap()
    return this.state.collectIds
  }
  /** Encoded published events, cached between snapshots (the log only grows). */
  readonly encodedPublished: Array<unknown> = []
  /** When set, `Run` commands are collected here instead of being started (durable runs checkpoint first). */
  private deferred: Array<I.Invocation> | undefined = undefined
  private durable: Durable | undefined = undefined
  createdAt: number
  private readonly spanPrefix: string
  /** The run whose step runs this one (`ctx.run` / `ctx.start`), saved in its snapshots. */
  parentRunId: string | undefined = undefined
  /** The trace context the run continues (an incoming `traceparent`), journaled in `RunStarted`. */
  traceParent: { readonly traceId: string; readonly spanId: string } | undefined = undefined
  /** The conversation this run continues (`RunOptions.continue`), saved in its snapshots. */
  conversation: { readonly id: string; readonly previous: string } | undefined = undefined
  /** Children started with `ctx.start`, per invocation, closed when it ends (see `child.ts`). */
  startedBy: Map<I.Invocation, Scope.CloseableScope> | undefined = undefined
  /** Called when this run (a child) may have become `waiting`: its parent's `settled` looks again. */
  onWaiting: (() => void) | undefined = undefined
  /** The `RunObserver`'s hooks, when one is in the run's context (telemetry). */
  telemetry: RunTelemetry | undefined = undefined

  constructor(
    readonly plan: Plan,
    readonly runId: string,
    readonly stateRef: SynchronizedRef.SynchronizedRef<S>,
    private readonly runtime: Runtime.Runtime<any>,
    trace: boolean,
    /** Spans cost ~10µs per step execution with Effect's built-in tracer, which records nothing anyone reads: they
     * are created only when a tracer has been installed (e.g. `@effect/opentelemetry`). */
    readonly spans: boolean,
    private readonly clock: Clock.Clock,
    state?: I.RunState,
    readonly limits: Limits = defaultLimits
  ) {
    this.state = state ?? I.make(plan, runId, trace)
    this.workflowName = plan.name
    this.spanPrefix = `${plan.name}.`
    this.createdAt = this.clock.unsafeCurrentTimeMillis()
  }

  /** The store of a durable run (its children are durable in it too). */
  get durableStore(): RunStoreService | undefined {
    return this.durable?.store
  }

  /** Detached from this process (a durable run whose scope closed): its children are detached too, not cancelled. */
  get isDetached(): boolean {
    return this.detached
  }

  /** Makes the run durable: it saves a snapshot to `store` after every step completion and every send. */
  makeDurable(store: RunStoreService): void {
    this.durable = new Durable(store)
  }

  /** Set when the run is durable on a journal: facts are appended (one batch per checkpoint) instead of snapshots. */
  private journal: Journaled | undefined = undefined

  get journaled(): boolean {
    return this.journal !== undefined
  }

  /**
   * Puts a durable run on a journal. `committed`: the encoded committed state (of a resumed run), `logged`: how much
   * of the published log the journal already holds.
   */
  makeJournaled(
    store: JournalStoreService,
    signature: string,
    timeout: number | undefined,
    committed?: unknown,
    logged = 0
  ): void {
    const journal: Journaled = {
      store,
      buffer: [],
      loggedUpTo: logged,
      committed: unsafeGetState(this.stateRef),
      committedJson: committed,
      updates: undefined,
      unstored: false,
      appended: 0,
      compactedAt: 0,
      compacting: false,
      context: undefined!
    }
    journal.context = new JournalContext(this, journal, signature, timeout)
    this.journal = journal
    this.state.records = []
  }

  /** Turns the facts of a transition into journal entries (a state that cannot be encoded aborts the run). */
  private journalFacts(records: Array<I.Fact>): void {
    const journal = this.journal!
    let failure: StateNotSerializableError | undefined
    for (let i = 0; i < records.length; i++) {
      try {
        journal.buffer.push(toEntry(journal.context, records[i]))
      } catch (error) {
        if (!(error instanceof StateNotSerializableError)) throw error
        if (records[i]._tag === "Started") journal.unstored = true
        failure ??= error
      }
    }
    records.length = 0
    if (failure !== undefined && this.state.status === "running") this.apply({ _tag: "Abort", error: failure })
  }

  /**
   * The state as a step sees it: in a journaled run, a view of the run's state that applies every update live (other
   * steps see it at once) and also records it for the invocation, to be committed (and journaled) when it finishes.
   */
  stateFor(invocation: I.Invocation): SynchronizedRef.SynchronizedRef<S> {
    const journal = this.journal
    if (journal === undefined) return this.stateRef
    const ref = this.stateRef
    const log = (f: (s: unknown) => unknown) => {
      journal.updates ??= new Map()
      let updates = journal.updates.get(invocation)
      if (updates === undefined) {
        updates = []
        journal.updates.set(invocation, updates)
      }
      updates.push(f)
    }
    const tracked = Object.create(ref) as any
    tracked.modify = <B>(f: (a: S) => readonly [B, S]) =>
      ref.modify((a) => {
        const result = f(a)
        if (result[1] !== a) log((s) => f(s as S)[1])
        return result
      })
    tracked.modifyEffect = <B, E, R>(f: (a: S) => Effect.Effect<readonly [B, S], E, R>) =>
      ref.modifyEffect((a) =>
        Effect.map(f(a), (result) => {
          if (result[1] !== a) {
            const next = result[1]
            log(() => next)
          }
          return result
        })
      )
    return tracked as SynchronizedRef.SynchronizedRef<S>
  }

  /** Appends what was journaled since the last append, with the new part of the published log. (Hold the lock.) */
  private appendJournal(journal: Journaled, upTo: number): Effect.Effect<unknown, unknown> {
    const batch = journal.buffer
    const entries = this.log.entries
    const length = entries.length
    const resend = this.durable!.resend
    const from = resend === undefined ? journal.loggedUpTo : this.durable!.resendLength
    if (journal.unstored || (resend === undefined && batch.length === 0 && length === from)) {
      batch.length = 0
      // Nothing to write (the usual case of a send's or a detach's save): the inputs are saved.
      if (upTo > this.savedInputs) this.savedInputs = upTo
      return Effect.void
    }
    journal.buffer = []
    // One entry per durable hop: the batch's last completion carries the new part of the published log and the
    // writes of its invocation that come right before it (otherwise a `Published` entry carries the log).
    let appended: Array<Journal.Entry> = batch
    let carrier = -1
    for (let i = batch.length - 1; i >= 0; i--) {
      if (batch[i]._tag === "InvocationCompleted") {
        carrier = i
        break
      }
    }
    if (carrier >= 0) {
      const completed = batch[carrier] as Journal.Entry & { readonly _tag: "InvocationCompleted" }
      let first = carrier
      while (first > 0) {
        const previous = batch[first - 1]
        if (previous._tag !== "Written" || previous.step !== completed.step || previous.eventId !== completed.eventId)
          break
        first--
      }
      let log: { readonly from: number; readonly events: Array<unknown> } | undefined
      if (length > from) {
        for (let i = this.encodedPublished.length; i < length; i++) {
          this.encodedPublished.push(encodeEvent(this.plan, entries[i]))
        }
        log = { from, events: this.encodedPublished.slice(from, length) }
      }
      if (first < carrier || log !== undefined) {
        const writes: Array<{ readonly index: number; readonly event: unknown }> = []
        for (let i = first; i < carrier; i++) {
          const w = batch[i] as Journal.Entry & { readonly _tag: "Written" }
          writes.push({ event: w.prompt ?? { _tag: "Written" }, index: w.index })
        }
        const carried = withLog(completed, log, writes)
        if (first === 0 && carrier === batch.length - 1) appended = [carried]
        else appended = [...batch.slice(0, first), carried, ...batch.slice(carrier + 1)]
      }
    } else if (length > from) {
      for (let i = this.encodedPublished.length; i < length; i++) {
        this.encodedPublished.push(encodeEvent(this.plan, entries[i]))
      }
      appended = batch.slice()
      appended.push({
        _tag: "Published",
        at: journal.context.now,
        events: this.encodedPublished.slice(from, length),
        from,
        id: journalIds.published(from)
      })
    }
    if (resend !== undefined) {
      this.durable!.resend = undefined
      appended = appended.length === 0 ? resend : [...resend, ...appended]
    }
    const options =
      this.state.status !== "running" ? undefined : I.isWaiting(this.state) ? appendWaiting : appendRunning
    // One append in flight per run (the lock): what its outcome needs is kept here, and the lock's handlers take its
    // outcome in (`appended`, `appendFailure`), with no step of its own.
    this.durable!.appending = appended
    this.durable!.appendingLength = length
    this.durable!.appendingUpTo = upTo
    return journal.store.append(this.runId, appended, options)
  }

  private appended(stored: ReadonlyArray<Journal.Stored>): void {
    const journal = this.journal!
    const upTo = this.durable!.appendingUpTo
    const length = this.durable!.appendingLength
    this.durable!.appending = undefined
    if (upTo > this.savedInputs) this.savedInputs = upTo
    if (length > journal.loggedUpTo) journal.loggedUpTo = length
    const last = stored[stored.length - 1]
    if (last !== undefined && last.offset + 1 > journal.appended) journal.appended = last.offset + 1
    if (
      journal.appended - journal.compactedAt >= compactEvery.current &&
      !journal.compacting &&
      this.state.status === "running"
    ) {
      this.compactJournal(journal)
    }
  }

  /**
   * What a failed append fails the save with (as `Effect.matchEffect` would pass it on): a store's error as the run's
   * `RunStoreError`; a cause with defects with its failures made defects; an interruption as it is.
   */
  private appendFailure(cause: Cause.Cause<unknown>): Cause.Cause<unknown> {
    if (Cause.isDie(cause)) return electFailures(cause)
    const failure = Cause.failureOption(cause)
    return failure._tag === "Some"
      ? Cause.fail(new RunStoreError({ operation: "save", runId: this.runId, cause: failure.value }))
      : cause
  }

  /**
   * Keeps the entries of an append that did not succeed (it failed, or it was interrupted: a cancel, a caller gone)
   * for the next append, which sends them first exactly as they were sent (their log chunk included): one the store
   * took after all is then a no-op on its entry ids, whatever the run did meanwhile.
   */
  private keepAppending(): void {
    const sent = this.durable?.appending
    if (sent === undefined) return
    this.durable!.appending = undefined
    this.durable!.resend = sent
    this.durable!.resendLength = this.durable!.appendingLength
  }

  /**
   * Writes a compaction off the hot path: a forked fiber replays the journal from its last compaction (what the store
   * loads) and stores the run it replays to as standing for every entry read. Idempotent (the store ignores a stale
   * one); a failure only means the next resume replays more, so it is logged and dropped.
   */
  private compactJournal(journal: Journaled): void {
    journal.compacting = true
    const { plan, runId } = this
    const signature = journal.context.signature
    const store = journal.store
    const write = Effect.gen(function* () {
      const loaded = yield* store.load(runId)
      if (Option.isNone(loaded)) return
      const previous = Option.getOrUndefined(loaded.value.compaction)
      let from: Compacted | undefined
      if (previous !== undefined) {
        const decoded = decodeCompaction(plan, runId, signature, previous)
        if (typeof decoded !== "string") from = decoded
      }
      const entries = previous !== undefined && from === undefined ? yield* store.read(runId, 0) : loaded.value.tail
      const made = compactionOf(plan, runId, entries, from)
      if (!("snapshot" in made)) {
        return yield* Effect.logWarning(`run ${runId}: no compaction written, its journal does not replay`, made)
      }
      if (made.upToOffset <= (previous?.upToOffset ?? 0)) return
      yield* store.compact(runId, made.snapshot, made.upToOffset)
      journal.compactedAt = Math.max(journal.compactedAt, made.upToOffset)
    })
    this.runFork(
      write.pipe(
        Effect.catchAllCause((cause) => Effect.logDebug(`run ${runId}: compaction not written`, cause)),
        Effect.ensuring(
          Effect.sync(() => {
            journal.compacting = false
            // Nothing written (a failure): wait another K entries before trying again.
            if (journal.compactedAt < journal.appended - compactEvery.current) journal.compactedAt = journal.appended
          })
        )
      )
    )
  }

  /** Applies an input; in a durable run the invocations it starts wait for the checkpoint. */
  applyAndCheckpoint(input: I.Input, inline: boolean): Effect.Effect<I.Invocation | undefined> {
    if (this.durable === undefined) return Effect.succeed(this.apply(input, inline))
    const runs: Array<I.Invocation> = []
    this.deferred = runs
    try {
      this.apply(input)
    } finally {
      this.deferred = undefined
    }
    // A failed checkpoint aborts the run: then nothing it would have started may start.
    return Effect.map(this.checkpoint, () =>
      this.state.status === "running" && !this.detached ? this.launch(runs, inline) : undefined
    )
  }

  /**
   * A worker's hop in a durable run: the outcome applied, its checkpoint, then the worker goes on with the invocation
   * it started (or forks them). `applyAndCheckpoint` and `next` in one step.
   */
  private proceedDurable(input: I.Input): Effect.Effect<void> {
    const runs: Array<I.Invocation> = []
    this.deferred = runs
    this.durable!.finishHere = true
    try {
      this.apply(input)
    } finally {
      this.deferred = undefined
      this.durable!.finishHere = false
    }
    const ending = this.durable!.endedHere
    if (ending !== undefined) {
      this.durable!.endedHere = undefined
      return this.finishOnWorker(ending)
    }
    return Effect.flatMap(this.checkpoint, () => {
      if (this.state.status !== "running" || this.detached || runs.length === 0) return Effect.void
      const next = this.launch(runs, true)
      return next === undefined ? Effect.void : this.next(next)
    })
  }

  /** Starts invocations: the single one inline for the calling worker, several each on its own fiber, in order. */
  launch(runs: ReadonlyArray<I.Invocation>, inline: boolean): I.Invocation | undefined {
    if (inline && runs.length === 1) return runs[0]
    for (const inv of runs) this.fork(inv)
    return undefined
  }

  /** Saves a snapshot once (serialized per run, so a newer snapshot is never overwritten by an older one). */
  get save(): Effect.Effect<void, RunStoreError> {
    const durable = this.durable
    if (durable === undefined) return Effect.void
    // One description per run, run at every checkpoint.
    this.durable!.saveOnce ??= this.locked(() => this.saveNow(durable.store), this.saveHandlers(durable))
    return this.durable!.saveOnce
  }

  /**
   * Saves once, noting which inputs from outside the saved snapshot holds. (Call it holding the lock, whose handlers
   * take in the outcome of a journal's append: the effect is the store's `append` as it is.)
   */
  private saveNow(store: RunStoreService): Effect.Effect<unknown, unknown> {
    const upTo = this.inputs
    if (this.journal !== undefined) return this.appendJournal(this.journal, upTo)
    return Effect.tap(this.saveTo(store), () => {
      if (upTo > this.savedInputs) this.savedInputs = upTo
    })
  }

  /**
   * The run's checkpoint lock: one save (append) at a time, in the order they took it. Taken at once when free (no
   * fiber waits, no Effect semaphore); a fiber that finds it held waits its turn, uninterruptibly (for at most the
   * save in flight, which itself stays interruptible), and is handed the lock by the save before it. `body` runs
   * holding it and is released however it ends (success, failure, defect, interruption).
   */
  private locked(
    body: () => Effect.Effect<unknown, unknown>,
    handlers: LockHandlers
  ): Effect.Effect<void, RunStoreError> {
    return Effect.uninterruptibleMask((restore) => {
      if (!this.durable!.lockHeld) {
        this.durable!.lockHeld = true
        return this.holding(restore, body, handlers)
      }
      const queue = this.durable!.lockQueue ?? []
      this.durable!.lockQueue = queue
      return Effect.flatMap(
        Effect.async<void>((resume) => {
          queue.push(() => resume(Effect.void))
        }),
        () => this.holding(restore, body, handlers)
      )
    })
  }

  private holding(
    restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>,
    body: () => Effect.Effect<unknown, unknown>,
    handlers: LockHandlers
  ): Effect.Effect<void, RunStoreError> {
    let effect: Effect.Effect<unknown, unknown>
    try {
      effect = body()
    } catch (defect) {
      this.unlock()
      throw defect
    }
    this.durable!.lockRestore = restore
    return Effect.matchCauseEffect(restore(effect), handlers)
  }

  /**
   * The handlers of a save's hold of the lock: an append's outcome taken in (its stored entries, or its batch put
   * back in front of the buffer when it failed or was interrupted), the lock released, a failure passed on (a store's
   * error as the run's `RunStoreError`).
   */
  private saveHandlers(durable: Durable): LockHandlers {
    durable.saveHandlers ??= {
      onFailure: (cause) => Effect.failCause(this.released(cause) as Cause.Cause<RunStoreError>),
      onSuccess: (result) => {
        if (durable.appending !== undefined) this.appended(result as ReadonlyArray<Journal.Stored>)
        this.unlock()
        return Effect.void
      }
    }
    return durable.saveHandlers
  }

  /** The lock released after a save that did not succeed; the cause it fails with. */
  private released(cause: Cause.Cause<unknown>): Cause.Cause<unknown> {
    const appending = this.durable!.appending !== undefined
    this.keepAppending()
    this.unlock()
    return appending ? this.appendFailure(cause) : cause
  }

  /** Hands the lock to the first fiber waiting for it, or frees it. */
  private unlock(): void {
    const next = this.durable!.lockQueue?.shift()
    if (next !== undefined) next()
    else this.durable!.lockHeld = false
  }

  /**
   * Inputs from outside applied, and how many of them the last saved snapshot holds. While one is not saved (its
   * save is in flight, or failed and is retried in the background), sends are not judged against that unsaved
   * state: a retried answer must not be told "already answered" (409) while the answer it retries is not persisted.
   */
  private inputs = 0
  private savedInputs = 0

  /** Saves the inputs from outside that are not saved yet (once; none when the last save holds them all). */
  private get saveUnsaved(): Effect.Effect<void, RunStoreError> {
    const durable = this.durable
    if (durable === undefined) return Effect.void
    return this.locked(
      () => (this.inputs > this.savedInputs ? this.saveNow(durable.store) : Effect.void),
      this.saveHandlers(durable)
    )
  }

  /**
   * Saves a snapshot; a failed save is retried with backoff until the store takes it (a full disk, a read-only
   * file): the run makes no progress it could not persist (what the input started waits), and goes on by itself
   * once writes work again.
   */
  get checkpoint(): Effect.Effect<void> {
    if (this.durable === undefined) return Effect.void
    if (this.durable!.checkpointOnce !== undefined) return this.durable!.checkpointOnce
    const durable = this.durable
    const save = this.save
    const saved = this.saveHandlers(durable)
    // A save whose failure is retried in the lock's own handler (as `Effect.catchAll` around it would, one step less):
    // in the caller's interruptibility, after the lock is released; defects and interruptions passed on.
    durable.checkpointHandlers = {
      onSuccess: saved.onSuccess,
      onFailure: (cause) => {
        const restore = durable.lockRestore!
        const failed = this.released(cause)
        if (Cause.isDie(failed)) return Effect.failCause(electFailures(failed))
        const failure = Cause.failureOption(failed)
        if (failure._tag === "None" || Cause.isInterrupted(failed))
          return Effect.failCause(failed as Cause.Cause<never>)
        const conflict = conflictOf(failure.value)
        if (conflict !== undefined) return restore(this.stopConflicted(conflict))
        return restore(
          Effect.logWarning(
            `run ${this.runId}: checkpoint not saved, retrying until the store takes it`,
            failure.value
          ).pipe(
            Effect.zipRight(Effect.retry(save, { schedule: checkpointRetry, while: notConflict })),
            Effect.catchAll((error) => this.stopConflicted(conflictOf(error)!))
          )
        )
      }
    }
    // Its handlers retry every failure until the save succeeds, but a conflict, which stops the run here (or die):
    // it does not fail.
    const checkpoint = this.locked(() => this.saveNow(durable.store), durable.checkpointHandlers) as Effect.Effect<void>
    durable.checkpointOnce = checkpoint
    return checkpoint
  }

  /** Saves a snapshot; a state that cannot be snapshotted fails the run with `StateNotSerializableError`. */
  private saveTo(store: RunStoreService): Effect.Effect<void, RunStoreError> {
    let snapshot: Snapshot.Snapshot
    try {
      snapshot = this.snapshot()
    } catch (error) {
      if (!(error instanceof StateNotSerializableError)) throw error
      return Effect.sync(() => {
        if (this.state.status === "running") this.apply({ _tag: "Abort", error })
      })
    }
    return store.save(snapshot)
  }

  /**
   * Applies an input from outside the run (start, send) and saves it once: the caller must not be told the input
   * was taken when the save failed, so it fails with the store's error. The run keeps the input and goes on saving
   * it in the background, retrying until the store takes it; what the input started starts then.
   */
  applyAndSave(input: I.Input, gate?: Effect.Effect<void>): Effect.Effect<void, RunStoreError> {
    if (this.durable === undefined) return Effect.sync(() => void this.apply(input))
    const runs: Array<I.Invocation> = []
    this.deferred = runs
    try {
      this.apply(input)
    } finally {
      this.deferred = undefined
    }
    this.inputs++
    const now = Effect.sync(() => {
      if (this.state.status === "running" && !this.detached) this.launch(runs, false)
    })
    // With a gate (a queued run's slot), what the input started starts once the gate opens, on the run's own fiber.
    const launch = gate === undefined ? now : Effect.sync(() => void this.spawn(Effect.zipRight(gate, now)))
    const inBackground = Effect.sync(() => void this.spawn(Effect.zipRight(this.checkpoint, launch)))
    return Effect.matchEffect(this.save, {
      onSuccess: () => launch,
      onFailure: (error) => Effect.zipRight(inBackground, Effect.fail(error))
    }).pipe(
      // The caller went away while the input was being saved (an HTTP client disconnecting): the input is applied,
      // so the run saves it and starts what it started on its own, as after a failed save.
      Effect.onInterrupt(() => inBackground)
    )
  }

  /** Drops a run whose start was not saved: nothing of it runs, and nothing of it is saved. */
  get discard(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.detached = true
      return Effect.zipRight(
        Fiber.interruptAll(Array.from(this.fibers)),
        Effect.sync(() => {
          this.log.close()
          this.ended.done(Exit.interrupt(FiberId.none))
        })
      )
    })
  }

  snapshot(): Snapshot.Snapshot {
    const snapshot = this.encodeSnapshot()
    if (this.parentRunId === undefined && this.conversation === undefined) return snapshot
    return { ...snapshot, parent: this.parentRunId, conversation: this.conversation }
  }

  private encodeSnapshot(): Snapshot.Snapshot {
    const exit = this.ended.exit ?? this.ending
    return encodeSnapshot({
      state: this.state,
      published: this.log.entries,
      encodedPublished: this.encodedPublished,
      value: unsafeGetState(this.stateRef),
      collectedId: (event) => this.collectIds.get(event) ?? "",
      status: this.status(),
      createdAt: this.createdAt,
      now: this.clock.unsafeCurrentTimeMillis(),
      result:
        this.state.status === "completed"
          ? { _tag: "Success", value: this.completedWith }
          : exit !== undefined && Exit.isFailure(exit)
            ? { _tag: "Failure", error: Cause.squash(exit.cause) }
            : undefined
    })
  }

  private completedWith: unknown = undefined

  /** The run's exit while its final checkpoint is being saved (before `ended` is done). */
  private ending: Exit.Exit<unknown, unknown> | undefined = undefined

  /** Marks a run restored from a completed snapshot as completed with its result. */
  complete(result: unknown): void {
    this.state.status = "completed"
    this.completedWith = result
    this.ended.done(Exit.succeed(result))
  }

  /**
   * Applies an input and carries out its commands. With `inline`, the first invocation to start is returned
   * for the calling worker fiber to run next instead of forking a fiber for it.
   */
  apply(input: I.Input, inline = false): I.Invocation | undefined {
    if (this.detached) return undefined
    const commands = I.transition(this.state, input)
    const records = this.state.records
    if (records !== undefined && records.length > 0) this.journalFacts(records)
    let next: I.Invocation | undefined
    for (let i = 0; i < commands.length; i++) {
      const command = commands[i]
      switch (command._tag) {
        case "Run": {
          if (this.telemetry !== undefined) this.telemetry.begun(command.invocation)
          if (this.deferred !== undefined) {
            this.deferred.push(command.invocation)
            break
          }
          // A worker goes on with the one invocation its outcome started (chains and loops never fork); when
          // several start, each gets its own fiber, forked in dispatch order, so they begin in that order.
          if (inline && next === undefined && !hasAnotherRun(commands, i)) next = command.invocation
          else this.fork(command.invocation)
          break
        }
        case "Publish": {
          this.log.append(command.event)
          break
        }
        case "Resume": {
          const { outcome, waiter } = command.resume
          const entry = this.waiters.get(waiter)
          if (entry !== undefined) {
            Deferred.unsafeDone(
              entry.deferred,
              outcome._tag === "Event"
                ? Exit.succeed(outcome.event)
                : Exit.fail(
                    new WaitTimeoutError({
                      step: this.plan.steps[waiter.invocation.step].name,
                      tag: waiter.tag,
                      timeout: entry.timeout ?? Duration.zero
                    })
                  )
            )
          }
          break
        }
        case "End": {
          this.finish(command.ending)
          break
        }
      }
    }
    if (this.settleListeners !== undefined && this.settleListeners.length > 0 && I.isWaiting(this.state)) {
      const listeners = this.settleListeners
      this.settleListeners = []
      for (const listener of listeners) listener()
    }
    if (this.onWaiting !== undefined && this.status() === "waiting") this.onWaiting()
    // `idle`: the interpreter saw the run become quiet but wakeable (cheap to test on every input).
    if (this.withoutHandle && this.state.idle && I.isWaiting(this.state)) this.failWithoutHandle()
    if (this.telemetry !== undefined) this.telemetry.applied()
    return next
  }

  /** Set by `Workflow.run`: nobody holds a handle, so nothing can be sent into this run. */
  withoutHandle = false

  /**
   * A `Workflow.run` run that waits for input could only wait forever: it fails at once with `HandleRequiredError`,
   * unless an open `ctx.waitFor` has a `timeout` (its expiry wakes the run).
   */
  private failWithoutHandle(): void {
    const waitingFor: Array<string> = []
    for (const waiter of this.state.waiters) {
      if (this.waiters.get(waiter)?.timeout !== undefined) return
      waitingFor.push(`step "${this.plan.steps[waiter.invocation.step].name}" waits in ctx.waitFor for ${waiter.tag}`)
    }
    for (const p of this.state.pending) {
      if (!this.state.waiters.some((w) => w.key === p.eventId)) {
        waitingFor.push(`the ${p.prompt._tag} ${p.eventId} waits for an answer`)
      }
    }
    if (waitingFor.length === 0) {
      const external = [...this.plan.externalTags].filter((tag) => this.plan.routes.has(tag))
      waitingFor.push(`steps accept ${external.join(", ")} events, which can only be sent from outside`)
    }
    this.apply({
      _tag: "Abort",
      error: new HandleRequiredError({ workflow: this.workflowName, runId: this.runId, waitingFor })
    })
  }

  /** Who waits in `settled` for the run to wait for input (created on first use). */
  private settleListeners: Array<() => void> | undefined = undefined

  /** A child of this run may wait for input now: `settled` (and this run's own parent) look again. */
  wakeSettled(): void {
    if (this.status() !== "waiting") return
    if (this.settleListeners !== undefined && this.settleListeners.length > 0) {
      const listeners = this.settleListeners
      this.settleListeners = []
      for (const listener of listeners) listener()
    }
    this.onWaiting?.()
  }

  /** Waits until the run has ended (its `result` is ready) or waits for input; succeeds with the status then. */
  get settled(): Effect.Effect<Status> {
    return Effect.suspend(() => {
      if (this.ended.exit !== undefined || this.status() === "waiting") return Effect.succeed(this.status())
      return Effect.async<Status>((resume) => {
        const listeners = this.settleListeners ?? []
        this.settleListeners = listeners
        let unsubscribe = () => {}
        const stop = () => {
          unsubscribe()
          const index = listeners.indexOf(listener)
          if (index >= 0) listeners.splice(index, 1)
        }
        let resumed = false
        const listener = () => {
          if (resumed) return
          resumed = true
          stop()
          resume(Effect.sync(() => this.status()))
        }
        listeners.push(listener)
        unsubscribe = this.ended.listen(listener)
        return Effect.sync(stop)
      })
    })
  }

  runFork<A, E>(effect: Effect.Effect<A, E, any>): Fiber.RuntimeFiber<A, E> {
    return Runtime.runFork(this.runtime, effect)
  }

  fork(invocation: I.Invocation): void {
    this.spawn(this.work(invocation))
  }

  /**
   * Forks one of the run's own fibers (a step's worker, a timer, what a saved input starts): the one place they are
   * born. They are tracked in `fibers`, interrupted when the run ends, is cancelled or detached, and leave the set
   * when done. (Forked with `runFork` and untracked, on purpose: the final checkpoint, the compaction writer and
   * the interrupter of the others, which must outlive `interruptAll(fibers)`.)
   */
  spawn(effect: Effect.Effect<unknown, unknown, any>): void {
    this.track(this.runFork(effect))
  }

  track(fiber: Fiber.RuntimeFiber<any, any>): void {
    this.fibers.add(fiber)
    fiber.addObserver(() => this.fibers.delete(fiber))
  }

  /**
   * A worker fiber: runs an invocation, feeds back its outcome, and goes on with the next one it is given. Between
   * two invocations it lets the event loop run when this macrotask has been busy for a while (see `yield.ts`).
   */
  work(invocation: I.Invocation): Effect.Effect<void> {
    return Effect.flatMap(Effect.exit(this.execute(invocation)), (exit) => {
      const input = this.outcome(invocation, exit)
      // Children the execution started with `ctx.start` end with it, before its outcome is applied.
      const ending = this.startedBy === undefined ? undefined : child.endStarted(this, invocation)
      if (ending !== undefined)
        return Effect.zipRight(
          ending,
          Effect.suspend(() => this.continueWith(invocation, input))
        )
      return this.continueWith(invocation, input)
    })
  }

  private continueWith(invocation: I.Invocation, input: I.Input): Effect.Effect<void> {
    if (invocation.unran > 0 && input._tag === "Completed") {
      return Effect.zipRight(
        this.warnUnran(invocation),
        Effect.suspend(() => this.proceed(input))
      )
    }
    return this.proceed(input)
  }

  /**
   * A `ctx.send(...)`/`ctx.write(...)` whose Effect was created but never run did nothing: almost always a
   * forgotten `yield*`. Logged (not failed): an Effect built and then skipped on purpose (`Effect.when`) is legal.
   */
  private warnUnran(invocation: I.Invocation): Effect.Effect<void> {
    const n = invocation.unran
    invocation.unran = 0
    return Effect.logWarning(
      `Step "${this.plan.steps[invocation.step].name}" of workflow "${this.workflowName}" created ${n} ` +
        `ctx.send/ctx.write Effect${n === 1 ? "" : "s"} that never ran, so nothing was sent or written: did you ` +
        "forget `yield*`? (The @effect/language-service `floatingEffect` diagnostic catches this at compile time.)"
    )
  }

  /** Feeds an outcome back and goes on with the invocation it starts for this worker, if any. */
  private proceed(input: I.Input): Effect.Effect<void> {
    if (this.durable === undefined) {
      const next = this.apply(input, true)
      return next === undefined ? Effect.void : this.next(next)
    }
    return this.proceedDurable(input)
  }

  /** Hops of this run's workers since the run last yielded to the event loop. */
  private hops = 0

  private next(invocation: I.Invocation): Effect.Effect<void> {
    if (!shouldYield(++this.hops)) return this.work(invocation)
    this.hops = 0
    return Effect.zipRight(yieldToEventLoop, this.work(invocation))
  }

  execute(invocation: I.Invocation): Effect.Effect<unknown, unknown> {
    const step = this.plan.steps[invocation.step]
    const def = step.def
    const ctx = new StepCtx(this, invocation, step.name)
    let effect: Effect.Effect<unknown, unknown> = Effect.suspend(() => {
      this.apply({ _tag: "Attempt", invocation })
      if (this.journal !== undefined) invocation.startedAt = this.clock.unsafeCurrentTimeMillis()
      invocation.unran = 0
      ctx.attempt = invocation.attempts
      // For `ctx.retry.elapsed` (only a step with a `retry` schedule is ever executed again).
      if (def.retry !== undefined && ctx.startedAt === undefined) ctx.startedAt = this.clock.unsafeCurrentTimeMillis()
      return def.handler(invocation.event, ctx) as Effect.Effect<unknown, unknown>
    })
    if (def.timeout !== undefined) {
      const timeout = def.timeout
      effect = Effect.timeoutFail(effect, {
        duration: timeout,
        onTimeout: () =>
          new StepTimeoutError({ step: step.name, eventId: invocation.eventId, attempt: invocation.attempts, timeout })
      })
    }
    if (this.telemetry !== undefined) effect = this.telemetry.attempt(invocation, step.name, effect)
    if (def.retry !== undefined) {
      effect = Effect.retry(
        Effect.tapError(effect, (error) =>
          Effect.sync(() => {
            ctx.lastError = error
            this.apply({ _tag: "AttemptFailed", invocation, error })
          })
        ),
        def.retry
      )
    }
    if (!this.spans || this.telemetry !== undefined) return effect
    return Effect.withSpan(effect, this.spanPrefix + step.name, {
      attributes: { "eventflow.run_id": this.runId, "eventflow.event_id": invocation.eventId },
      captureStackTrace: false
    })
  }

  /** The input that reports an execution's outcome to the interpreter. */
  outcome(invocation: I.Invocation, exit: Exit.Exit<unknown, unknown>): I.Input {
    if (Exit.isSuccess(exit)) {
      const output = exit.value
      if (!isOutput(output) || returnedEffect(output)) {
        const error = new InvalidStepOutputError({
          workflow: this.workflowName,
          step: this.plan.steps[invocation.step].name,
          detail: returnedEffect(output)
            ? "returned an Effect: did you forget `yield*`? (`return yield* effect`, or `Effect.flatMap` instead " +
              "of `Effect.map`)"
            : `returned ${describe(output)}, which is not an event, an array of events or undefined.`
        })
        return { _tag: "Failed", invocation, error, defect: true }
      }
      return { _tag: "Completed", invocation, output }
    }
    const cause = exit.cause
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && !Cause.isDie(cause)) {
      if (this.plan.steps[invocation.step].def.retry === undefined) {
        this.apply({ _tag: "AttemptFailed", invocation, error: failure.value })
      }
      return { _tag: "Failed", invocation, error: failure.value, defect: false }
    }
    return {
      _tag: "Failed",
      invocation,
      error: Cause.squash(cause),
      defect: true,
      interrupted: Cause.isInterruptedOnly(cause)
    }
  }

  private finish(ending: I.Ending): void {
    const exit = this.exitOf(ending)
    if (ending._tag === "Completed") this.completedWith = ending.result
    if (this.durable !== undefined) {
      // The final checkpoint is taken before the result is delivered: it records the run's error from here.
      this.ending = exit
      if (this.durable!.finishHere) {
        // A worker's outcome ended the run: that worker takes the final checkpoint (no fiber of its own for it).
        this.durable!.endedHere = exit
        return
      }
      const others = Array.from(this.fibers)
      // Kept, so that closing the run's scope while the final checkpoint waits for the store interrupts it
      // (the store keeps the run's last saved checkpoint, to resume from).
      this.finishing = this.runFork(
        Effect.zipRight(
          Effect.zipRight(this.checkpoint, Fiber.interruptAll(others.filter((f) => f !== currentFiber()))),
          Effect.sync(() => this.ended.done(exit))
        ).pipe(Effect.onInterrupt(() => Effect.sync(() => this.ended.done(Exit.interrupt(FiberId.none)))))
      )
      return
    }
    // The fiber that ends the run (if it is one of ours) returns right after this; the others are interrupted
    // before the result is delivered, so a caller never sees a step of a finished run still running.
    const current = Fiber.getCurrentFiber()
    const others: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    for (const fiber of this.fibers) {
      if (current._tag === "None" || fiber !== current.value) others.push(fiber)
    }
    if (others.length === 0) this.ended.done(exit)
    else
      this.runFork(
        Effect.zipRight(
          Fiber.interruptAll(others),
          Effect.sync(() => this.ended.done(exit))
        )
      )
  }

  /** The fiber that saves a durable run's final checkpoint, then delivers its result. */
  private finishing: Fiber.RuntimeFiber<void> | undefined = undefined

  /**
   * The end of a durable run whose last outcome a worker applied, on that worker: the final checkpoint, then the
   * run's other fibers are interrupted and the result is delivered (what the `finishing` fiber does otherwise).
   * Interrupted (the run's scope closed while the store is slow), the result is an interruption, as there.
   */
  private finishOnWorker(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    const current = currentFiber()
    const others: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    for (const fiber of this.fibers) if (fiber !== current) others.push(fiber)
    const deliver = Effect.sync(() => this.ended.done(exit))
    return Effect.zipRight(
      this.checkpoint,
      others.length === 0 ? deliver : Effect.zipRight(Fiber.interruptAll(others), deliver)
    ).pipe(Effect.onInterrupt(() => Effect.sync(() => this.ended.done(Exit.interrupt(FiberId.none)))))
  }

  private exitOf(ending: I.Ending): Exit.Exit<unknown, unknown> {
    switch (ending._tag) {
      case "Completed":
        return Exit.succeed(ending.result)
      case "Failed":
        return ending.defect ? Exit.die(ending.error) : Exit.fail(ending.error)
      case "Cancelled":
        return Exit.fail(new WorkflowCancelledError({ workflow: this.workflowName, runId: this.runId }))
      case "TimedOut":
        return Exit.fail(
          new WorkflowTimeoutError({
            workflow: this.workflowName,
            runId: this.runId,
            timeout: ending.timeout,
            activeSteps: ending.activeSteps
          })
        )
      case "Stalled":
        return Exit.fail(ending.error)
      case "Aborted":
        return Exit.fail(ending.error)
    }
  }

  /** Names and counts of the invocations executing now (retries included, waiting ones not). */
  /** A durable run saved at once but waiting for a slot of its workflow's `concurrency`: none of its steps runs yet. */
  queued = false

  runningSteps(): Record<string, number> {
    const counts: Record<string, number> = {}
    if (this.queued) return counts
    for (const inv of this.state.active) {
      if (inv.suspended) continue
      const name = this.plan.steps[inv.step].name
      counts[name] = (counts[name] ?? 0) + 1
    }
    return counts
  }

  /** The run's clock (a `TestClock` in tests). */
  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  status(): Status {
    const status = this.state.status
    if (status !== "running") return status
    return I.isWaiting(this.state) || child.waitingOnChildren(this) ? "waiting" : "running"
  }

  /** Cancels a still running run and waits until every fiber of it has stopped. */
  get shutdown(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.ended.exit !== undefined && this.fibers.size === 0) return Effect.void
      if (this.state.status === "running") {
        if (this.durable !== undefined) return this.detach
        this.apply({ _tag: "Cancel" })
      }
      const fibers = Array.from(this.fibers)
      if (this.finishing !== undefined) fibers.push(this.finishing)
      return Effect.zipRight(Fiber.interruptAll(fibers), Effect.exit(this.ended.await))
    })
  }

  /** Cancels the run (durable or not): `WorkflowCancelled`, `WorkflowCancelledError`, a final checkpoint. */
  get cancel(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.state.status === "running" && !this.detached) this.apply({ _tag: "Cancel" })
      return Effect.asVoid(Effect.zipRight(Fiber.interruptAll(Array.from(this.fibers)), Effect.exit(this.ended.await)))
    })
  }

  /**
   * Stops this process's part of a durable run without ending the run: a last checkpoint, then its fibers are
   * interrupted. The run stays `running`/`waiting` in the store, for `Workflow.resume` (e.g. after a restart);
   * here its `events()` streams end and `result` is interrupted.
   */
  private get detach(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.detached) return Effect.exit(this.ended.await)
      return Effect.zipRight(
        // One attempt: a store that fails must not hold up the shutdown (the store keeps the last saved checkpoint).
        Effect.catchAll(this.save, (error) =>
          Effect.logWarning(`run ${this.runId}: the last checkpoint before detaching was not saved`, error)
        ),
        Effect.suspend(() => {
          this.detached = true
          return Effect.zipRight(
            // The children its steps started with `ctx.start` are detached (not cancelled) before this returns.
            Effect.zipRight(Fiber.interruptAll(Array.from(this.fibers)), child.endAllStarted(this)),
            Effect.sync(() => {
              this.log.close()
              this.ended.done(Exit.interrupt(FiberId.none))
            })
          )
        })
      )
    }).pipe(Effect.asVoid)
  }

  private detached = false

  /** The context the run was started or resumed in (its steps' context). */
  get runContext(): Context.Context<never> {
    return this.runtime.context
  }

  /**
   * Stops this process's part of a run whose journal refused an append as a conflict (`JournalConflictError`: an
   * entry id it appends is in the journal with other content, so another writer drives the run, or the journal was
   * edited). Retrying can never succeed and the run must not go on from a state the journal does not hold: nothing
   * more is written, its fibers are interrupted, its children detached, its `events()` streams end and its `result`
   * dies with the conflict (the store keeps the journal as it is). The calling fiber ends interrupted.
   */
  private stopConflicted(conflict: JournalConflictError): Effect.Effect<never> {
    return Effect.suspend(() => {
      if (this.detached) return Effect.interrupt
      this.detached = true
      const current = currentFiber()
      const others = Array.from(this.fibers).filter((fiber) => fiber !== current)
      if (this.finishing !== undefined && this.finishing !== current) others.push(this.finishing)
      return Effect.logError(
        `run ${this.runId}: its journal holds another entry under an id this process appends; another writer ` +
          "drives this run, or its journal was edited. Stopped here without writing anything more.",
        conflict
      ).pipe(
        Effect.zipRight(Fiber.interruptAll(others)),
        Effect.zipRight(child.endAllStarted(this)),
        Effect.zipRight(
          Effect.sync(() => {
            this.log.close()
            this.ended.done(Exit.die(conflict))
          })
        ),
        Effect.zipRight(Effect.interrupt)
      )
    })
  }

  send(event: unknown, options?: { readonly step?: string | undefined }): Effect.Effect<void, SendError> {
    // An answer to a child's prompt (`<childRunId>:<requestId>`) goes to that child.
    const routed = child.routeToChild(this, event, options)
    if (routed !== undefined) return routed
    // While an input from outside is not saved, this send first saves it (503 to the caller when that fails).
    return Effect.suspend(() =>
      this.inputs > this.savedInputs
        ? Effect.zipRight(this.saveUnsaved, this.admitAndApply(event, options))
        : this.admitAndApply(event, options)
    )
  }

  private admitAndApply(
    event: unknown,
    options: { readonly step?: string | undefined } | undefined
  ): Effect.Effect<void, SendError> {
    return Effect.suspend((): Effect.Effect<void, SendError> => {
      if (this.state.status !== "running") {
        return Effect.fail(new RunNotActiveError({ runId: this.runId, status: this.state.status }))
      }
      // Detached (its scope closed, or stopped on a journal conflict), the run takes nothing more in this process: an
      // event taken here would be acknowledged and never journaled.
      if (this.detached) return Effect.fail(new RunNotActiveError({ runId: this.runId, status: "detached" }))
      const decoded = decodeEvent(this.plan, event)
      if (decoded instanceof InvalidEventError) return Effect.fail(decoded)
      let step: number | undefined
      if (options?.step !== undefined) {
        const resolved = resolveStep(this.plan, options.step, decoded._tag)
        if (typeof resolved !== "number") return Effect.fail(resolved)
        step = resolved
      }
      // Admission, limits and the transition run in this one synchronous turn: nothing can answer the same prompt
      // in between, and a refused event changes nothing (no id, no log entry, no checkpoint).
      const admitted = I.admit(this.state, decoded, step)
      if (admitted._tag === "Rejected") return Effect.fail(admitted.error)
      const answers =
        admitted.waiter !== undefined ||
        (admitted.prompt !== undefined && typeof (decoded as { requestId?: unknown }).requestId === "string")
      const limited = this.overLimit(answers)
      if (limited !== undefined) return Effect.fail(limited)
      return this.applyAndSave({ _tag: "External", event: decoded, step, admitted })
    })
  }

  /** How far the published log has been measured for `maxLogBytes`, and its size so far. */
  private logMeasured = 0
  private logBytes = 0

  /**
   * The limit a send from outside would break (`RunOptions.limits`). `answers`: it names an open prompt by its
   * `requestId`, or an open waiter takes it; such an answer is not refused by `maxPending`, so a run at that cap can
   * still be answered (its growth through answers stays bounded by the log caps). The log caps refuse every send.
   */
  private overLimit(answers: boolean): RunLimitError | undefined {
    const limits = this.limits
    const fail = (limit: RunLimitError["limit"], max: number, actual: number) =>
      new RunLimitError({ workflow: this.plan.name, runId: this.runId, limit, max, actual })
    const held = this.state.pending.length + this.state.unclaimed.length
    if (!answers && held >= limits.maxPending) return fail("maxPending", limits.maxPending, held)
    const entries = this.log.entries
    if (entries.length >= limits.maxLogEvents) return fail("maxLogEvents", limits.maxLogEvents, entries.length)
    // Measured incrementally, and only on sends from outside (never on the run's hot path).
    for (; this.logMeasured < entries.length; this.logMeasured++) this.logBytes += sizeOf(entries[this.logMeasured])
    if (this.logBytes >= limits.maxLogBytes) return fail("maxLogBytes", limits.maxLogBytes, this.logBytes)
    return undefined
  }

  handle(): RunHandle<any> {
    return new RunHandleImpl(this)
  }
}

/** Decodes an event that crosses a boundary with the workflow's schema for its tag. @internal */
export const decodeEvent = (plan: Plan, event: unknown): AnyEvent | InvalidEventError => {
  if (!isEventLike(event)) {
    return new InvalidEventError({
      workflow: plan.name,
      tag: undefined,
      detail: `expected an object with a string "_tag", got ${describe(event)}.`
    })
  }
  const schema = plan.registry.get(event._tag)
  if (schema === undefined) {
    return new InvalidEventError({
      workflow: plan.name,
      tag: event._tag,
      detail: `this workflow has no "${event._tag}" event. Known events: ${[...plan.registry.keys()].join(", ")}.`
    })
  }
  const result = Schema.decodeUnknownEither(schema)(event)
  if (Either.isLeft(result)) {
    return new InvalidEventError({
      workflow: plan.name,
      tag: event._tag,
      detail: ParseResult.TreeFormatter.formatErrorSync(result.left)
    })
  }
  return result.right
}

/** @internal */
export class StepCtx implements StepContext<any> {
  attempt = 0
  /** When the first execution started (the run's clock), and the last failed execution's error. */
  startedAt: number | undefined = undefined
  lastError: unknown = undefined
  constructor(
    readonly impl: RunImpl<any>,
    readonly invocation: I.Invocation,
    readonly stepName: string
  ) {}

  private stateView: SynchronizedRef.SynchronizedRef<any> | undefined = undefined
  get state() {
    if (this.stateView === undefined) this.stateView = this.impl.stateFor(this.invocation)
    return this.stateView
  }
  get runId() {
    return this.impl.runId
  }
  get retry(): Option.Option<RetryInfo> {
    if (this.attempt <= 1 || this.startedAt === undefined) return Option.none()
    return Option.some({
      attempt: this.attempt,
      lastError: this.lastError,
      elapsed: Duration.millis(Math.max(0, this.impl.now() - this.startedAt))
    })
  }
  get eventId() {
    return this.invocation.eventId
  }

  send(event: AnyEvent): Effect.Effect<void>
  send(event: AnyEvent, options: { readonly step?: string | undefined }): Effect.Effect<void, UnknownStepError>
  send(event: AnyEvent, options?: { readonly step?: string | undefined }): Effect.Effect<void, UnknownStepError> {
    const invocation = this.invocation
    const attempt = invocation.attempts
    invocation.unran++
    return Effect.suspend((): Effect.Effect<void, UnknownStepError> => {
      if (invocation.attempts === attempt) invocation.unran--
      let step: number | undefined
      if (options?.step !== undefined) {
        const resolved = resolveStep(this.impl.plan, options.step, event._tag)
        if (typeof resolved !== "number") return Effect.fail(resolved)
        step = resolved
      }
      // A journaled send is appended before anything it starts runs (as a waitFor is registered).
      if (this.impl.journaled) {
        return Effect.asVoid(this.impl.applyAndCheckpoint({ _tag: "Send", from: this.invocation, event, step }, false))
      }
      this.impl.apply({ _tag: "Send", from: this.invocation, event, step })
      return Effect.void
    })
  }

  write(event: AnyEvent): Effect.Effect<void> {
    const invocation = this.invocation
    const attempt = invocation.attempts
    invocation.unran++
    return Effect.sync(() => {
      if (invocation.attempts === attempt) invocation.unran--
      this.impl.apply({ _tag: "Write", from: invocation, event })
    })
  }

  collect(event: AnyEvent, expected: any, n?: number): Effect.Effect<Option.Option<any>> {
    return Effect.sync(() => {
      const inv = this.invocation
      const call = inv.collects
      const count = typeof n === "number" ? n : undefined
      const tags = count !== undefined ? [tagOf(expected)] : (expected as ReadonlyArray<EventType>).map(tagOf)
      // An input like any other: the interpreter buffers the event, journals the call and keeps its result.
      this.impl.apply({ _tag: "Collect", invocation: inv, event, expected: tags, count })
      const result = inv.collectResults?.get(call)
      return result === undefined ? Option.none() : Option.some(result)
    })
  }

  /** `ctx.run` / `ctx.start` calls of the current execution (the `c<n>` of a child's run id). */
  children = 0
  childrenAttempt = 0

  run(workflow: Workflow.Any, input?: unknown, options?: ChildOptions): Effect.Effect<any, any, any> {
    return child.runChild(this.impl, this, workflow, input, options)
  }

  start(workflow: Workflow.Any, input?: unknown, options?: ChildOptions): Effect.Effect<any, any, any> {
    return child.startChild(this.impl, this, workflow, input, options)
  }

  waitFor<A extends AnyEvent>(type: EventType<A>, options?: WaitForOptions<A>): Effect.Effect<A, WaitTimeoutError> {
    return Effect.suspend(() => {
      const run = this.impl
      const invocation = this.invocation
      const index = invocation.waits++
      // A re-execution after resume gets the answer this wait received the first time.
      const answered = invocation.answers?.get(index)
      if (answered !== undefined) return Effect.succeed(answered as A)
      const waiter: I.Waiter = {
        key: waiterKey(this.stepName, invocation.eventId, index),
        index,
        invocation,
        tag: tagOf(type),
        match: options?.match as ((event: AnyEvent) => boolean) | undefined
      }
      const timeout = options?.timeout === undefined ? undefined : Duration.decode(options.timeout)
      const deferred = Deferred.unsafeMake<AnyEvent, WaitTimeoutError>(FiberId.none)
      run.waiters.set(waiter, { deferred, timeout })
      // Registered (and, in a durable run, checkpointed with its prompt) before anything can answer it.
      const register = run.applyAndCheckpoint({ _tag: "Wait", invocation, waiter, prompt: options?.prompt }, false)
      let wait: Effect.Effect<AnyEvent, WaitTimeoutError> = Deferred.await(deferred)
      if (timeout !== undefined) {
        const expire = Effect.zipRight(
          Effect.sleep(timeout),
          Effect.zipRight(
            Effect.sync(() => run.apply({ _tag: "WaitExpired", waiter })),
            Effect.never
          )
        )
        wait = Effect.raceFirst(wait, expire)
      }
      const waited = Effect.zipRight(register, wait)
      return (
        run.telemetry === undefined
          ? waited
          : run.telemetry.wait(invocation, this.stepName, waiter.tag, options?.prompt, waited)
      ).pipe(
        Effect.onInterrupt(() => Effect.sync(() => run.apply({ _tag: "WaitAbandoned", waiter }))),
        Effect.ensuring(Effect.sync(() => run.waiters.delete(waiter)))
      ) as Effect.Effect<A, WaitTimeoutError>
    })
  }
}

/** Problems of the run options themselves (a per-run `maxRecoveries` of NaN or -1 would loop or fail at once). */
const runOptionProblems = (options: RunOptions | undefined): Array<string> => {
  const max = options?.maxRecoveries
  return max === undefined || max === Infinity || (Number.isInteger(max) && max >= 0)
    ? []
    : [`run options: "maxRecoveries" must be an integer >= 0 or Infinity, got ${String(max)}.`]
}

const checkDefinition = (self: Workflow.Any, options: RunOptions | undefined) => {
  const optionIssues = runOptionProblems(options)
  if (optionIssues.length > 0)
    return Effect.fail(new WorkflowValidationError({ workflow: self.name, issues: optionIssues }))
  if (options?.validate === false) {
    const issues = definitionProblems(self)
    return issues.length === 0 ? Effect.void : Effect.fail(new WorkflowValidationError({ workflow: self.name, issues }))
  }
  return validate(self)
}

const decodeInput = (self: Workflow.Any, input: unknown) =>
  Effect.mapError(
    Schema.decodeUnknown(self.input as Schema.Schema<unknown, unknown, never>)(input),
    (error) => new InvalidInputError({ workflow: self.name, detail: ParseResult.TreeFormatter.formatErrorSync(error) })
  )

const makeRun = (
  self: Workflow.Any,
  runId: string,
  value: unknown,
  options: RunOptions | undefined,
  state?: I.RunState
): Effect.Effect<RunImpl> =>
  // The caller's runtime, tracer and clock read from its fiber in one step (as `Effect.runtime`, `Effect.tracer` and
  // `Effect.clock` would read them, in six).
  Effect.withFiberRuntime((caller, status) => {
    const plan = planOf(self)
    const stateRef = makeStateRef(value)
    // Steps run interruptibly (timeouts, cancel), even when the run was started from an uninterruptible region.
    const runtime = Runtime.make({
      context: caller.currentContext,
      fiberRefs: caller.getFiberRefs(),
      runtimeFlags: RuntimeFlags.enable(status.runtimeFlags, RuntimeFlags.Interruption)
    }) as Runtime.Runtime<any>
    const tracer = caller.currentTracer
    const clock = Context.get(caller.currentDefaultServices, Clock.Clock)
    const run = new RunImpl(
      plan,
      runId,
      stateRef,
      runtime,
      options?.trace !== false,
      tracer !== nativeTracer,
      clock,
      state,
      limitsOf(options)
    )
    if (options?.maxRecoveries !== undefined) run.state.maxRecoveries = options.maxRecoveries
    return Effect.succeed(run)
  })

/** Ties a run to the caller's scope: closing it cancels the run (or detaches a durable one). */
const bindToScope = (run: RunImpl) =>
  Effect.as(
    Effect.addFinalizer(() => run.shutdown),
    run
  )

const startTimer = (self: Workflow.Any, run: RunImpl, options: RunOptions | undefined): Effect.Effect<void> =>
  Effect.sync(() => {
    const timeout = options?.timeout !== undefined ? Duration.decode(options.timeout) : self.timeout
    if (timeout === undefined) return
    run.spawn(
      Effect.zipRight(
        Effect.sleep(timeout),
        Effect.sync(() => run.apply({ _tag: "Timeout", timeout }))
      )
    )
  })

/** The run's timeout in ms, as recorded in its journal's `RunStarted`. */
const timeoutMillis = (self: Workflow.Any, options: RunOptions | undefined): number | undefined => {
  const timeout = options?.timeout !== undefined ? Duration.decode(options.timeout) : self.timeout
  return timeout === undefined ? undefined : Duration.toMillis(timeout)
}

/**
 * Makes a run durable: on the `JournalStore` in context when there is one (an append per checkpoint), otherwise on
 * the `RunStore` (a snapshot per checkpoint).
 */
const makeDurable = (
  run: RunImpl,
  self: Workflow.Any,
  options: RunOptions | undefined,
  resumed?: { readonly committed: unknown; readonly logged: number },
  onJournal = true
) =>
  // Both services read from the context in one step (a missing `RunStore` is a defect, as `yield* RunStore` makes it).
  Effect.contextWith((context: Context.Context<RunStore>) => {
    run.makeDurable(Context.unsafeGet(context, RunStore))
    if (!onJournal) return
    const journal = Context.getOption(context as Context.Context<never>, JournalStore)
    if (Option.isNone(journal)) return
    register(self)
    run.makeJournaled(
      journal.value,
      signatureOf(self),
      timeoutMillis(self, options),
      resumed?.committed,
      resumed?.logged ?? 0
    )
  })

/** @internal */
export const startRun = (
  self: Workflow.Any,
  input: unknown,
  options?: RunOptions
): Effect.Effect<RunImpl, InvalidInputError | WorkflowValidationError | RunStoreError, Scope.Scope> =>
  startRunWith(self, input, options, bindToScope)

/** @internal */
export const startRunWith = <R>(
  self: Workflow.Any,
  input: unknown,
  options: RunOptions | undefined,
  bind: (run: RunImpl) => Effect.Effect<RunImpl, never, R>
): Effect.Effect<RunImpl, InvalidInputError | WorkflowValidationError | RunStoreError, R> =>
  Effect.gen(function* () {
    yield* checkDefinition(self, options)
    const decoded = yield* decodeInput(self, input)
    const runId = options?.runId ?? crypto.randomUUID()
    // A run that continues a conversation starts from the previous run's final state.
    const continued = options?.continue === undefined ? undefined : yield* resolveContinue(self, options)
    const initial =
      options?.state !== undefined ? options.state : continued !== undefined ? continued.state : self.initialState
    const made = yield* makeRun(self, runId, initial, options)
    if (continued !== undefined) made.conversation = continued.conversation
    const run = yield* bind(made)
    if (options?.durable === true) yield* makeDurable(run, self, options)
    const observer = observerIn(run.runContext)
    if (observer !== undefined) run.telemetry = yield* observe(observer, self, run, options?.durable === true, false)
    const begin = Effect.zipRight(
      startTimer(self, run, options),
      // A start that was not saved is no run: the caller gets the store's error, and nothing of the run goes on.
      Effect.suspend(() => Effect.tapError(run.applyAndSave({ _tag: "Start", input: decoded }), () => run.discard))
    )
    if (self.concurrency === undefined) {
      yield* begin
      return run
    }
    if (options?.durable === true) {
      // A queued durable run is saved at once (its StartEvent and first invocation are in the store, so a process
      // that dies while it waits loses nothing: resuming re-executes that invocation); only its steps and its
      // timeout wait for a slot.
      const slot = Deferred.unsafeMake<void>(FiberId.none)
      run.queued = true
      run.ended.listen(admit(self, self.concurrency, () => Deferred.unsafeDone(slot, Exit.void)))
      const gate = Effect.zipRight(
        Deferred.await(slot),
        Effect.zipRight(
          Effect.sync(() => {
            run.queued = false
          }),
          startTimer(self, run, options)
        )
      )
      yield* Effect.tapError(run.applyAndSave({ _tag: "Start", input: decoded }, gate), () => run.discard)
      return run
    }
    // A capped workflow: the run begins now if a slot is free, otherwise when an earlier run ends (FIFO).
    let inline = true
    let admitted = false
    const end = admit(self, self.concurrency, () => {
      if (inline) admitted = true
      else run.spawn(begin)
    })
    inline = false
    run.ended.listen(end)
    if (admitted) yield* begin
    return run
  }) as Effect.Effect<RunImpl, InvalidInputError | WorkflowValidationError | RunStoreError, R>

/** @internal */
export const resumeRun = (
  self: Workflow.Any,
  from: unknown,
  options?: RunOptions
): Effect.Effect<
  RunImpl,
  InvalidSnapshotError | RunNotFoundError | RunStoreError | JournalMismatchError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const optionIssues = runOptionProblems(options)
    if (optionIssues.length > 0)
      return yield* Effect.die(new WorkflowValidationError({ workflow: self.name, issues: optionIssues }))
    let raw = from
    let durable = options?.durable === true
    if (typeof from === "string") {
      const journal = yield* Effect.serviceOption(JournalStore)
      if (Option.isSome(journal)) {
        const loadError = (cause: unknown) => new RunStoreError({ operation: "load", runId: from, cause })
        const loaded = yield* Effect.mapError(journal.value.load(from), loadError)
        if (Option.isSome(loaded)) {
          const compaction = Option.getOrUndefined(loaded.value.compaction)
          // Behind a compaction, the entries before it are read too: their log chunks make the published log, and
          // the whole journal is checked against the definition (and replayed, if the compaction cannot be used).
          const entries =
            compaction === undefined
              ? loaded.value.tail
              : yield* Effect.mapError(journal.value.read(from, 0), loadError)
          if (entries.length > 0) return yield* resumeJournaled(self, from, entries, options, compaction)
        }
      }
      const store = yield* RunStore
      const loaded = yield* store.load(from)
      if (Option.isNone(loaded)) return yield* Effect.fail(new RunNotFoundError({ runId: from }))
      raw = loaded.value
      durable = options?.durable !== false
    }
    const restored = decodeSnapshot(planOf(self), raw, options?.trace !== false)
    if (restored instanceof InvalidSnapshotError) return yield* Effect.fail(restored)
    const { snapshot } = restored
    if (snapshot.status === "failed" || snapshot.status === "timed-out") {
      return yield* Effect.fail(
        new InvalidSnapshotError({
          workflow: self.name,
          detail: `run ${snapshot.runId} already ended (${snapshot.status}); there is nothing to resume.`
        })
      )
    }
    const run = yield* bindToScope(yield* makeRun(self, snapshot.runId, restored.value, options, restored.state))
    run.createdAt = snapshot.createdAt
    run.parentRunId = snapshot.parent
    run.conversation = snapshot.conversation
    for (const [event, id] of restored.collectedIds) run.collectIds.set(event, id)
    // A cancelled run that is resumed goes on: its WorkflowCancelled is no longer its end.
    const published =
      snapshot.status === "cancelled" && restored.published.at(-1)?._tag === "WorkflowCancelled"
        ? restored.published.slice(0, -1)
        : restored.published
    for (const event of published) run.log.append(event)
    run.encodedPublished.push(...snapshot.published.slice(0, published.length))
    if (snapshot.status === "completed") {
      run.complete(restored.result)
      return run
    }
    // A run saved as a snapshot (a version-1 file) goes on as one, in the RunStore.
    if (durable) yield* makeDurable(run, self, options, undefined, false)
    const observer = observerIn(run.runContext)
    if (observer !== undefined) run.telemetry = yield* observe(observer, self, run, durable, true)
    yield* startTimer(self, run, options)
    // A resume that cannot save fails (the store keeps the snapshot it was resumed from, to resume later).
    yield* Effect.tapError(run.applyAndSave({ _tag: "Restart", invocations: restored.inFlight }), () => run.discard)
    return run
  }) as Effect.Effect<
    RunImpl,
    InvalidSnapshotError | RunNotFoundError | RunStoreError | JournalMismatchError,
    Scope.Scope
  >

/**
 * Resumes a run from its journal: the journal is checked against the definition (every mismatch in one
 * `JournalMismatchError`), replayed through the interpreter's transition (the ids it computes must be the journaled
 * ones), and the invocations that were in flight are executed again; the state is the committed state (the updates of
 * finished invocations), the published log is the journal's.
 */
const resumeJournaled = (
  self: Workflow.Any,
  runId: string,
  entries: ReadonlyArray<Journal.Stored>,
  options: RunOptions | undefined,
  compaction?: JournalStoreCompaction
): Effect.Effect<RunImpl, InvalidSnapshotError | JournalMismatchError | RunStoreError, Scope.Scope | RunStore> =>
  Effect.gen(function* () {
    const plan = planOf(self)
    const mismatch = (mismatches: ReadonlyArray<string>) =>
      new JournalMismatchError({ workflow: self.name, runId, mismatches })
    const problems = checkJournal(self, entries)
    if (problems.length > 0) return yield* Effect.fail(mismatch(problems))
    const clock = yield* Effect.clock
    const now = clock.unsafeCurrentTimeMillis()
    // Resume = the last compaction + the tail replayed; a compaction that cannot be used (another format or
    // definition, corrupt) is skipped with a warning and the whole journal is replayed (the entries are the truth).
    let compacted: Compacted | undefined
    if (compaction !== undefined) {
      const decoded = decodeCompaction(plan, runId, signatureOf(self), compaction)
      if (typeof decoded === "string") {
        yield* Effect.logWarning(
          `run ${runId}: the compaction at offset ${compaction.upToOffset} is not used (${decoded}); replaying the whole journal`
        )
      } else compacted = decoded
    }
    let replayed = replayJournal(plan, runId, entries, now, compacted)
    if (!("snapshot" in replayed) && compacted !== undefined) {
      yield* Effect.logWarning(
        `run ${runId}: the journal does not replay from its compaction at offset ${compacted.upToOffset} (${replayed.join("; ")}); replaying the whole journal`
      )
      replayed = replayJournal(plan, runId, entries, now)
    }
    if (!("snapshot" in replayed)) return yield* Effect.fail(mismatch(replayed))
    const trace = options?.trace !== undefined ? options.trace !== false : replayed.trace
    const restored = restoreJournal(plan, replayed, trace)
    if (restored instanceof InvalidSnapshotError) return yield* Effect.fail(restored)
    const { snapshot } = restored
    if (snapshot.status !== "running" && snapshot.status !== "waiting" && snapshot.status !== "completed") {
      return yield* Effect.fail(
        new InvalidSnapshotError({
          workflow: self.name,
          detail: `run ${runId} already ended (${snapshot.status}); there is nothing to resume.`
        })
      )
    }
    const run = yield* bindToScope(yield* makeRun(self, runId, restored.value, options, restored.state))
    run.createdAt = replayed.createdAt
    run.parentRunId = snapshot.parent
    run.conversation = snapshot.conversation
    run.traceParent = replayed.traceParent
    for (const [event, id] of restored.collectedIds) run.collectIds.set(event, id)
    for (const event of replayed.published) run.log.append(event)
    run.encodedPublished.push(...replayed.encodedPublished)
    if (snapshot.status === "completed") {
      run.complete(restored.result)
      return run
    }
    if (options?.durable !== false) {
      yield* makeDurable(run, self, options, { committed: replayed.committed, logged: replayed.published.length })
    }
    const observer = observerIn(run.runContext)
    if (observer !== undefined) run.telemetry = yield* observe(observer, self, run, options?.durable !== false, true)
    yield* startTimer(self, run, options)
    yield* Effect.tapError(run.applyAndSave({ _tag: "Restart", invocations: restored.inFlight }), () => run.discard)
    return run
  })
