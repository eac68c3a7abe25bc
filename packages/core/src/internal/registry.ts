/**
 * The workflow definitions known in this process (validated, or run durably here), by name: what builds the snapshot
 * of a journaled run when only its id is given (`RunStore.load`).
 */
import type * as Workflow from "../Workflow.js"

const known = new Map<string, Array<Workflow.Any>>()

/** @internal */
export const register = (self: Workflow.Any): void => {
  const list = known.get(self.name)
  if (list === undefined) known.set(self.name, [self])
  else if (!list.includes(self)) list.push(self)
}

/** @internal */
export const registered = (name: string): ReadonlyArray<Workflow.Any> | undefined => known.get(name)
