/**
 * The workflow definitions known in this process (validated, or run durably here), by name: what builds the snapshot
 * of a journaled run when only its id is given (`RunStore.load`).
 */
import type * as Workflow from "../Workflow.js"

const known = new Map<string, Array<Workflow.Any>>()

/**
 * Registers a definition and, recursively, the child workflows its steps declare (`children`): a child run's journal
 * is replayed with its own definition, in a process that may only have run the parent so far.
 *
 * @internal
 */
export const register = (self: Workflow.Any): void => {
  const list = known.get(self.name)
  if (list === undefined) known.set(self.name, [self])
  else if (!list.includes(self)) list.push(self)
  else return
  for (const step of self.steps) for (const child of step.children ?? []) register(child)
}

/** @internal */
export const registered = (name: string): ReadonlyArray<Workflow.Any> | undefined => known.get(name)
