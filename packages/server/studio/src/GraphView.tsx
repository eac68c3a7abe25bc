/**
 * A workflow's graph (`Workflow.graph`, as JSON) laid out with dagre and drawn as SVG: steps as boxes, events as
 * pills coloured by role, `waitFor` points as human nodes. With `counts`, the nodes a run went through are
 * highlighted with how many times.
 */
import { Graph, layout } from "@dagrejs/dagre"

export interface GraphNode {
  readonly kind: "step" | "event" | "human"
  readonly id: string
  readonly name?: string
  readonly tag?: string
  readonly role?: string
}

export interface GraphJson {
  readonly nodes: ReadonlyArray<GraphNode>
  readonly edges: ReadonlyArray<{ readonly from: string; readonly to: string; readonly kind: string }>
}

const labelOf = (node: GraphNode): string => (node.kind === "step" ? node.name! : node.tag!)

export const GraphView = (props: {
  readonly graph: GraphJson
  readonly counts?: ReadonlyMap<string, number> | undefined
  readonly testid?: string
}) => {
  const g = new Graph()
  g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 36, marginx: 8, marginy: 8 })
  g.setDefaultEdgeLabel(() => ({}))
  for (const node of props.graph.nodes) {
    g.setNode(node.id, {
      width: Math.max(72, labelOf(node).length * 7.4 + (node.kind === "human" ? 44 : 28)),
      height: 32
    })
  }
  for (const edge of props.graph.edges) g.setEdge(edge.from, edge.to)
  layout(g)
  // The drawing's box: the nodes and every point of the edges (a back edge may leave the nodes' box).
  let [minX, minY, maxX, maxY] = [0, 0, 0, 0]
  const extend = (x: number, y: number) => {
    minX = Math.min(minX, x)
    minY = Math.min(minY, y)
    maxX = Math.max(maxX, x)
    maxY = Math.max(maxY, y)
  }
  for (const id of g.nodes()) {
    const n = g.node(id) as { x: number; y: number; width: number; height: number }
    extend(n.x - n.width / 2, n.y - n.height / 2)
    extend(n.x + n.width / 2, n.y + n.height / 2)
  }
  for (const e of g.edges())
    for (const p of (g.edge(e) as { points: Array<{ x: number; y: number }> }).points) extend(p.x, p.y)
  const [x0, y0] = [minX - 8, minY - 8]
  const [width, height] = [maxX - minX + 16, maxY - minY + 16]
  const counts = props.counts
  const visited = (id: string) => (counts?.get(id) ?? 0) > 0
  return (
    <svg
      class="graph"
      data-testid={props.testid ?? "graph"}
      viewBox={`${x0} ${y0} ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`graph of ${props.graph.nodes.length} nodes`}
    >
      <title>workflow graph</title>
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="8"
          markerHeight="8"
          markerUnits="userSpaceOnUse"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" class="arrow" />
        </marker>
      </defs>
      {g.edges().map((e) => {
        const points = (g.edge(e) as { points: Array<{ x: number; y: number }> }).points
        const d = points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ")
        const taken = counts !== undefined && visited(e.v) && visited(e.w)
        return <path key={`${e.v}->${e.w}`} d={d} class={taken ? "edge taken" : "edge"} marker-end="url(#arrow)" />
      })}
      {props.graph.nodes.map((node) => {
        const { x, y, width: w, height: h } = g.node(node.id) as { x: number; y: number; width: number; height: number }
        const count = counts?.get(node.id) ?? 0
        const classes = [
          "node",
          node.kind,
          node.role ?? "",
          counts === undefined ? "" : count > 0 ? "visited" : "not-visited"
        ].join(" ")
        return (
          <g
            key={node.id}
            class={classes}
            data-node={node.id}
            data-count={counts === undefined ? undefined : count}
            transform={`translate(${x - w / 2},${y - h / 2})`}
          >
            <rect width={w} height={h} rx={node.kind === "step" ? 4 : node.kind === "human" ? 2 : h / 2} />
            {node.kind === "human" ? (
              // A person: a head and shoulders.
              <g class="person" transform={`translate(12,${h / 2})`}>
                <circle cx="0" cy="-5" r="3.5" />
                <path d="M-6,8 Q-6,0 0,0 Q6,0 6,8 z" />
              </g>
            ) : null}
            <text x={node.kind === "human" ? w / 2 + 7 : w / 2} y={h / 2 + 4} text-anchor="middle">
              {labelOf(node)}
              {count > 0 ? ` ×${count}` : ""}
            </text>
          </g>
        )
      })}
    </svg>
  )
}
