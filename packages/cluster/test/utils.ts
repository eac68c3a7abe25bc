import { createServer } from "node:net"
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"

/** The throwaway server the global setup started (its `postgres` database). */
export const serverUrl: string = inject("pgUrl")

let counter = 0

const admin = <A, E>(body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(PgClient.make({ url: Redacted.make(serverUrl), maxConnections: 1 }), (sql) => body(sql))
  ).pipe(Effect.provide(Reactivity.layer), Effect.orDie)

/** A new, empty schema on the test server, dropped when the scope closes: its name and a URL that uses it. */
export const freshDatabase = Effect.acquireRelease(
  Effect.suspend(() => {
    const name = `cluster_test_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`
    return admin((sql) => sql.unsafe(`CREATE SCHEMA ${name}`)).pipe(
      Effect.as({ name, url: `${serverUrl}?options=${encodeURIComponent(`-c search_path=${name}`)}` })
    )
  }),
  ({ name }) => admin((sql) => sql.unsafe(`DROP SCHEMA IF EXISTS ${name} CASCADE`))
)

/** A `PgClient` (and `SqlClient`) on `url`. */
export const clientLayer = (url: string, maxConnections = 4) =>
  PgClient.layer({ url: Redacted.make(url), maxConnections }).pipe(Layer.provide(Reactivity.layer), Layer.orDie)

/** A free TCP port on 127.0.0.1. */
export const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})
