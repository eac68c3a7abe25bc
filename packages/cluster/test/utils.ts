import { spawn } from "node:child_process"
import { createServer } from "node:net"
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Deferred, Effect, Exit, FiberId, Redacted } from "effect"
import { inject } from "vitest"

/** The throwaway server the global setup started (its `postgres` database). */
export const serverUrl: string = inject("pgUrl")

let counter = 0

const admin = <A, E>(body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(PgClient.make({ url: Redacted.make(serverUrl), maxConnections: 1 }), (sql) => body(sql))
  ).pipe(Effect.provide(Reactivity.layer), Effect.orDie)

/**
 * A new, empty database on the test server, dropped when the scope closes: its name and URL. A database, not a schema:
 * the cluster's shard locks are PostgreSQL advisory locks, which are per database.
 */
export const freshDatabase = Effect.acquireRelease(
  Effect.suspend(() => {
    const name = `cluster_test_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    return admin((sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(Effect.as({ name, url: url.toString() }))
  }),
  ({ name }) => admin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
)

export { clientLayer } from "./fixtures/pg.js"

/** A free TCP port on 127.0.0.1. */
export const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A runner process (`test/fixtures/runner.ts`): its `ready` line, its exit, and SIGKILL. */
export interface Runner {
  readonly pid: number
  readonly ready: Effect.Effect<void>
  readonly kill: Effect.Effect<void>
  readonly output: () => string
}

/** Spawns a runner on `url` listening on `port`; killed (SIGKILL) when the scope closes, if still running. */
export const spawnRunner = (url: string, port: number) => spawnFixture("runner.ts", [url, String(port)])

/** Spawns a server process (`test/fixtures/server.ts`): a runner on `runnerPort` serving HTTP on `httpPort`. */
export const spawnServer = (url: string, runnerPort: number, httpPort: number) =>
  spawnFixture("server.ts", [url, String(runnerPort), String(httpPort)])

const spawnFixture = (fixture: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          process.execPath,
          ["--conditions=source", "--import", "tsx", `packages/cluster/test/fixtures/${fixture}`, ...args],
          { stdio: ["ignore", "pipe", "pipe"] }
        )
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    let out = ""
    const ready = Deferred.unsafeMake<void>(FiberId.none)
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8")
      if (out.includes("ready ")) Deferred.unsafeDone(ready, Exit.void)
    })
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    child.on("exit", (code, signal) =>
      Deferred.unsafeDone(ready, Exit.die(new Error(`runner exited (${code ?? signal}) before ready: ${out}`)))
    )
    return {
      pid: child.pid!,
      ready: Deferred.await(ready),
      kill: Effect.async<void>((resume) => {
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      }),
      output: () => out
    } satisfies Runner
  })
