import * as Effect from "effect/Effect"
import { register } from "./registry.js"
import type * as Graph from "../Graph.js"
import type * as Workflow from "../Workflow.js"
import { WorkflowValidationError } from "../WorkflowError.js"
import { tagOf } from "./event.js"

const START = "StartEvent"
const STOP = "StopEvent"
const INPUT_REQUIRED = "InputRequired"
const HUMAN_RESPONSE = "HumanResponse"
const STEP_FAILED = "StepFailed"

/** @internal */
export const externalTags = (self: Workflow.Any): ReadonlySet<string> =>
  new Set([HUMAN_RESPONSE, ...self.external.map(tagOf)])

const emitTags = (step: Workflow.StepDefinition): ReadonlyArray<string> | undefined => step.emits?.map(tagOf)

/** @internal */
export const graph = (self: Workflow.Any): Graph.Graph => {
  const external = externalTags(self)
  const nodes: Array<Graph.Node> = []
  const edges: Array<Graph.Edge> = []
  const events = new Map<string, string>()
  const eventNode = (tag: string): string => {
    let id = events.get(tag)
    if (id === undefined) {
      id = `event:${tag}`
      events.set(tag, id)
      const role =
        tag === START
          ? "start"
          : tag === STOP
            ? "stop"
            : tag === INPUT_REQUIRED
              ? "input-required"
              : tag === STEP_FAILED
                ? "failure"
                : external.has(tag)
                  ? "external"
                  : "event"
      nodes.push({ kind: "event", id, tag, role })
    }
    return id
  }
  for (const step of self.steps) {
    const id = `step:${step.name}`
    nodes.push({
      kind: "step",
      id,
      name: step.name,
      workers: step.workers === Infinity ? "Infinity" : step.workers,
      declared: step.emits !== undefined
    })
    for (const tag of step.accepts) edges.push({ from: eventNode(tag), to: id, kind: "accepts" })
    for (const tag of emitTags(step) ?? []) edges.push({ from: id, to: eventNode(tag), kind: "emits" })
  }
  return { workflow: self.name, nodes, edges }
}

