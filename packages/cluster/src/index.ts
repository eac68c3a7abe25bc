/**
 * @since 0.1.0
 */

/**
 * The cluster `RunEngine` (`ClusterEngine.layer`, alias `layerCluster`): runs sharded over processes with
 * `@effect/cluster`, journaled to PostgreSQL, continued on another runner when theirs dies.
 *
 * @since 0.1.0
 */
export * as ClusterEngine from "./ClusterEngine.js"
