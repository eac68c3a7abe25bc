/**
 * `ClusterEngine`: a `RunEngine` whose runs are spread over processes with `@effect/cluster`. Each run is an entity
 * keyed by its run id, hosted by whichever runner owns the run id's shard; it runs on the unchanged interpreter and
 * journals to PostgreSQL through a fenced writer (a runner that lost the run stops it). `send`, answers and `cancel`
 * are persisted messages that reach the run from any process (sent while its runner is down, they wait in storage
 * and are delivered by the runner that takes the shard); status, results and events are read from the journal, from
 * any process, with the offsets of one machine. When a runner dies, its runs continue on another from the journal.
 *
 * `Workflow.run/start/...` and `WorkflowServer` use it by configuration: provide {@link layer}.
 *
 * @since 0.1.0
 */
import type { Sharding } from "@effect/cluster/Sharding"
import type { ShardingConfig } from "@effect/cluster/ShardingConfig"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import type * as SocketServer from "@effect/platform/SocketServer"
import {
  JournalStore,
  type JournalStoreError,
  RunEngine,
  RunStore,
  type RunStoreError,
  type Workflow
} from "@eventflow/core"
import { PgJournalStore, PgRunStore } from "@eventflow/postgres"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as internalEngine from "./internal/engine.js"
import * as entity from "./internal/entity.js"

/** A key of `pg_advisory_lock` (any fixed 64-bit number, apart from the cluster's shard locks 1000001..1000300). */
const STARTUP_LOCK = 7_311_895_026_121

/**
 * Builds the cluster's layer while holding a PostgreSQL advisory lock, released once it is built: @effect/cluster
 * creates its tables (`CREATE TABLE IF NOT EXISTS`) when it starts, and two processes doing that at once on a new
 * database race in PostgreSQL's catalog (`duplicate key value violates unique constraint
 * "pg_type_typname_nsp_index"`), which failed the start of one of them.
 */
const oneAtATime = <A, E>(
  layer: Layer.Layer<A, E, SqlClient.SqlClient>
): Layer.Layer<A, E | SqlError, SqlClient.SqlClient> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const sql = yield* SqlClient.SqlClient
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const connection = yield* sql.reserve
          yield* Effect.acquireRelease(connection.executeRaw(`SELECT pg_advisory_lock(${STARTUP_LOCK})`, []), () =>
            Effect.ignore(connection.executeRaw(`SELECT pg_advisory_unlock(${STARTUP_LOCK})`, []))
          )
          return yield* Layer.buildWithScope(layer, scope)
        })
      )
    })
  )

/**
 * The sharding settings that decide how fast the runs of a dead runner continue elsewhere (the cluster's defaults
 * are 35 s / 10 s / 3 s / 10 s, a failover of 30 s and more): a dead runner's shard locks expire after 10 s
 * (`shardLockExpiration`; fencing of the journal makes a short expiration safe), live runners refresh theirs every
 * 3 s, runners look for new assignments every second, and a message whose notification was lost is picked up from
 * storage within a second.
 *
 * @since 0.1.0
 * @category Configuration
 */
export const failoverSettings: Partial<ShardingConfig["Type"]> = {
  shardLockExpiration: "10 seconds",
  shardLockRefreshInterval: "3 seconds",
  refreshAssignmentsInterval: "1 second",
  entityMessagePollInterval: "1 second",
  runnerHealthCheckInterval: "1 second"
}

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<W extends Workflow.Any> {
  /** The workflows this process starts or hosts (every runner needs the definitions of the runs it may host). */
  readonly workflows: ReadonlyArray<W>
  /** The PostgreSQL database of the journal, the run store and the cluster's message and runner storage. */
  readonly postgres: PgJournalStore.ClientOptions
  /**
   * Where this runner listens for other runners (`host` defaults to `127.0.0.1`). Without it, the process is a
   * client only: it starts, answers and follows runs but hosts none.
   */
  readonly runner?: { readonly host?: string | undefined; readonly port: number } | undefined
  /** Sharding settings on top of {@link failoverSettings} (e.g. `shardsPerGroup`). */
  readonly sharding?: Partial<ShardingConfig["Type"]> | undefined
  /** The fallback poll of journal followers (`events`, `result`, `settled`) for a lost notification. Default 1 s. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * The cluster engine with everything it needs on one PostgreSQL pool: the `RunEngine` (so `Workflow.start`, `run`,
 * ... and `WorkflowServer` use the cluster), and the `JournalStore` and `RunStore` on PostgreSQL (so a server finds
 * finished runs). With `runner`, this process also hosts runs (the steps get the layer's context `R`).
 *
 * @example
 * ```ts
 * import { ClusterEngine } from "@eventflow/cluster"
 * import { Workflow } from "@eventflow/core"
 * import { Effect } from "effect"
 * declare const approval: Workflow.Workflow<"approval", string, string, string, undefined, "StartEvent", "StopEvent", never, never>
 *
 * const runner = ClusterEngine.layer({
 *   workflows: [approval],
 *   postgres: { url: "postgres://postgres@127.0.0.1:5432/postgres" },
 *   runner: { port: 34431 }
 * })
 * const program = Effect.gen(function* () {
 *   const handle = yield* Workflow.start(approval, "invoice 7")
 *   return handle.runId
 * }).pipe(Effect.scoped, Effect.provide(runner))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = <W extends Workflow.Any>(
  options: Options<W>
): Layer.Layer<
  RunEngine.RunEngine | JournalStore.JournalStore | RunStore.RunStore,
  JournalStoreError | RunStoreError | ConfigError | SocketServer.SocketServerError | SqlError,
  Workflow.Requirements<W>
> => {
  const client = PgJournalStore.clientLayer(options.postgres)
  const stores = Layer.effectContext(
    Effect.gen(function* () {
      const journal = yield* PgJournalStore.make()
      const snapshots = yield* PgRunStore.make()
      return Context.make(JournalStore.JournalStore, journal).pipe(
        Context.add(RunStore.RunStore, RunStore.withJournal(snapshots, journal)),
        Context.add(entity.Snapshots, snapshots)
      )
    })
  )
  const runner = options.runner
  const sharding = NodeClusterSocket.layer({
    storage: "sql",
    runnerHealth: "ping",
    clientOnly: runner === undefined,
    shardingConfig: {
      ...failoverSettings,
      ...(runner !== undefined
        ? { runnerAddress: Option.some(RunnerAddress.make(runner.host ?? "127.0.0.1", runner.port)) }
        : {}),
      ...options.sharding
    }
  }) as Layer.Layer<Sharding, ConfigError | SocketServer.SocketServerError, SqlClient.SqlClient>
  const host = runner === undefined ? Layer.empty : entity.layerHost<Workflow.Requirements<W>>(options.workflows)
  const engine = Layer.scoped(RunEngine.RunEngine, internalEngine.makeEngine(options))
  return Layer.merge(engine, host).pipe(
    Layer.provideMerge(stores),
    Layer.provide(oneAtATime(sharding)),
    Layer.provide(client)
  ) as any
}

/**
 * The name for {@link layer}: `RunEngine.layerCluster`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerCluster: typeof layer = layer
