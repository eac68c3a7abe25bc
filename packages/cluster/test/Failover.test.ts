import * as SqlClient from "@effect/sql/SqlClient"
import { ClusterEngine } from "@eventflow/cluster"
import { HumanResponse, RunEngine, Workflow } from "@eventflow/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Schedule } from "effect"
import { clusterJob, layerExecutions } from "./fixtures/workflows.js"
import { clientLayer, freePort, freshDatabase, spawnRunner } from "./utils.js"

/** Runs of the test: each fans out to WIDTH workers, waits for a person, loops once more, waits again, completes. */
const RUNS = Number(process.env.CLUSTER_FAILOVER_RUNS ?? 200)
const WIDTH = 3
const ROUNDS = 2
const WORK_MILLIS = 300

describe("ClusterEngine, two runner processes", () => {
  it.live(
    `kill -9 of a runner in the middle: ${RUNS} runs with fan-out, waits and a loop each complete exactly once on the other`,
    () =>
      Effect.gen(function* () {
        const { url } = yield* freshDatabase
        const a = yield* spawnRunner(url, yield* freePort)
        const b = yield* spawnRunner(url, yield* freePort)
        yield* a.ready
        yield* b.ready
        // Both runners hold their shards before runs start (so no run moves between them except by the kill).
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql
            .unsafe<{ runners: number; shards: number }>(
              `SELECT count(DISTINCT pid)::int AS runners, count(*)::int AS shards FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND objid BETWEEN 1000001 AND 1000300
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
            )
            .pipe(
              Effect.orDie,
              Effect.repeat({
                until: (rows) => rows[0]!.runners === 2 && rows[0]!.shards === 300,
                schedule: Schedule.spaced("200 millis")
              }),
              Effect.timeoutFail({
                duration: "60 seconds",
                onTimeout: () => new Error("the two runners did not share the 300 shards within 60 s")
              })
            )
        ).pipe(Effect.provide(clientLayer(url)))
        // This process is a client only: it starts, answers and follows runs, the runners host them.
        const client = ClusterEngine.layer({ workflows: [clusterJob], postgres: { url } }).pipe(
          Layer.provideMerge(layerExecutions),
          Layer.provideMerge(clientLayer(url))
        )
        yield* Effect.gen(function* () {
          const engine = yield* RunEngine.RunEngine
          const sql = yield* SqlClient.SqlClient
          const handles = yield* Effect.forEach(
            Array.from({ length: RUNS }, (_, i) => i),
            () => Workflow.start(clusterJob, { width: WIDTH, rounds: ROUNDS, workMillis: WORK_MILLIS }),
            { concurrency: 20 }
          )
          // Every run waits for its first answer.
          const first = yield* Effect.forEach(handles, (h) => engine.settled(h.runId), { concurrency: 50 })
          expect(first.every((s) => s === "waiting")).toBe(true)
          // Which runner hosts which run: the process that executed its first workers.
          const hosts = yield* sql.unsafe<{ run_id: string; pid: number }>(
            "SELECT DISTINCT run_id, pid FROM cluster_test_executions"
          )
          const onA = new Set(hosts.filter((r) => r.pid === a.pid).map((r) => r.run_id))
          expect(onA.size).toBeGreaterThan(0)
          expect(onA.size).toBeLessThan(RUNS)
          // Half the runs are answered: their second round of workers starts (WORK_MILLIS each)...
          const working = handles.filter((_, i) => i % 2 === 0)
          const waiting = handles.filter((_, i) => i % 2 === 1)
          yield* Effect.forEach(working, (h) => engine.send(h.runId, HumanResponse.make({ response: "go" })), {
            concurrency: 50
          })
          // ... and runner A is killed while they work.
          yield* a.kill
          const killedAt = yield* Clock.currentTimeMillis
          // The other half is answered while A is dead: the answers to A's runs wait in storage.
          const answered = yield* Effect.fork(
            Effect.forEach(
              waiting,
              (h) =>
                Effect.zipRight(engine.send(h.runId, HumanResponse.make({ response: "go" })), Clock.currentTimeMillis),
              { concurrency: "unbounded" }
            )
          )
          // Every answer is delivered (each send returns once its run journaled it: from then on the run is running
          // its second round, so `settled` below waits for the second prompt, not the first).
          const deliveredAt = yield* Fiber.join(answered)
          // Every run waits for its second answer (on B), gets it, and completes. (An answer sent before the second
          // prompt exists would be parked, and a fresh prompt takes no earlier answer: core's rule.)
          const second = yield* Effect.forEach(handles, (h) => engine.settled(h.runId), { concurrency: 50 })
          expect(second.every((s) => s === "waiting")).toBe(true)
          yield* Effect.forEach(handles, (h) => engine.send(h.runId, HumanResponse.make({ response: "done" })), {
            concurrency: 50
          })
          const results = yield* Effect.forEach(handles, (h) => h.result, { concurrency: 50 })
          expect(results).toEqual(handles.map(() => ({ rounds: ROUNDS, answers: ["go", "done"] })))

          // Exactly once: one RunEnded per run, completed.
          const ends = yield* sql.unsafe<{ n: number; runs: number }>(
            `SELECT count(*)::int AS n, count(DISTINCT run_id)::int AS runs FROM eventflow_journal_entries
             WHERE tag = 'RunEnded'`
          )
          expect(ends[0]).toEqual({ n: RUNS, runs: RUNS })
          // No completed invocation ran again: no execution started with its completion already journaled, and an
          // invocation executed twice was first executed by the killed runner (in flight when it died).
          const executions = yield* sql.unsafe<{
            run_id: string
            event_id: string
            pids: Array<number>
            already: boolean
          }>(
            `SELECT run_id, event_id, array_agg(pid ORDER BY at) AS pids, bool_or(already_completed) AS already
             FROM cluster_test_executions GROUP BY run_id, event_id`
          )
          expect(executions.length).toBe(RUNS * WIDTH * ROUNDS)
          expect(executions.filter((e) => e.already)).toEqual([])
          const again = executions.filter((e) => e.pids.length > 1)
          expect(again.filter((e) => e.pids.length !== 2 || e.pids[0] !== a.pid || e.pids[1] !== b.pid)).toEqual([])
          // Failover: the first execution on B of a run A hosted, and the last answer delivered during the outage.
          const resumed = yield* sql.unsafe<{ at: number }>(
            `SELECT (extract(epoch FROM min(at)) * 1000)::float8 AS at FROM cluster_test_executions
             WHERE pid = $1 AND run_id = ANY($2)`,
            [b.pid, Array.from(onA)]
          )
          const firstProgress = resumed[0]!.at - killedAt
          const allDelivered = Math.max(...deliveredAt) - killedAt
          console.log(
            `failover: ${onA.size} of ${RUNS} runs on the killed runner; first progress on the other after ` +
              `${Math.round(firstProgress)} ms; every answer sent during the outage delivered after ${allDelivered} ms; ` +
              `${again.length} invocations in flight at the kill executed again`
          )
          expect(firstProgress).toBeLessThan(60_000)
          expect(allDelivered).toBeLessThan(60_000)
          const rows = yield* sql.unsafe<{ entries: number; messages: number; replies: number }>(
            `SELECT (SELECT count(*) FROM eventflow_journal_entries)::int AS entries,
                    (SELECT count(*) FROM cluster_messages)::int AS messages,
                    (SELECT count(*) FROM cluster_replies)::int AS replies`
          )
          console.log(`rows per run: ${JSON.stringify(rows[0])} for ${RUNS} runs`)
        }).pipe(Effect.provide(client))
      }).pipe(Effect.scoped),
    600_000
  )
})
