/**
 * The `SqlClient` of `SqliteRunStore.layer({ filename })`: one better-sqlite3 connection of the store's own, built as
 * `@effect/sql-sqlite-node`'s `SqliteClient.make` builds its client (one connection, a lock taken for a transaction
 * and for a reserved connection, a prepared-statement cache), plus {@link OwnConnection}: the raw connection and
 * whether the lock is taken, so that the journal store can run its append's prepared statement synchronously, without
 * the client's per-statement plumbing, when no transaction is open on the connection.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { RunStoreError } from "@eventflow/core/WorkflowError"
import * as Cache from "effect/Cache"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** The part of a better-sqlite3 statement used here. */
export interface RawStatement {
  readonly reader: boolean
  run(...params: ReadonlyArray<unknown>): unknown
  all(...params: ReadonlyArray<unknown>): Array<unknown>
  raw(raw: boolean): RawStatement
  safeIntegers(safe: boolean): RawStatement
}

/** The part of a better-sqlite3 database used here. */
export interface RawDatabase {
  readonly inTransaction: boolean
  prepare(sql: string): RawStatement
  pragma(source: string): unknown
  close(): void
}

const load = createRequire(import.meta.url)
const driver = load.resolve("better-sqlite3")
const Sqlite = load(driver) as new (filename: string) => RawDatabase

/**
 * The checkpointer: a worker thread with a connection of its own to the file that runs a PASSIVE checkpoint of the
 * WAL every `intervalMs` (a no-op when the WAL has nothing new), so that the checkpoint's copying and fsyncs do not
 * run on the main thread inside an append. It never blocks a writer (PASSIVE takes no writer lock); the main
 * connection's automatic checkpoint stays on, at a higher bound ({@link checkpointBound}), should it fall behind.
 */
const checkpointerCode = `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.filename)
const timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)") } catch {}
}, workerData.intervalMs)
parentPort.on("message", () => {
  clearInterval(timer)
  try { db.close() } catch {}
  parentPort.close()
})
`

/** Appends on the store's own connection before the checkpointer starts (a short-lived store never starts one). */
const checkpointerAfter = 64

/** The main connection's `wal_autocheckpoint` (pages) once the checkpointer runs: the WAL's bound if it falls behind. */
export const checkpointBound = 4_000

const checkpointInterval = 50

const inMemory = (filename: string) =>
  filename === "" || filename === ":memory:" || filename.startsWith("file::memory:")

/**
 * The store's own connection, given only by {@link layer}: `isFree()` is true when no transaction (nor reserved
 * connection) holds the client's lock and no transaction is open on the connection, so that a statement run
 * synchronously now cannot interleave with one.
 *
 * @internal
 */
export class OwnConnection extends Context.Tag("@eventflow/sqlite/OwnConnection")<
  OwnConnection,
  {
    readonly db: RawDatabase
    readonly isFree: () => boolean
    /** Counts an append committed on the connection (starts the checkpointer after {@link checkpointerAfter}). */
    readonly committed: () => void
  }
>() {}

