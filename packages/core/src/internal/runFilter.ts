/** Listing runs in memory: filter, newest first, page. */
import type { ListFilter, RunSummary } from "../RunStore.js"

/** @internal */
export const applyFilter = <A extends RunSummary>(
  runs: ReadonlyArray<A>,
  filter: ListFilter | undefined
): ReadonlyArray<A> => {
  const selected = runs
    .filter((run) => filter?.workflow === undefined || run.workflow === filter.workflow)
    .filter((run) => filter?.status === undefined || filter.status.includes(run.status))
    // A conversation's id is its first run's id: that run belongs to it too.
    .filter(
      (run) =>
        filter?.conversation === undefined ||
        run.conversationId === filter.conversation ||
        run.runId === filter.conversation
    )
    .filter((run) => filter?.parent === undefined || run.parentRunId === filter.parent)
    .sort((a, b) => b.createdAt - a.createdAt || (a.runId < b.runId ? -1 : 1))
  const offset = filter?.offset ?? 0
  return filter?.limit === undefined ? selected.slice(offset) : selected.slice(offset, offset + filter.limit)
}
