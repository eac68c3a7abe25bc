/**
 * A `RunStore` that also sees the runs kept on a journal: listed with their signature, loaded as the snapshot their
 * journal replays to.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as JournalStore from "../JournalStore.js"
import type * as RunStore from "../RunStore.js"
import type { Snapshot } from "../Snapshot.js"
import { RunStoreError } from "../WorkflowError.js"
import { lookup } from "./journal.js"
import { decodeCompaction, replay } from "./journalEngine.js"
import { planOf } from "./plan.js"
import { applyFilter } from "./runFilter.js"

const journalError =
  (operation: RunStoreError["operation"], runId?: string) =>
  (cause: unknown): RunStoreError =>
    new RunStoreError({ operation, runId, cause })

/** @internal */
export const snapshotOf = (
  journal: JournalStore.Service,
  runId: string
): Effect.Effect<Option.Option<Snapshot>, RunStoreError> =>
  Effect.gen(function* () {
    const entries = yield* Effect.mapError(journal.read(runId, 0), journalError("load", runId))
    const first = entries[0]?.entry
    if (first === undefined || first._tag !== "RunStarted") return Option.none()
    const workflow = lookup(first.workflow, first.signature)
    const fail = (detail: string) =>
      Effect.fail(
        new RunStoreError({
          operation: "load",
          runId,
          cause: new Error(`run ${runId} of workflow "${first.workflow}" is kept on its journal: ${detail}`)
        })
      )
    if (workflow === undefined) {
      return yield* fail(
        `no definition of "${first.workflow}" is known in this process to replay it (validate or run the workflow ` +
          "here first, or resume the run with Workflow.resume)"
      )
    }
    const plan = planOf(workflow)
    const now = yield* Clock.currentTimeMillis
    // From the last compaction when there is a usable one (the entries are read anyway: they make the log).
    const loaded = yield* Effect.mapError(journal.load(runId), journalError("load", runId))
    const compaction = Option.isSome(loaded) ? Option.getOrUndefined(loaded.value.compaction) : undefined
    const compacted = compaction === undefined ? undefined : decodeCompaction(plan, runId, first.signature, compaction)
    let replayed = replay(plan, runId, entries, now, typeof compacted === "string" ? undefined : compacted)
    if (!("snapshot" in replayed) && compacted !== undefined && typeof compacted !== "string") {
      replayed = replay(plan, runId, entries, now)
    }
    if (!("snapshot" in replayed)) return yield* fail(`its journal does not replay:\n${replayed.join("\n")}`)
    const summary = yield* Effect.mapError(journal.summary(runId), journalError("load", runId))
    return Option.some(
      Option.isSome(summary)
        ? { ...replayed.snapshot, createdAt: summary.value.createdAt, updatedAt: summary.value.updatedAt }
        : replayed.snapshot
    )
  })

/** @internal */
export const withJournal = (snapshots: RunStore.Service, journal: JournalStore.Service): RunStore.Service => ({
  save: snapshots.save,
  load: (runId) =>
    Effect.flatMap(snapshotOf(journal, runId), (found) =>
      Option.isSome(found) ? Effect.succeed(found) : snapshots.load(runId)
    ),
  list: (filter) =>
    Effect.gen(function* () {
      const all = filter === undefined ? undefined : { workflow: filter.workflow, status: filter.status }
      const journaled = yield* Effect.mapError(journal.list(all), journalError("list"))
      const saved = yield* snapshots.list(all)
      const ids = new Set(journaled.map((r) => r.runId))
      const runs: Array<RunStore.RunSummary> = journaled.map((r) => ({
        runId: r.runId,
        workflow: r.workflow,
        status: r.status,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        signature: r.signature,
        ...(r.conversationId === undefined ? {} : { conversationId: r.conversationId }),
        ...(r.parentRunId === undefined ? {} : { parentRunId: r.parentRunId })
      }))
      for (const r of saved) if (!ids.has(r.runId)) runs.push(r)
      return applyFilter(runs, filter)
    }),
  remove: (runId) =>
    Effect.zipRight(Effect.mapError(journal.remove(runId), journalError("remove", runId)), snapshots.remove(runId))
})
