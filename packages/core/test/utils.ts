/**
 * Helpers shared by the tests: wait for a condition without hanging, read a run's whole stream.
 */
import { Chunk, Effect, Stream } from "effect"
import type { RunHandle, Workflow } from "@eventflow/core"

/** Yields until `check` holds; dies (instead of hanging) when it never does. */
export const waitUntil = <E, R>(check: Effect.Effect<boolean, E, R>, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000; i++) {
      if (yield* check) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`never happened: ${what}`)
  })

/** Waits until the run's status is one of `statuses`. */
export const statusIs = (handle: RunHandle, ...statuses: ReadonlyArray<string>) =>
  waitUntil(
    Effect.map(handle.status, (s) => statuses.includes(s)),
    `status ${statuses.join(" or ")}`
  )

/** Waits for the end of a run without hanging when it never ends. */
export const resultOf = <W extends Workflow.Any>(handle: RunHandle<W>) =>
  Effect.zipRight(statusIs(handle, "completed", "failed", "cancelled", "timed-out"), handle.result)

/** Everything the run publishes (replayed and live) until its terminal event. */
export const allEvents = (handle: RunHandle, internal = false) =>
  Effect.map(Stream.runCollect(handle.events({ internal })), Chunk.toReadonlyArray)
