import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { PgTestServer } from "@eventflow/postgres"
import { Effect } from "effect"
import { clientLayer } from "./utils.js"

describe("PgTestServer", () => {
  it.live(
    "starts a server on 127.0.0.1 that takes connections, and deletes its data when the scope closes",
    () =>
      Effect.gen(function* () {
        // The server lives in the inner scope, closed when it ends (also when an assertion fails).
        const server = yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* PgTestServer.make()
            assert.match(server.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
            assert.isTrue(fs.existsSync(path.join(server.dataDir, "PG_VERSION")))
            const [row] = yield* Effect.provide(
              Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ listen_addresses: string }>`SHOW listen_addresses`),
              clientLayer(server.url)
            )
            assert.strictEqual(row.listen_addresses, "127.0.0.1")
            return server
          })
        )
        assert.isFalse(fs.existsSync(server.dataDir))
      }),
    60_000
  )

  it.scoped("a folder without initdb and pg_ctl fails with PgTestServerError saying how to install them", () =>
    Effect.gen(function* () {
      const empty = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-no-pg-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(empty, { recursive: true, force: true })))
      const error = yield* Effect.flip(PgTestServer.make({ binDir: empty }))
      assert.strictEqual(error._tag, "PgTestServerError")
      assert.include(error.message, empty)
      assert.include(error.message, "apt-get update && apt-get install -y postgresql-15")
      assert.include(error.message, "EVENTFLOW_PG_BIN")
    })
  )
})