const mermaidLabel = (text: string): string => text.replace(/"/g, "#quot;")

/** @internal */
export const toMermaid = (self: Workflow.Any): string => {
  const g = graph(self)
  const ids = new Map<string, string>()
  let steps = 0
  let events = 0
  const lines = ["flowchart TD"]
  for (const node of g.nodes) {
    if (node.kind === "step") {
      const id = `s${steps++}`
      ids.set(node.id, id)
      lines.push(`  ${id}["${mermaidLabel(node.name)}"]:::step`)
    } else {
      const id = `e${events++}`
      ids.set(node.id, id)
      lines.push(`  ${id}(["${mermaidLabel(node.tag)}"]):::${node.role === "event" ? "event" : node.role}`)
    }
  }
  for (const edge of g.edges) lines.push(`  ${ids.get(edge.from)} --> ${ids.get(edge.to)}`)
  const undeclared = g.nodes.filter((n) => n.kind === "step" && !n.declared)
  if (undeclared.length > 0) {
    lines.push(`  unknown{{"? (no emits declared)"}}:::unknown`)
    for (const node of undeclared) lines.push(`  ${ids.get(node.id)} -.-> unknown`)
  }
  lines.push(
    "  classDef step fill:#e8f0fe,stroke:#3367d6",
    "  classDef event fill:#fef7e0,stroke:#f9ab00",
    "  classDef start fill:#e6f4ea,stroke:#137333",
    "  classDef stop fill:#fce8e6,stroke:#c5221f",
    "  classDef external fill:#f3e8fd,stroke:#8430ce",
    "  classDef input-required fill:#f3e8fd,stroke:#8430ce",
    "  classDef failure fill:#fce8e6,stroke:#a50e0e",
    "  classDef unknown fill:#eeeeee,stroke:#999999"
  )
  return lines.join("\n")
}

/** @internal */
export const problems = (self: Workflow.Any): ReadonlyArray<string> => {
  const issues: Array<string> = [...self.problems]
  const seen = new Map<string, number>()
  for (const step of self.steps) {
    issues.push(...step.problems)
    seen.set(step.name, (seen.get(step.name) ?? 0) + 1)
  }
  for (const [name, count] of seen) {
    if (count > 1) issues.push(`duplicate step name "${name}" (${count} steps); step names must be unique.`)
  }
  const external = externalTags(self)
  const accepted = new Map<string, Array<string>>()
  for (const step of self.steps) {
    for (const tag of step.accepts) {
      const list = accepted.get(tag) ?? []
      list.push(step.name)
      accepted.set(tag, list)
    }
  }
  if (!accepted.has(START)) issues.push(`no step accepts StartEvent: the run could never begin.`)
  for (const name of accepted.get(STOP) ?? []) {
    issues.push(`step "${name}" accepts StopEvent: a StopEvent ends the run, so no step can receive it.`)
  }
  for (const step of self.steps) {
    for (const tag of emitTags(step) ?? []) {
      if (tag !== STOP && tag !== INPUT_REQUIRED && !accepted.has(tag)) {
        issues.push(`step "${step.name}" emits "${tag}" but no step accepts it.`)
      }
    }
  }
  const allDeclared = self.steps.every((step) => step.emits !== undefined)
  if (allDeclared && self.steps.length > 0) {
    const produced = new Set<string>()
    for (const step of self.steps) for (const tag of emitTags(step)!) produced.add(tag)
    for (const [tag, names] of accepted) {
      if (tag === START || tag === HUMAN_RESPONSE || tag === STEP_FAILED || external.has(tag)) continue
      if (!produced.has(tag)) {
        issues.push(
          `"${tag}" is accepted by ${names.map((n) => `"${n}"`).join(", ")} but no step emits it` +
            ` (declare it in a step's emits, or in defineWorkflow({ external }) if it comes from outside).`
        )
      }
    }
    // Reachability from the roots over declared edges.
    const reachedEvents = new Set<string>([START, HUMAN_RESPONSE, STEP_FAILED, ...external])
    const reachedSteps = new Set<Workflow.StepDefinition>()
    let changed = true
    while (changed) {
      changed = false
      for (const step of self.steps) {
        if (reachedSteps.has(step) || !step.accepts.some((tag) => reachedEvents.has(tag))) continue
        reachedSteps.add(step)
        changed = true
        for (const tag of emitTags(step)!) reachedEvents.add(tag)
      }
    }
    for (const step of self.steps) {
      if (!reachedSteps.has(step)) {
        issues.push(`step "${step.name}" is unreachable: no path from StartEvent or an external event leads to it.`)
      }
    }
    if (accepted.has(START) && !reachedEvents.has(STOP)) {
      issues.push(`no path can emit StopEvent: no reachable step declares StopEvent in its emits.`)
    } else {
      issues.push(...deadEndCycles(self, accepted, reachedSteps))
    }
  }
  return issues
}

/**
 * Reachable steps that only feed each other in a cycle, with no path out of it to `StopEvent` (`l1 <-> l2`): a run
 * that gets there loops forever (LlamaIndex's dead-end check). Checked where every `emits` is declared; a prompt
 * (`InputRequired`) counts as a way out: the answer comes from outside. Unreachable cycles are reported as
 * unreachable instead.
 */
const deadEndCycles = (
  self: Workflow.Any,
  accepted: ReadonlyMap<string, ReadonlyArray<string>>,
  reachable: ReadonlySet<Workflow.StepDefinition>
): Array<string> => {
  const byName = new Map(self.steps.map((step) => [step.name, step]))
  const next = new Map<Workflow.StepDefinition, Array<Workflow.StepDefinition>>()
  const exits = new Set<Workflow.StepDefinition>()
  for (const step of self.steps) {
    const tags = emitTags(step)
    if (tags === undefined || tags.includes(STOP) || tags.includes(INPUT_REQUIRED)) {
      exits.add(step)
      continue
    }
    const successors: Array<Workflow.StepDefinition> = []
    for (const tag of tags) for (const name of accepted.get(tag) ?? []) successors.push(byName.get(name)!)
    next.set(step, successors)
  }
  // Backwards from the ways out: every step with a path to one can end.
  const canEnd = new Set(exits)
  let changed = true
  while (changed) {
    changed = false
    for (const [step, successors] of next) {
      if (!canEnd.has(step) && successors.some((s) => canEnd.has(s))) {
        canEnd.add(step)
        changed = true
      }
    }
  }
  const reaches = (from: Workflow.StepDefinition): Set<Workflow.StepDefinition> => {
    const seen = new Set<Workflow.StepDefinition>()
    const stack = [...(next.get(from) ?? [])]
    while (stack.length > 0) {
      const step = stack.pop()!
      if (seen.has(step)) continue
      seen.add(step)
      stack.push(...(next.get(step) ?? []))
    }
    return seen
  }
  const issues: Array<string> = []
  const reported = new Set<Workflow.StepDefinition>()
  for (const step of self.steps) {
    if (canEnd.has(step) || reported.has(step) || !reachable.has(step)) continue
    const reached = reaches(step)
    if (!reached.has(step)) continue
    // The cycle through `step`: the steps it reaches that reach it back.
    const cycle = self.steps.filter((other) => other === step || (reached.has(other) && reaches(other).has(step)))
    for (const member of cycle) reported.add(member)
    issues.push(
      `dead-end cycle: ${cycle.map((s) => `"${s.name}"`).join(", ")} only feed${cycle.length === 1 ? "s itself" : " each other"} ` +
        `and no path leads from ${cycle.length === 1 ? "it" : "them"} to StopEvent, so a run that gets there never ends. ` +
        `Let one of them emit StopEvent (or an event that leads to it).`
    )
  }
  return issues
}

const validated = new WeakMap<Workflow.Any, Effect.Effect<void, WorkflowValidationError>>()

/** @internal */
export const validate = (self: Workflow.Any): Effect.Effect<void, WorkflowValidationError> => {
  let result = validated.get(self)
  if (result === undefined) {
    register(self)
    const issues = problems(self)
    result =
      issues.length === 0 ? Effect.void : Effect.fail(new WorkflowValidationError({ workflow: self.name, issues }))
    validated.set(self, result)
  }
  return result
}

/** @internal */
export const definitionProblems = (self: Workflow.Any): ReadonlyArray<string> => {
  const issues: Array<string> = [...self.problems]
  const seen = new Set<string>()
  for (const step of self.steps) {
    issues.push(...step.problems)
    if (seen.has(step.name)) issues.push(`duplicate step name "${step.name}"; step names must be unique.`)
    seen.add(step.name)
  }
  return issues
}