const make = (filename: string) =>
  Effect.gen(function* () {
    const compiler = Statement.makeCompilerSqlite()
    const db = yield* Effect.try({
      try: () => new Sqlite(filename),
      catch: (defect) =>
        new RunStoreError({
          operation: "open",
          cause: new Error(
            `cannot open the SQLite file ${JSON.stringify(filename)}: ${
              defect instanceof Error ? defect.message : String(defect)
            }`,
            { cause: defect }
          )
        })
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))

    const prepareCache = yield* Cache.make({
      capacity: 200,
      timeToLive: Duration.minutes(10),
      lookup: (sql: string) =>
        Effect.try({
          try: () => db.prepare(sql),
          catch: (cause) => new SqlError({ cause, message: "Failed to prepare statement " })
        })
    })

    const runStatement = (statement: RawStatement, params: ReadonlyArray<unknown>, raw: boolean) =>
      Effect.withFiberRuntime<ReadonlyArray<any>, SqlError>((fiber) => {
        if (Context.get(fiber.currentContext, Client.SafeIntegers)) statement.safeIntegers(true)
        try {
          if (statement.reader) return Effect.succeed(statement.all(...params))
          const result = statement.run(...params)
          return Effect.succeed(raw ? (result as ReadonlyArray<any>) : [])
        } catch (cause) {
          return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
        }
      })

    const run = (sql: string, params: ReadonlyArray<unknown>, raw = false) =>
      Effect.flatMap(prepareCache.get(sql), (statement) => runStatement(statement, params, raw))

    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        transformRows ? Effect.map(run(sql, params), transformRows) : run(sql, params),
      executeRaw: (sql, params) => run(sql, params, true),
      executeValues: (sql, params) =>
        Effect.acquireUseRelease(
          prepareCache.get(sql),
          (statement) =>
            Effect.try({
              try: () => {
                if (statement.reader) return statement.raw(true).all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
                statement.run(...params)
                return []
              },
              catch: (cause) => new SqlError({ cause, message: "Failed to execute statement" })
            }),
          (statement) => Effect.sync(() => statement.reader && statement.raw(false))
        ),
      executeUnprepared: (sql, params, transformRows) => {
        const effect = Effect.flatMap(
          Effect.try({
            try: () => db.prepare(sql),
            catch: (cause) => new SqlError({ cause, message: "Failed to prepare statement " })
          }),
          (statement) => runStatement(statement, params ?? [], false)
        )
        return transformRows ? Effect.map(effect, transformRows) : effect
      },
      executeStream: () => Effect.dieMessage("executeStream not implemented")
    }

    // The lock of the connection: held by a transaction (or a reserved connection) for its whole scope; a statement
    // outside a transaction waits for it. `held` mirrors it for `isFree`.
    const semaphore = yield* Effect.makeSemaphore(1)
    let held = 0
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => {
            held++
            return Scope.addFinalizer(
              scope,
              Effect.suspend(() => {
                held--
                return semaphore.release(1)
              })
            )
          })
        ),
        connection
      )
    )

    const client = yield* Client.make({
      acquirer,
      compiler,
      transactionAcquirer,
      spanAttributes: [["db.system.name", "sqlite"]]
    })

    let commits = 0
    let checkpointer: Worker | undefined
    const startCheckpointer = () => {
      try {
        checkpointer = new Worker(checkpointerCode, {
          eval: true,
          execArgv: [],
          workerData: { driver, filename, intervalMs: checkpointInterval }
        })
        checkpointer.unref()
        checkpointer.on("error", () => {})
        // A checkpointer that stopped (it could not open the file, say): the main connection checkpoints as before.
        checkpointer.once("exit", () => {
          exited = true
          if (!closing) db.pragma("wal_autocheckpoint = 1000")
        })
        db.pragma(`wal_autocheckpoint = ${checkpointBound}`)
      } catch {
        // No worker: the main connection keeps checkpointing as SQLite does by default.
      }
    }
    let exited = false
    let closing = false
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        if (checkpointer === undefined || exited) return Effect.void
        const worker = checkpointer
        return Effect.async<void>((resume) => {
          let resumed = false
          const done = () => {
            if (resumed) return
            resumed = true
            clearTimeout(timeout)
            resume(Effect.void)
          }
          // Waits at most 5 s for the worker to close its connection and exit.
          const timeout = setTimeout(() => {
            void worker.terminate()
            done()
          }, 5_000)
          worker.once("exit", done)
          worker.postMessage("close")
        })
      })
    )
    const committed = inMemory(filename)
      ? () => {}
      : () => {
          if (++commits === checkpointerAfter) startCheckpointer()
        }
    return { client, own: OwnConnection.of({ db, isFree: () => held === 0 && !db.inTransaction, committed }) }
  })

/**
 * A client of the store's own on `filename` and its {@link OwnConnection}; a file that cannot be opened fails with
 * `RunStoreError` "open".
 *
 * @internal
 */
export const layer = (filename: string): Layer.Layer<Client.SqlClient | OwnConnection, RunStoreError> =>
  Layer.scopedContext(
    Effect.map(make(filename), ({ client, own }) =>
      Context.make(Client.SqlClient, client).pipe(Context.add(OwnConnection, own))
    )
  ).pipe(Layer.provide(Reactivity.layer))
