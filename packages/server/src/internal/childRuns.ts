/**
 * Child workflows' runs as the server shows them: which workflows can be drawn (the served ones and the children
 * their steps declare), and which invocation of its parent started a child (read from its id).
 *
 * @internal
 */
import type { Workflow } from "@eventflow/core"

/** The workflows and, recursively, the child workflows their steps declare (`children`), by name. @internal */
export const declared = (workflows: ReadonlyArray<Workflow.Any>): ReadonlyMap<string, Workflow.Any> => {
  const byName = new Map<string, Workflow.Any>()
  const add = (workflow: Workflow.Any) => {
    if (byName.has(workflow.name)) return
    byName.set(workflow.name, workflow)
    for (const step of workflow.steps) for (const child of step.children ?? []) add(child)
  }
  // The served ones first: a declared child never shadows a served workflow of the same name.
  for (const workflow of workflows) byName.set(workflow.name, workflow)
  for (const workflow of workflows)
    for (const step of workflow.steps) for (const child of step.children ?? []) add(child)
  return byName
}

/**
 * The invocation of the parent that started a child run, from the child's id `<parentRunId>/<step>@<eventId>/c<n>`
 * (step names may hold `@`, event ids `/`: the id is read from both ends). @internal
 */
export const invocation = (
  parentRunId: string,
  childRunId: string
): { readonly step: string; readonly eventId: string; readonly index: number } => {
  const rest = childRunId.startsWith(`${parentRunId}/`) ? childRunId.slice(parentRunId.length + 1) : childRunId
  const match = /^(.*)@([^@]*)\/c(\d+)$/s.exec(rest)
  return match === null
    ? { step: rest, eventId: "", index: 0 }
    : { step: match[1], eventId: match[2], index: Number(match[3]) }
}

/** Oldest first (children started in the same millisecond: in the order their parent started them). @internal */
export const oldestFirst = <A extends { readonly createdAt: number; readonly eventId: string; readonly index: number }>(
  children: ReadonlyArray<A>
): ReadonlyArray<A> =>
  [...children].sort(
    (a, b) =>
      a.createdAt - b.createdAt || (a.eventId === b.eventId ? a.index - b.index : a.eventId < b.eventId ? -1 : 1)
  )
