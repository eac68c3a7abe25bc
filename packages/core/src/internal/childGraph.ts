/**
 * The child workflows a step declares (`children` step option), drawn as subgraphs of the parent's graph: in
 * `Workflow.graph` as `children` (each with the child's own graph), in `Workflow.toMermaid` as a `subgraph` per
 * child, joined to the step that runs it by a dotted `runs` edge. A workflow already being drawn (a recursive child)
 * is drawn as a reference, not again.
 */
import type * as Graph from "../Graph.js"
import type * as Workflow from "../Workflow.js"

const mermaidLabel = (text: string): string => text.replace(/"/g, "#quot;")

/** The declared children of the workflow's steps, each with its graph. @internal */
export const childGraphs = (
  self: Workflow.Any,
  graphOf: (w: Workflow.Any) => Graph.Graph,
  drawing: ReadonlySet<Workflow.Any> = new Set([self])
): ReadonlyArray<Graph.ChildGraph> => {
  const out: Array<Graph.ChildGraph> = []
  for (const step of self.steps) {
    for (const child of step.children ?? []) {
      if (drawing.has(child)) {
        out.push({ step: `step:${step.name}`, workflow: child.name, graph: undefined })
        continue
      }
      const inner = new Set(drawing).add(child)
      const graph = graphOf(child)
      const children = childGraphs(child, graphOf, inner)
      out.push({
        step: `step:${step.name}`,
        workflow: child.name,
        graph: children.length === 0 ? graph : { ...graph, children }
      })
    }
  }
  return out
}

/** The Mermaid lines of the children (`ids`: the parent's Mermaid ids of its graph nodes). @internal */
export const mermaidChildren = (
  children: ReadonlyArray<Graph.ChildGraph>,
  ids: ReadonlyMap<string, string>,
  prefix = "c"
): Array<string> => {
  const lines: Array<string> = []
  children.forEach((child, i) => {
    const sub = `${prefix}${i}`
    const from = ids.get(child.step)
    lines.push(`  subgraph ${sub}["${mermaidLabel(`child workflow: ${child.workflow}`)}"]`)
    if (child.graph === undefined) {
      lines.push(`    ${sub}_ref["${mermaidLabel(`${child.workflow} (drawn above)`)}"]:::step`)
    } else {
      const inner = new Map<string, string>()
      let n = 0
      for (const node of child.graph.nodes) {
        const id = `${sub}_${n++}`
        inner.set(node.id, id)
        lines.push(
          node.kind === "step"
            ? `    ${id}["${mermaidLabel(node.name)}"]:::step`
            : node.kind === "event"
              ? `    ${id}(["${mermaidLabel(node.tag)}"]):::${node.role === "event" ? "event" : node.role}`
              : `    ${id}[/"${mermaidLabel(`👤 ${node.tag}`)}"/]:::human`
        )
      }
      for (const edge of child.graph.edges) {
        lines.push(
          `    ${inner.get(edge.from)} ${edge.kind === "waits" ? "-. waits .->" : "-->"} ${inner.get(edge.to)}`
        )
      }
      if (child.graph.children !== undefined) lines.push(...mermaidChildren(child.graph.children, inner, `${sub}_c`))
    }
    lines.push("  end")
    if (from !== undefined) lines.push(`  ${from} -. runs .-> ${sub}`)
  })
  return lines
}
