/**
 * The graph of a workflow: its steps, the events they accept and the events they declare in `emits`.
 *
 * @since 0.1.0
 */

/**
 * A node of the graph: a step or an event type.
 *
 * @since 0.1.0
 * @category Models
 */
export type Node =
  | {
      readonly kind: "step"
      readonly id: string
      readonly name: string
      readonly workers: number | "Infinity"
      /** `false` when the step has no `emits` option: its outputs are unknown. */
      readonly declared: boolean
    }
  | {
      readonly kind: "event"
      readonly id: string
      readonly tag: string
      readonly role: "start" | "stop" | "external" | "input-required" | "failure" | "event"
    }
  | {
      /** A `ctx.waitFor` point: the step `step` waits for an event of tag `tag` (a person's answer, usually). */
      readonly kind: "human"
      readonly id: string
      readonly step: string
      readonly tag: string
    }

/**
 * An edge: an event accepted by a step (`accepts`), a step declaring it emits an event (`emits`), or a step waiting
 * at a human node (`waits`, from the step's `waitsFor` option).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Edge {
  readonly from: string
  readonly to: string
  readonly kind: "accepts" | "emits" | "waits"
}

/**
 * The graph as plain JSON.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Graph {
  readonly workflow: string
  readonly nodes: ReadonlyArray<Node>
  readonly edges: ReadonlyArray<Edge>
  /** The child workflows its steps declare (`children` step option); absent when there are none. */
  readonly children?: ReadonlyArray<ChildGraph> | undefined
}

/**
 * A child workflow a step declares it runs (`ctx.run` / `ctx.start`, declared with the `children` step option).
 *
 * @since 0.1.0
 * @category Models
 */
export interface ChildGraph {
  /** The id of the step node that runs it. */
  readonly step: string
  /** The child workflow's name. */
  readonly workflow: string
  /** Its graph; `undefined` for a workflow already drawn around it (a recursive child). */
  readonly graph: Graph | undefined
}
