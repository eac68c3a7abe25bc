/**
 * The health of the server's `RunStore`: every operation of the store goes through a wrapper that notices failures
 * (the store is then `degraded`, and the failure is logged once) and successes (a successful write ends it).
 *
 * @internal
 */
import { JournalStore, RunStore, type Snapshot } from "@eventflow/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/** @internal */
export interface StoreStatus {
  readonly status: "ok" | "degraded"
  /** Why the store is degraded: the last failure's message. */
  readonly error?: string | undefined
  /** Since when (epoch milliseconds). */
  readonly since?: number | undefined
}

/** @internal */
export interface StoreHealth {
  /** The store the runs use: the same store, its failures and successes observed. */
  readonly store: RunStore.Service
  /** The journal store durable runs append to, observed the same way (when the server has one). */
  readonly journal: JournalStore.Service | undefined
  /**
   * The current status. While degraded, it first probes the store (at most once a second): a write and a read of a
   * probe record, so that a store that works again reports `ok` even when no run writes to it.
   */
  readonly status: Effect.Effect<StoreStatus>
}

/** The run id of the record the probe writes and removes again. @internal */
export const probeRunId = "eventflow-store-probe"

const probeSnapshot = (now: number): Snapshot.Snapshot => ({
  version: 1,
  workflow: probeRunId,
  runId: probeRunId,
  status: "cancelled",
  createdAt: now,
  updatedAt: now,
  state: null,
  external: 0,
  queued: [],
  inFlight: [],
  collected: [],
  waiters: [],
  pending: [],
  unclaimed: [],
  published: []
})

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const causeOf = (error: unknown): unknown =>
  typeof error === "object" && error !== null && "cause" in error
    ? (error as { readonly cause: unknown }).cause
    : undefined

/** @internal */
export const make = (store: RunStore.Service, journal?: JournalStore.Service): Effect.Effect<StoreHealth> =>
  Effect.sync(() => {
    let current: StoreStatus = { status: "ok" }
    let lastProbe = 0
    // A corrupt database does not heal by itself (a write that works elsewhere in the file says nothing): it stays
    // degraded until the process restarts on a repaired file.
    let corrupt = false

    const failed = (error: unknown) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const message = messageOf(error)
        if (
          /malformed|corrupt|not a database|SQLITE_CORRUPT|SQLITE_NOTADB/i.test(
            `${message} ${messageOf(causeOf(error))}`
          )
        ) {
          corrupt = true
        }
        if (current.status === "degraded") {
          current = { ...current, error: message }
          return Effect.void
        }
        current = { status: "degraded", error: message, since: now }
        return Effect.logError(
          "eventflow server: the run store failed; /health reports it degraded and /ready answers 503 until it " +
            "works again (runs wait and retry their checkpoints; requests that need a write answer 503 " +
            "StoreUnavailable). Check the disk and the database file.",
          error
        )
      })
    const recovered = Effect.suspend(() => {
      if (current.status === "ok" || corrupt) return Effect.void
      const since = current.since
      current = { status: "ok" }
      return Effect.logInfo(`eventflow server: the run store works again (degraded since ${since})`)
    })
    const observe = <A, E>(operation: Effect.Effect<A, E>, write: boolean) =>
      operation.pipe(
        // A defect of the store (e.g. an error it did not map) is a failure of the store too (and stays a defect).
        Effect.tapErrorCause((cause) => (Cause.isInterruptedOnly(cause) ? Effect.void : failed(Cause.squash(cause)))),
        Effect.tap(() => (write ? recovered : Effect.void))
      )
    const observed: RunStore.Service = RunStore.RunStore.of({
      save: (snapshot) => observe(store.save(snapshot), true),
      load: (runId) => observe(store.load(runId), false),
      list: (filter) => observe(store.list(filter), false),
      remove: (runId) => observe(store.remove(runId), true)
    })

    const observedJournal: JournalStore.Service | undefined =
      journal === undefined
        ? undefined
        : JournalStore.JournalStore.of({
            append: (runId, entries, options) => observe(journal.append(runId, entries, options), true),
            read: (runId, fromOffset) => observe(journal.read(runId, fromOffset), false),
            load: (runId) => observe(journal.load(runId), false),
            compact: (runId, snapshot, upToOffset) => observe(journal.compact(runId, snapshot, upToOffset), true),
            list: (filter) => observe(journal.list(filter), false),
            summary: (runId) => observe(journal.summary(runId), false),
            remove: (runId) => observe(journal.remove(runId), true)
          })

    const probe = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (current.status === "ok" || corrupt || now - lastProbe < 1000) return Effect.void
      lastProbe = now
      return Effect.ignore(
        Effect.all([
          observed.save(probeSnapshot(now)),
          observed.load(probeRunId),
          observed.list({ limit: 1 }),
          observed.remove(probeRunId)
        ])
      )
    })

    return {
      store: observed,
      journal: observedJournal,
      status: Effect.zipRight(
        probe,
        Effect.sync(() => current)
      )
    }
  })
