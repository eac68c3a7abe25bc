/**
 * What every journal store does the same way: check a batch of entries against what the journal holds (idempotent
 * on the entry id, conflicts, `RunStarted` first) and decide which rows to write, at which offsets.
 */
import type * as Journal from "../Journal.js"
import { JournalConflictError, JournalStoreError } from "../WorkflowError.js"
import { canonicalJson } from "./journal.js"

/** An entry already in the journal. @internal */
export interface Existing {
  readonly offset: number
  readonly json: string
}

/** A row to insert. @internal */
export interface Row {
  readonly offset: number
  readonly entryId: string
  readonly tag: Journal.Entry["_tag"]
  readonly json: string
  readonly entry: Journal.Entry
}

/** @internal */
export interface Prepared {
  readonly _tag: "Prepared"
  readonly rows: ReadonlyArray<Row>
  /** Every entry of the batch with its offset (the existing one for entries already there). */
  readonly stored: ReadonlyArray<Journal.Stored>
  /** The `RunStarted` of the batch, when the batch starts the journal. */
  readonly started: (Journal.Entry & { readonly _tag: "RunStarted" }) | undefined
  /** The status of the last `RunEnded` among the new rows. */
  readonly ended: Journal.EndStatus | undefined
}

/**
 * @param existing the entries of the batch's ids already in the journal (by id)
 * @param next the offset the next new entry gets (the journal's length)
 * @internal
 */
export const prepareAppend = (
  runId: string,
  entries: ReadonlyArray<Journal.Entry>,
  existing: ReadonlyMap<string, Existing>,
  next: number
): Prepared | JournalStoreError | JournalConflictError => {
  const rows: Array<Row> = []
  const stored: Array<Journal.Stored> = []
  // The batch's own ids (made on first use: a batch of one entry, a durable hop's, needs none).
  let batch: Map<string, Existing> | undefined
  let started: Prepared["started"]
  let ended: Journal.EndStatus | undefined
  for (const entry of entries) {
    const json = canonicalJson(entry)
    const known =
      existing.size === 0 && batch === undefined ? undefined : (existing.get(entry.id) ?? batch?.get(entry.id))
    if (known !== undefined) {
      if (known.json !== json) return new JournalConflictError({ runId, entryId: entry.id, offset: known.offset })
      stored.push({ offset: known.offset, entry })
      continue
    }
    const offset = next + rows.length
    if ((offset === 0) !== (entry._tag === "RunStarted")) {
      return new JournalStoreError({
        operation: "append",
        runId,
        cause: new Error(
          offset === 0
            ? `the first entry of a journal must be RunStarted, got ${entry._tag} "${entry.id}"`
            : `RunStarted "${entry.id}" can only be the first entry of a journal (this one would be at offset ${offset})`
        )
      })
    }
    if (entry._tag === "RunStarted") {
      if (entry.runId !== runId) {
        return new JournalStoreError({
          operation: "append",
          runId,
          cause: new Error(`the RunStarted entry is for run ${entry.runId}, not ${runId}`)
        })
      }
      started = entry
    }
    if (entry._tag === "RunEnded") ended = entry.status
    if (entries.length > 1) {
      batch ??= new Map()
      batch.set(entry.id, { offset, json })
    }
    rows.push({ offset, entryId: entry.id, tag: entry._tag, json, entry })
    stored.push({ offset, entry })
  }
  return { _tag: "Prepared", rows, stored, started, ended }
}

/** @internal */
export const compactionBeyondEnd = (runId: string, upToOffset: number, length: number): JournalStoreError =>
  new JournalStoreError({
    operation: "compact",
    runId,
    cause: new Error(
      `cannot compact up to offset ${upToOffset}: the journal has ${length} entries (offsets 0 to ${length - 1})`
    )
  })

/** @internal */
export const unknownRun = (operation: JournalStoreError["operation"], runId: string): JournalStoreError =>
  new JournalStoreError({ operation, runId, cause: new Error("the store has no journal for this run") })
