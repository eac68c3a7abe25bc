/**
 * Forks (time travel): a new run whose journal is a copy of another run's journal up to an entry, optionally with
 * that entry's event edited, under a new run id whose `RunStarted` records where it came from. Resuming the copy
 * continues the run from that point (the journal engine's resume).
 */
import * as Effect from "effect/Effect"
import type * as Journal from "../Journal.js"
import { JournalStore } from "../JournalStore.js"
import type * as Workflow from "../Workflow.js"
import { ForkError, type JournalConflictError, type JournalStoreError } from "../WorkflowError.js"
import { check } from "./journalCheck.js"
import { resume } from "./engine.js"

/** @internal */
export interface ForkOptions {
  readonly from: string
  readonly offset: number
  readonly event?: unknown
  readonly index?: number | undefined
  readonly runId?: string | undefined
}

/** @internal */
export interface Forked {
  readonly runId: string
  readonly entries: ReadonlyArray<Journal.Stored>
}

const tagOf = (value: unknown): unknown =>
  typeof value === "object" && value !== null ? (value as { readonly _tag?: unknown })._tag : undefined

/**
 * The entry with its event replaced by `event`; a string saying why not otherwise. The event keeps its id (the fork
 * continues the same causal chain with another payload), so it must keep its tag.
 */
const replaceEvent = (entry: Journal.Entry, event: unknown, index: number | undefined): Journal.Entry | string => {
  const sameTag = (original: unknown): string | undefined =>
    tagOf(event) === tagOf(original)
      ? undefined
      : `the edited event must keep the tag "${String(tagOf(original))}" of the event it replaces, got ${JSON.stringify(tagOf(event)) ?? "none"}`
  switch (entry._tag) {
    case "RunStarted":
      // The StartEvent's input.
      return { ...entry, input: event }
    case "ExternalEventSent":
    case "EventSent":
      return sameTag(entry.event) ?? { ...entry, event }
    case "InvocationCompleted": {
      const at = index ?? (entry.events.length === 1 ? 0 : -1)
      if (at < 0 || at >= entry.events.length) {
        return entry.events.length === 0
          ? "this invocation returned no event to edit"
          : `this invocation returned ${entry.events.length} events: give "index" (0 to ${entry.events.length - 1})`
      }
      const original = entry.events[at]
      return (
        sameTag(original.event) ?? {
          ...entry,
          events: entry.events.map((identified, i) => (i === at ? { id: identified.id, event } : identified))
        }
      )
    }
    case "WaiterAnswered":
      if (entry.outcome._tag !== "Event") return "this waiter expired: it has no answer to edit"
      return (
        sameTag(entry.outcome.answer.event) ?? {
          ...entry,
          outcome: { _tag: "Event", answer: { id: entry.outcome.answer.id, event } }
        }
      )
    default:
      return `a ${entry._tag} entry carries no event to edit (edit a RunStarted input, a sent event, an answer or an invocation's returned event)`
  }
}

/** @internal */
export const forkJournal = (
  self: Workflow.Any,
  options: ForkOptions
): Effect.Effect<Forked, ForkError | JournalStoreError | JournalConflictError, JournalStore> =>
  Effect.gen(function* () {
    const fail = (reason: string) => Effect.fail(new ForkError({ runId: options.from, reason }))
    const store = yield* JournalStore
    const entries = yield* store.read(options.from, 0)
    if (entries.length === 0) {
      return yield* fail("it has no journal (it is unknown, or it was not run durably with a journal store)")
    }
    const first = entries[0].entry
    if (first._tag !== "RunStarted") return yield* fail(`its journal does not begin with RunStarted`)
    if (first.workflow !== self.name) {
      return yield* fail(`it is a run of workflow "${first.workflow}", not "${self.name}"`)
    }
    const { offset } = options
    const last = entries[entries.length - 1].offset
    if (!Number.isInteger(offset) || offset < 0 || offset > last) {
      return yield* fail(`offset ${offset} is not an entry of its journal (0 to ${last})`)
    }
    const prefix = entries.filter((stored) => stored.offset <= offset)
    const ended = prefix.find((stored) => stored.entry._tag === "RunEnded")
    if (ended !== undefined) {
      return yield* fail(`offset ${offset} includes the run's end (entry ${ended.offset}): fork from an earlier entry`)
    }
    let edited: number | undefined
    if (options.event !== undefined) {
      const target = prefix[prefix.length - 1]
      const replaced = replaceEvent(target.entry, options.event, options.index)
      if (typeof replaced === "string") return yield* fail(`entry ${target.offset}: ${replaced}`)
      // The log chunk a completion carries is what the original published: the fork's edited one publishes anew.
      const entry =
        replaced._tag === "InvocationCompleted" && replaced.log !== undefined
          ? (({ log: _log, ...rest }) => rest)(replaced)
          : replaced
      prefix[prefix.length - 1] = { offset: target.offset, entry }
      edited = target.offset
    }
    const runId = options.runId ?? crypto.randomUUID()
    // A fork stands alone: no parent's step runs it (it is resumed on its own), so it keeps no `parent`; and it is a
    // new run: it does not continue the trace its source was started under (`traceParent`).
    const {
      parent: _parent,
      traceParent: _sourceTrace,
      ...started
    } = prefix[0].entry as Journal.Entry & { readonly _tag: "RunStarted" }
    prefix[0] = {
      offset: 0,
      entry: {
        ...started,
        runId,
        at: Date.now(),
        forkedFrom: { runId: options.from, offset, ...(edited === undefined ? {} : { edited }) }
      }
    }
    const mismatches = check(self, prefix)
    if (mismatches.length > 0) {
      return yield* fail(
        `the copy does not fit workflow "${self.name}":\n${mismatches.map((m) => `  - ${m}`).join("\n")}`
      )
    }
    const written = yield* store.append(
      runId,
      prefix.map((stored) => stored.entry),
      { status: "running" }
    )
    return { runId, entries: written }
  })

/** @internal */
export const fork = (
  self: Workflow.Any,
  options: ForkOptions & { readonly run?: Record<string, unknown> | undefined }
): Effect.Effect<unknown, unknown, unknown> =>
  Effect.flatMap(forkJournal(self, options), ({ runId }) =>
    (resume as (self: Workflow.Any, runId: string, options?: unknown) => Effect.Effect<unknown, unknown, unknown>)(
      self,
      runId,
      options.run
    )
  )
