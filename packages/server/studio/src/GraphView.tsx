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

/** A child workflow a step declares (`children`), drawn as a cluster under that step. */
export interface ChildGraphJson {
  /** The id of the step node that runs it. */
  readonly step: string
  readonly workflow: string
  /** Absent for a recursive child (drawn around it already). */
  readonly graph?: GraphJson | undefined
}

export interface GraphJson {
  readonly nodes: ReadonlyArray<GraphNode>
  readonly edges: ReadonlyArray<{ readonly from: string; readonly to: string; readonly kind: string }>
  readonly children?: ReadonlyArray<ChildGraphJson> | undefined
}

/** A run of a child workflow, marked on the cluster of the step and workflow that started it. */
export interface ChildRunMark {
  readonly runId: string
  /** The id of the parent's step node (`step:<name>`). */
  readonly step: string
  readonly workflow: string
  readonly status: string
  /** How it is named on the cluster (e.g. `delegate@0/c1`). */
  readonly label: string
}

const labelOf = (node: GraphNode): string => (node.kind === "step" ? node.name! : node.tag!)

/** Room above a cluster's nodes for its title and one line per run (at least one line: "no run"). */
const clusterHead = (runs: number): number => 22 + 14 * Math.max(1, runs)

interface Cluster {
  readonly id: string
  readonly workflow: string
  readonly step: string
  /** Only for the clusters of the graph drawn (not of a child's own children). */
  readonly topLevel: boolean
  readonly recursive: boolean
}

interface Flat {
  readonly nodes: Array<GraphNode & { readonly key: string; readonly cluster: string | undefined }>
  readonly edges: Array<{ readonly from: string; readonly to: string; readonly kind: string }>
  readonly clusters: Array<Cluster & { readonly parent: string | undefined }>
}

/** The graph with its child workflows' graphs, node ids prefixed by their cluster (`c0:step:x`). */
const flatten = (graph: GraphJson): Flat => {
  const flat: Flat = { nodes: [], edges: [], clusters: [] }
  const walk = (g: GraphJson, prefix: string, cluster: string | undefined) => {
    for (const node of g.nodes) flat.nodes.push({ ...node, key: `${prefix}${node.id}`, cluster })
    for (const edge of g.edges) flat.edges.push({ ...edge, from: `${prefix}${edge.from}`, to: `${prefix}${edge.to}` })
    g.children?.forEach((child, k) => {
      const id = `${prefix}c${k}`
      flat.clusters.push({
        id,
        workflow: child.workflow,
        step: child.step,
        topLevel: prefix === "",
        recursive: child.graph === undefined,
        parent: cluster
      })
      if (child.graph === undefined) {
        flat.edges.push({ from: `${prefix}${child.step}`, to: id, kind: "runs" })
        return
      }
      walk(child.graph, `${id}:`, id)
      const start = child.graph.nodes.find((n) => n.id === "event:StartEvent") ?? child.graph.nodes[0]
      if (start !== undefined)
        flat.edges.push({ from: `${prefix}${child.step}`, to: `${id}:${start.id}`, kind: "runs" })
    })
  }
  walk(graph, "", undefined)
  return flat
}

