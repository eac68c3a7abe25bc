/**
 * A run's published events from its journal, with the positions of its published log (the offsets of `events()` /
 * SSE on one machine): the log is the concatenation of the journal's `Published` chunks and the `log` chunks carried
 * by `InvocationCompleted` entries.
 *
 * The smallest version of what engineer N adds to core (a journal -> published-events follower); the coordinator
 * dedupes at merge.
 */
import type { Journal, Run } from "@eventflow/core"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"

/** Trace events, left out unless `internal: true` (the same set as the in-process log's). */
const internalTags: ReadonlySet<string> = new Set([
  "StepStarted",
  "StepCompleted",
  "StepFailedAttempt",
  "EventDispatched",
  "RunIdle",
  "UnhandledEvent"
])

/** The chunk of the published log an entry carries, if any. */
const chunkOf = (
  entry: Journal.Entry
): { readonly from: number; readonly events: ReadonlyArray<unknown> } | undefined => {
  if (entry._tag === "Published") return entry
  if (entry._tag === "InvocationCompleted" && entry.log !== undefined) return entry.log
  return undefined
}

/**
 * Turns a stream of journal entries (from offset 0: `read` then `follow`) into the run's published events from
 * position `from` on (trace events only with `internal: true`); a chunk seen twice is emitted once.
 */
export const publishedEvents = <E, R>(
  entries: Stream.Stream<Journal.Stored, E, R>,
  options?: { readonly from?: number | undefined; readonly internal?: boolean | undefined }
): Stream.Stream<Run.PublishedEvent, E, R> => {
  const from = options?.from ?? 0
  const withInternal = options?.internal === true
  return Stream.suspend(() => {
    let next = 0
    return Stream.mapConcatChunk(entries, (stored) => {
      const chunk = chunkOf(stored.entry)
      if (chunk === undefined) return Chunk.empty()
      const out: Array<Run.PublishedEvent> = []
      chunk.events.forEach((event, i) => {
        const position = chunk.from + i
        if (position < next) return
        next = position + 1
        if (position < from) return
        const tag = (event as { readonly _tag?: unknown })._tag
        if (!withInternal && typeof tag === "string" && internalTags.has(tag)) return
        out.push(event as Run.PublishedEvent)
      })
      return Chunk.unsafeFromArray(out)
    })
  })
}
