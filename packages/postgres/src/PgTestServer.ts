/**
 * A throwaway PostgreSQL server for tests and benchmarks: a new data folder in a temporary directory, a server
 * listening on 127.0.0.1 on a free port, stopped and deleted when the scope closes. It needs PostgreSQL's server
 * binaries (`initdb`, `pg_ctl`); when they are missing it fails with `PgTestServerError` saying how to install them.
 *
 * Run as root (a container, CI), the server runs as the `postgres` user (created when missing), as PostgreSQL
 * refuses to run as root.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/testServer.js"

/**
 * A running server: its URL (user `postgres`, no password, database `postgres`), port and data folder.
 *
 * @since 0.1.0
 * @category Models
 */
export interface PgTestServer {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** The folder of the `initdb` and `pg_ctl` binaries that were used. */
  readonly binDir: string
}

/**
 * Options of {@link make}.
 *
 * - `settings`: server settings (`-c name=value`) on top of the defaults; the defaults are made for tests
 *   (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`): pass `{ fsync: "on" }` and so on for
 *   durability.
 * - `binDir`: the folder of `initdb` and `pg_ctl`; by default `EVENTFLOW_PG_BIN`, then
 *   `/usr/lib/postgresql/<version>/bin` (newest first), then the `PATH`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  readonly settings?: Readonly<Record<string, string>> | undefined
  readonly binDir?: string | undefined
}

/**
 * Starts a server; stops it and deletes its data when the scope closes.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: (options?: Options) => Effect.Effect<PgTestServer, internal.PgTestServerError, Scope.Scope> =
  internal.make

/**
 * Starts a server without a scope, for a test runner's global setup: returns the server and a function that stops
 * it and deletes its data.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const start: (
  options?: Options
) => Promise<{ readonly server: PgTestServer; readonly stop: () => Promise<void> }> = internal.start

/**
 * The server could not be started: the binaries are missing (the message says how to install them) or `initdb` /
 * `pg_ctl` failed (the message has their output).
 *
 * @since 0.1.0
 * @category Errors
 */
export const PgTestServerError: typeof internal.PgTestServerError = internal.PgTestServerError

/**
 * @since 0.1.0
 * @category Errors
 */
export type PgTestServerError = internal.PgTestServerError
