import * as Effect from "effect/Effect"
import { register } from "./registry.js"
import type * as Graph from "../Graph.js"
import type * as Journal from "../Journal.js"
import type * as Workflow from "../Workflow.js"
import { WorkflowValidationError } from "../WorkflowError.js"
import { childGraphs, mermaidChildren } from "./childGraph.js"
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
    for (const tag of step.waitsFor?.map(tagOf) ?? []) {
      const human = humanId(step.name, tag)
      nodes.push({ kind: "human", id: human, step: step.name, tag })
      edges.push({ from: id, to: human, kind: "waits" })
    }
  }
  const children = childGraphs(self, graph)
  return children.length === 0 ? { workflow: self.name, nodes, edges } : { workflow: self.name, nodes, edges, children }
}

/** The id of the human node of the waits of `step` for `tag`. @internal */
export const humanId = (step: string, tag: string): string => `human:${step}:${tag}`

const mermaidLabel = (text: string): string => text.replace(/"/g, "#quot;")

const classDefs = [
  "  classDef step fill:#e8f0fe,stroke:#3367d6",
  "  classDef event fill:#fef7e0,stroke:#f9ab00",
  "  classDef start fill:#e6f4ea,stroke:#137333",
  "  classDef stop fill:#fce8e6,stroke:#c5221f",
  "  classDef external fill:#f3e8fd,stroke:#8430ce",
  "  classDef input-required fill:#f3e8fd,stroke:#8430ce",
  "  classDef failure fill:#fce8e6,stroke:#a50e0e",
  "  classDef human fill:#f3e8fd,stroke:#8430ce,stroke-dasharray:4 2",
  "  classDef unknown fill:#eeeeee,stroke:#999999"
]

/** Mermaid ids (`s0`, `e0`, `h0`) for graph node ids, and the line that declares each node. */
const mermaidNodes = () => {
  const ids = new Map<string, string>()
  const lines: Array<string> = []
  const counters = { s: 0, e: 0, h: 0 }
  const add = (node: Graph.Node, suffix = "", extraClass = ""): string => {
    const existing = ids.get(node.id)
    if (existing !== undefined) return existing
    const prefix = node.kind === "step" ? "s" : node.kind === "event" ? "e" : "h"
    const id = `${prefix}${counters[prefix]++}`
    ids.set(node.id, id)
    const more = extraClass === "" ? "" : `,${extraClass}`
    if (node.kind === "step") lines.push(`  ${id}["${mermaidLabel(node.name + suffix)}"]:::step${more}`)
    else if (node.kind === "event") {
      lines.push(
        `  ${id}(["${mermaidLabel(node.tag + suffix)}"]):::${node.role === "event" ? "event" : node.role}${more}`
      )
    } else lines.push(`  ${id}[/"${mermaidLabel(`👤 ${node.tag}${suffix}`)}"/]:::human${more}`)
    return id
  }
  return { ids, lines, add }
}

/** @internal */
export const toMermaid = (self: Workflow.Any, options?: { readonly run?: RunJournal | undefined }): string => {
  if (options?.run !== undefined) return runMermaid(self, options.run)
  const g = graph(self)
  const nodes = mermaidNodes()
  for (const node of g.nodes) nodes.add(node)
  const lines = ["flowchart TD", ...nodes.lines]
  for (const edge of g.edges) {
    lines.push(
      `  ${nodes.ids.get(edge.from)} ${edge.kind === "waits" ? "-. waits .->" : "-->"} ${nodes.ids.get(edge.to)}`
    )
  }
  if (g.children !== undefined) lines.push(...mermaidChildren(g.children, nodes.ids))
  const undeclared = g.nodes.filter((n) => n.kind === "step" && !n.declared)
  if (undeclared.length > 0) {
    lines.push(`  unknown{{"? (no emits declared)"}}:::unknown`)
    for (const node of undeclared) lines.push(`  ${nodes.ids.get(node.id)} -.-> unknown`)
  }
  lines.push(...classDefs)
  return lines.join("\n")
}

/** A run's journal: its entries, with or without their offsets. @internal */
export type RunJournal = ReadonlyArray<Journal.Stored | Journal.Entry>

const entryOf = (item: Journal.Stored | Journal.Entry): Journal.Entry =>
  "entry" in item && "offset" in item ? item.entry : (item as Journal.Entry)

const tagOfEncoded = (event: unknown): string =>
  typeof event === "object" && event !== null && typeof (event as { _tag?: unknown })._tag === "string"
    ? (event as { _tag: string })._tag
    : "?"

/**
 * The path a run actually took, from its journal (LlamaIndex's `draw_most_recent_execution`): only the events,
 * steps and waits it went through, each with how many times, and the edges it followed, with how many times; a
 * step that failed for good is marked, and a run that did not complete ends in a node saying how it ended.
 */
const runMermaid = (self: Workflow.Any, run: RunJournal): string => {
  const all = graph(self)
  const byId = new Map(all.nodes.map((node) => [node.id, node]))
  const external = externalTags(self)
  const eventNode = (tag: string): Graph.Node =>
    byId.get(`event:${tag}`) ?? {
      kind: "event",
      id: `event:${tag}`,
      tag,
      role: external.has(tag) ? "external" : "event"
    }
  const stepNode = (name: string): Graph.Node =>
    byId.get(`step:${name}`) ?? { kind: "step", id: `step:${name}`, name, workers: 1, declared: false }
  const visits = new Map<string, { node: Graph.Node; count: number; failed: boolean }>()
  const visit = (node: Graph.Node, failed = false) => {
    const seen = visits.get(node.id)
    if (seen === undefined) visits.set(node.id, { node, count: 1, failed })
    else visits.set(node.id, { node, count: seen.count + 1, failed: seen.failed || failed })
  }
  const edges = new Map<string, { from: string; to: string; waits: boolean; count: number }>()
  const follow = (from: Graph.Node, to: Graph.Node, waits = false) => {
    const key = `${from.id}->${to.id}`
    const seen = edges.get(key)
    edges.set(key, { from: from.id, to: to.id, waits, count: (seen?.count ?? 0) + 1 })
  }
  /** The tag of every event id, as the journal produced them. */
  const tags = new Map<string, string>([["0", "StartEvent"]])
  let ending: Journal.Entry | undefined
  let lastFailed: Graph.Node | undefined
  for (const item of run) {
    const entry = entryOf(item)
    switch (entry._tag) {
      case "RunStarted":
        visit(eventNode("StartEvent"))
        break
      case "InvocationCompleted": {
        const step = stepNode(entry.step)
        visit(step)
        follow(eventNode(entry.tag), step)
        for (const { id, event } of [...entry.events, ...entry.sends]) {
          const tag = tagOfEncoded(event)
          tags.set(id, tag)
          visit(eventNode(tag))
          follow(step, eventNode(tag))
        }
        break
      }
      case "InvocationFailed": {
        const step = stepNode(entry.step)
        visit(step, true)
        lastFailed = step
        const tag = tags.get(entry.eventId)
        if (tag !== undefined) follow(eventNode(tag), step)
        if (entry.event !== undefined) {
          tags.set(entry.event.id, "StepFailed")
          visit(eventNode("StepFailed"))
          follow(step, eventNode("StepFailed"))
        }
        break
      }
      case "EventSent": {
        const tag = tagOfEncoded(entry.event)
        tags.set(entry.eventId, tag)
        visit(eventNode(tag))
        follow(stepNode(entry.step), eventNode(tag))
        break
      }
      case "ExternalEventSent": {
        const tag = tagOfEncoded(entry.event)
        tags.set(entry.eventId, tag)
        visit(eventNode(tag))
        break
      }
      case "WaiterRegistered": {
        const human: Graph.Node = byId.get(humanId(entry.step, entry.tag)) ?? {
          kind: "human",
          id: humanId(entry.step, entry.tag),
          step: entry.step,
          tag: entry.tag
        }
        visit(human)
        follow(stepNode(entry.step), human, true)
        break
      }
      case "WaiterAnswered":
        if (entry.outcome._tag === "Event") {
          const tag = tagOfEncoded(entry.outcome.answer.event)
          follow(eventNode(tag), byId.get(humanId(entry.step, tag)) ?? stepNode(entry.step))
        }
        break
      case "RunEnded":
        ending = entry
        break
    }
  }
  const nodes = mermaidNodes()
  for (const { node, count, failed } of visits.values()) {
    nodes.add(node, count > 1 ? ` ×${count}` : "", failed ? "failed" : "")
  }
  const lines = ["flowchart TD", ...nodes.lines]
  for (const edge of edges.values()) {
    const from = nodes.ids.get(edge.from)
    const to = nodes.ids.get(edge.to)
    if (from === undefined || to === undefined) continue
    const times = edge.count > 1 ? ` ×${edge.count}` : ""
    lines.push(
      `  ${from} ${edge.waits ? `-. waits${times} .->` : `==>${times === "" ? "" : `|${times.trim()}|`}`} ${to}`
    )
  }
  if (ending !== undefined && ending._tag === "RunEnded" && ending.status !== "completed") {
    const why = ending.error === undefined ? ending.status : `${ending.status}: ${ending.error.message}`
    lines.push(`  end(["${mermaidLabel(why)}"]):::stop`)
    if (lastFailed !== undefined) lines.push(`  ${nodes.ids.get(lastFailed.id)} ==> end`)
  }
  lines.push(...classDefs, "  classDef failed stroke:#a50e0e,stroke-width:3px")
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
