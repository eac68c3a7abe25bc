/**
 * The `concurrency` option of a workflow: how many of its runs may be active at once in this process. A run
 * started while the cap is reached waits in a FIFO queue and starts (its `StartEvent` is dispatched, its timeout
 * begins) when an earlier run ends.
 *
 * @internal
 */
import type * as Workflow from "../Workflow.js"

interface Slots {
  active: number
  readonly queue: Array<() => void>
}

const slots = new WeakMap<Workflow.Any, Slots>()

/**
 * Takes a slot for a run of `self` and calls `begin` when it has one: at once, or later in FIFO order. Returns
 * `end`, to call when the run ends (whether it had begun or was still queued): it frees the slot or leaves the
 * queue.
 *
 * @internal
 */
export const admit = (self: Workflow.Any, cap: number, begin: () => void): (() => void) => {
  let entry = slots.get(self)
  if (entry === undefined) {
    entry = { active: 0, queue: [] }
    slots.set(self, entry)
  }
  const s = entry
  let state: "queued" | "active" | "ended" = "queued"
  const start = () => {
    state = "active"
    s.active++
    begin()
  }
  if (s.active < cap) start()
  else s.queue.push(start)
  return () => {
    if (state === "queued") {
      const index = s.queue.indexOf(start)
      if (index >= 0) s.queue.splice(index, 1)
    } else if (state === "active") {
      s.active--
      const next = s.queue.shift()
      if (next !== undefined) next()
    }
    state = "ended"
  }
}

/** Runs of `self` active / queued now (for tests and diagnostics). @internal */
export const usage = (self: Workflow.Any): { readonly active: number; readonly queued: number } => {
  const s = slots.get(self)
  return { active: s?.active ?? 0, queued: s?.queue.length ?? 0 }
}