export const GraphView = (props: {
  readonly graph: GraphJson
  readonly counts?: ReadonlyMap<string, number> | undefined
  readonly testid?: string
  /** The child runs this run started: marked (and linked) on their clusters. */
  readonly childRuns?: ReadonlyArray<ChildRunMark> | undefined
}) => {
  const flat = flatten(props.graph)
  const runsOf = (cluster: Cluster): ReadonlyArray<ChildRunMark> =>
    cluster.topLevel
      ? (props.childRuns ?? []).filter((r) => r.step === cluster.step && r.workflow === cluster.workflow)
      : []
  const compound = flat.clusters.length > 0
  const g = new Graph({ compound })
  g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: compound ? 48 : 36, marginx: 8, marginy: 8 })
  g.setDefaultEdgeLabel(() => ({}))
  for (const node of flat.nodes) {
    g.setNode(node.key, {
      width: Math.max(72, labelOf(node).length * 7.4 + (node.kind === "human" ? 44 : 28)),
      height: 32
    })
  }
  for (const cluster of flat.clusters) {
    // A recursive child is one box (its graph is drawn around it); the others are laid out around their nodes.
    if (cluster.recursive)
      g.setNode(cluster.id, { width: Math.max(120, cluster.workflow.length * 7.4 + 40), height: 32 })
    else g.setNode(cluster.id, {})
  }
  if (compound) {
    for (const node of flat.nodes) if (node.cluster !== undefined) g.setParent(node.key, node.cluster)
    for (const cluster of flat.clusters) if (cluster.parent !== undefined) g.setParent(cluster.id, cluster.parent)
  }
  for (const edge of flat.edges) g.setEdge(edge.from, edge.to)
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
    const cluster = flat.clusters.find((c) => c.id === id && !c.recursive)
    const head = cluster === undefined ? 0 : clusterHead(runsOf(cluster).length)
    extend(n.x - n.width / 2, n.y - n.height / 2 - head)
    extend(n.x + n.width / 2, n.y + n.height / 2)
  }
  for (const e of g.edges())
    for (const p of (g.edge(e) as { points: Array<{ x: number; y: number }> }).points) extend(p.x, p.y)
  const [x0, y0] = [minX - 8, minY - 8]
  const [width, height] = [maxX - minX + 16, maxY - minY + 16]
  const counts = props.counts
  const visited = (id: string) => (counts?.get(id) ?? 0) > 0
  const kindOf = new Map(flat.edges.map((e) => [`${e.from}->${e.to}`, e.kind]))
  return (
    <svg
      class="graph"
      data-testid={props.testid ?? "graph"}
      viewBox={`${x0} ${y0} ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`graph of ${flat.nodes.length} nodes`}
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
      {flat.clusters.map((cluster) => {
        const {
          x,
          y,
          width: w,
          height: h
        } = g.node(cluster.id) as {
          x: number
          y: number
          width: number
          height: number
        }
        const runs = runsOf(cluster)
        const head = cluster.recursive ? 0 : clusterHead(runs.length)
        return (
          <g
            key={cluster.id}
            class={`cluster${cluster.recursive ? " recursive" : ""}${runs.length > 0 ? " has-runs" : ""}`}
            data-testid="child-cluster"
            data-workflow={cluster.workflow}
            data-step={cluster.step}
            data-runs={runs.length}
            transform={`translate(${x - w / 2},${y - h / 2 - head})`}
          >
            <rect width={w} height={h + head} rx={6} />
            <text x={8} y={cluster.recursive ? h / 2 + 4 : 15} class="cluster-title">
              <title>{`child workflow ${cluster.workflow}`}</title>
              {cluster.recursive ? "↻ " : "↳ "}
              {cluster.workflow}
            </text>
            {cluster.recursive ? null : runs.length === 0 ? (
              <text x={8} y={30} class="cluster-runs muted">
                no run
              </text>
            ) : (
              runs.map((run, i) => (
                <a
                  key={run.runId}
                  href={`#/runs/${encodeURIComponent(run.runId)}`}
                  class={`child-run ${run.status}`}
                  data-testid="graph-child-run"
                  data-run={run.runId}
                >
                  <title>{`${run.label}: open the child run`}</title>
                  <text x={8} y={30 + 14 * i} class="cluster-runs">
                    {`● ${run.label.slice(run.label.lastIndexOf("/") + 1)} ${run.status}`}
                  </text>
                </a>
              ))
            )}
          </g>
        )
      })}
      {g.edges().map((e) => {
        const points = (g.edge(e) as { points: Array<{ x: number; y: number }> }).points
        const d = points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ")
        const taken = counts !== undefined && visited(e.v) && visited(e.w)
        const runs = kindOf.get(`${e.v}->${e.w}`) === "runs"
        return (
          <path
            key={`${e.v}->${e.w}`}
            d={d}
            class={`edge${taken ? " taken" : ""}${runs ? " runs" : ""}`}
            marker-end="url(#arrow)"
          />
        )
      })}
      {flat.nodes.map((node) => {
        const {
          x,
          y,
          width: w,
          height: h
        } = g.node(node.key) as { x: number; y: number; width: number; height: number }
        // Counts are the drawn run's own: its child workflows' nodes are not counted (their runs have their own view).
        const count = node.cluster === undefined ? (counts?.get(node.id) ?? 0) : 0
        const classes = [
          "node",
          node.kind,
          node.role ?? "",
          counts === undefined || node.cluster !== undefined ? "" : count > 0 ? "visited" : "not-visited"
        ].join(" ")
        return (
          <g
            key={node.key}
            class={classes}
            data-node={node.key}
            data-count={counts === undefined || node.cluster !== undefined ? undefined : count}
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
