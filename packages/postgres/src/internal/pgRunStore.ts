/**
 * The PostgreSQL run store: one row per run in `eventflow_runs` (summary and the last snapshot as JSON text).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as RunStore from "@eventflow/core/RunStore"
import { RunStore as RunStoreTag } from "@eventflow/core/RunStore"
import type * as Snapshot from "@eventflow/core/Snapshot"
import * as SnapshotModule from "@eventflow/core/Snapshot"
import { RunStoreError } from "@eventflow/core/WorkflowError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type ClientOptions, clientLayer, open, withReason } from "./schema.js"

type Operation = RunStoreError["operation"]

const mapErrors =
  (operation: Operation, runId?: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, RunStoreError, R> =>
    Effect.mapError(effect, (cause) => new RunStoreError({ operation, runId, cause: withReason(cause) }))

const SummaryRow = Schema.Struct({
  run_id: Schema.String,
  workflow: Schema.String,
  status: SnapshotModule.Status,
  created_at: Schema.Number,
  updated_at: Schema.Number
})

const decodeSummaries = Schema.decodeUnknown(Schema.Array(SummaryRow))

/** `LIMIT … OFFSET …` of a list filter (integers only: they are written into the statement). */
export const page = (
  filter: { readonly limit?: number | undefined; readonly offset?: number | undefined } | undefined
) =>
  `${filter?.limit === undefined ? "" : `LIMIT ${Math.max(0, Math.trunc(filter.limit))}`} OFFSET ${Math.max(
    0,
    Math.trunc(filter?.offset ?? 0)
  )}`

/** @internal */
export const make = (): Effect.Effect<RunStore.Service, RunStoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    // Column names are ours: a client configured to rename columns must not rename them.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* open(sql).pipe(mapErrors("open"))

    // One statement: the run's row is replaced whole or not at all.
    const save = (snapshot: Snapshot.Snapshot) =>
      Effect.try(() => JSON.stringify(snapshot)).pipe(
        Effect.flatMap(
          (json) =>
            sql`INSERT INTO eventflow_runs (run_id, workflow, status, created_at, updated_at, snapshot)
              VALUES (${snapshot.runId}, ${snapshot.workflow}, ${snapshot.status}, ${snapshot.createdAt},
                ${snapshot.updatedAt}, ${json})
              ON CONFLICT (run_id) DO UPDATE SET
                workflow = excluded.workflow,
                status = excluded.status,
                created_at = excluded.created_at,
                updated_at = excluded.updated_at,
                snapshot = excluded.snapshot`
        ),
        Effect.asVoid,
        mapErrors("save", snapshot.runId)
      )

    const load = (runId: string) =>
      sql<{ readonly snapshot: string }>`SELECT snapshot FROM eventflow_runs WHERE run_id = ${runId}`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 0
            ? Effect.succeed(Option.none<Snapshot.Snapshot>())
            : Effect.try(() => Option.some(JSON.parse(rows[0].snapshot) as Snapshot.Snapshot))
        ),
        mapErrors("load", runId)
      )

    const list = (filter?: RunStore.ListFilter) => {
      const where = sql.and([
        ...(filter?.workflow === undefined ? [] : [sql`workflow = ${filter.workflow}`]),
        ...(filter?.status === undefined ? [] : [sql.in("status", filter.status)])
      ])
      return sql`SELECT run_id, workflow, status, created_at::float8 AS created_at, updated_at::float8 AS updated_at
        FROM eventflow_runs WHERE ${where} ORDER BY created_at DESC, run_id COLLATE "C" ASC ${sql.unsafe(
          page(filter)
        )}`.pipe(
        Effect.flatMap(decodeSummaries),
        Effect.map((rows) =>
          rows.map(
            (row): RunStore.RunSummary => ({
              runId: row.run_id,
              workflow: row.workflow,
              status: row.status,
              createdAt: row.created_at,
              updatedAt: row.updated_at
            })
          )
        ),
        mapErrors("list")
      )
    }

    const remove = (runId: string) =>
      sql`DELETE FROM eventflow_runs WHERE run_id = ${runId}`.pipe(Effect.asVoid, mapErrors("remove", runId))

    return RunStoreTag.of({ save, load, list, remove })
  })

/** @internal */
export const layerFromClient = (): Layer.Layer<RunStore.RunStore, RunStoreError, SqlClient.SqlClient> =>
  Layer.effect(RunStoreTag, make())

/** @internal */
export const layer = (options: ClientOptions): Layer.Layer<RunStore.RunStore, RunStoreError> =>
  layerFromClient().pipe(
    Layer.provide(clientLayer(options, (cause) => new RunStoreError({ operation: "open", cause })))
  )
