import { spawn } from "node:child_process"
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Deferred, Effect, Layer, Queue, Redacted } from "effect"
import { inject } from "vitest"

/** The throwaway server the global setup started (its `postgres` database). */
export const serverUrl: string = inject("pgUrl")

let counter = 0

const admin = <A, E>(body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(PgClient.make({ url: Redacted.make(serverUrl), maxConnections: 1 }), (sql) => body(sql))
  ).pipe(Effect.provide(Reactivity.layer), Effect.orDie)

/**
 * A new, empty schema on the test server (a database of its own would take a second to create), dropped when the
 * scope closes: its name and a URL whose connections use it (`search_path`).
 */
export const freshDatabase = Effect.acquireRelease(
  Effect.suspend(() => {
    const name = `eventflow_test_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`
    return admin((sql) => sql.unsafe(`CREATE SCHEMA ${name}`)).pipe(
      Effect.as({ name, url: `${serverUrl}?options=${encodeURIComponent(`-c search_path=${name}`)}` })
    )
  }),
  ({ name }) => admin((sql) => sql.unsafe(`DROP SCHEMA IF EXISTS ${name} CASCADE`))
)

/** A `PgClient` (and `SqlClient`) on `url`. */
export const clientLayer = (url: string, maxConnections = 10) =>
  PgClient.layer({ url: Redacted.make(url), maxConnections }).pipe(Layer.provide(Reactivity.layer), Layer.orDie)

/** A child process running a fixture of `test/fixtures/`: its output lines, its stdin, its exit code. */
export interface Child {
  readonly line: Effect.Effect<string>
  readonly send: (line: string) => Effect.Effect<void>
  readonly exit: Effect.Effect<number | null>
  readonly stderr: () => string
}

/** Spawns `pg-writer.ts` with `args`; it is killed (SIGKILL) when the scope closes, if still running. */
export const spawnWriter = (args: ReadonlyArray<string>) => spawnFixture("pg-writer.ts", args)

/** Spawns `test/fixtures/<fixture>` with `args`; it is killed (SIGKILL) when the scope closes, if still running. */
export const spawnFixture = (fixture: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const lines = yield* Queue.unbounded<string>()
    const exited = yield* Deferred.make<number | null>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          process.execPath,
          ["--conditions=source", "--import", "tsx", `packages/postgres/test/fixtures/${fixture}`, ...args],
          { stdio: ["pipe", "pipe", "pipe"] }
        )
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )
    let err = ""
    let pending = ""
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      const parts = pending.split("\n")
      pending = parts.pop()!
      for (const part of parts) Queue.unsafeOffer(lines, part)
    })
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")))
    child.on("close", (code) => Deferred.unsafeDone(exited, Effect.succeed(code)))
    // A line, or a defect with the child's stderr when it exits without printing one.
    const line = Effect.raceFirst(
      Queue.take(lines),
      Effect.flatMap(Deferred.await(exited), (code) =>
        Effect.flatMap(Effect.yieldNow(), () =>
          Queue.poll(lines).pipe(
            Effect.flatMap((next) =>
              next._tag === "Some"
                ? Effect.succeed(next.value)
                : Effect.dieMessage(`${fixture} ${args.join(" ")} exited with ${code}: ${err}`)
            )
          )
        )
      )
    )
    return {
      line,
      send: (text: string) => Effect.sync(() => void child.stdin.write(`${text}\n`)),
      exit: Deferred.await(exited),
      stderr: () => err
    } satisfies Child
  })
