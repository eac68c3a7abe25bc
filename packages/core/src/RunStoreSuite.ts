/**
 * The conformance suite every {@link RunStore} passes: save and load, replace, list filters, order and paging,
 * remove, concurrent saves. Like {@link JournalStoreSuite} it does not depend on a test framework: `cases` is a list
 * of named effects that fail (or die) when the store misbehaves. Run each with a fresh, empty store in context, for
 * example with `@effect/vitest`:
 *
 * ```ts
 * import { describe, it } from "@effect/vitest"
 * import { RunStore, RunStoreSuite } from "@eventflow/core"
 * import { Effect } from "effect"
 *
 * describe("RunStore.layerMemory", () => {
 *   for (const test of RunStoreSuite.cases) {
 *     it.scoped(test.name, () => Effect.provide(test.run, RunStore.layerMemory))
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { canonicalJson } from "./internal/journal.js"
import { RunStore, type RunSummary, unfinished } from "./RunStore.js"
import type { Snapshot, Status } from "./Snapshot.js"

/**
 * One case of the suite: run it with a fresh, empty store in context.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Case {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, RunStore | Scope.Scope>
}

class SuiteFailure extends Error {}

const fail = (message: string): never => {
  throw new SuiteFailure(message)
}

/** Equal as JSON values (key order aside); `what` names the check. */
const equal = (actual: unknown, expected: unknown, what = "value"): void => {
  const a = canonicalJson(actual)
  const e = canonicalJson(expected)
  if (a !== e) fail(`${what}:\n  expected ${e}\n  actual   ${a}`)
}

const truthy = (value: boolean, what: string): void => {
  if (!value) fail(what)
}

const ids = (runs: ReadonlyArray<RunSummary>) => runs.map((run) => run.runId)

// --- snapshots ---

/**
 * A snapshot of a content-approval run waiting for a person, written by hand after the `Snapshot` schema (every
 * field kind: queued, in-flight, collected, waiters, prompts, unclaimed events, published events, unicode text).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const snapshot = (options: {
  readonly runId: string
  readonly workflow?: string
  readonly status?: Status
  readonly createdAt?: number
  readonly updatedAt?: number
}): Snapshot => {
  const createdAt = options.createdAt ?? 1_700_000_000_000
  return {
    version: 1,
    workflow: options.workflow ?? "content-approval",
    runId: options.runId,
    status: options.status ?? "waiting",
    createdAt,
    updatedAt: options.updatedAt ?? createdAt + 4_500,
    state: { topic: "Effect 3.22 release notes", revisions: 1, feedback: ["shorter intro"], approved: null },
    external: 2,
    queued: [
      {
        step: "notify",
        eventId: "0/draft/0",
        event: { _tag: "DraftReady", draft: "Effect 3.22 is out…", revision: 1 }
      }
    ],
    inFlight: [
      {
        step: "review",
        eventId: "0/draft/1",
        event: { _tag: "DraftReady", draft: "Effect 3.22 is out…", revision: 1 },
        attempts: 1,
        emitted: 0,
        writes: 1,
        waits: 1,
        answers: [{ index: 0, event: { _tag: "HumanResponse", response: "shorter intro", requestId: "r-1" } }],
        collects: [{ index: 0, events: [{ _tag: "SearchResult", url: "https://effect.website/docs", score: 0.88 }] }]
      }
    ],
    collected: [
      {
        step: "summarize",
        events: [
          { id: "0/search/0", event: { _tag: "SearchResult", url: "https://effect.website/blog", score: 0.92 } },
          { id: "0/search/1", event: { _tag: "SearchResult", url: "https://github.com/Effect-TS", score: 0.71 } }
        ]
      }
    ],
    waiters: [{ key: "0/draft/1#1", step: "review", eventId: "0/draft/1", tag: "HumanResponse" }],
    pending: [
      {
        eventId: "0/draft/1/review/0",
        requestId: "r-2",
        prompt: { _tag: "InputRequired", prompt: "Approve the revision?", requestId: "r-2" }
      },
      { eventId: "0/draft/0/notify/0", prompt: { _tag: "InputRequired", prompt: "Anything to add?" } }
    ],
    unclaimed: [{ id: "x/1", event: { _tag: "Comment", text: 'ünïcödé ✓ "quoted"\nsecond line\t🙂' } }],
    published: [
      { _tag: "StartEvent", input: { topic: "Effect 3.22 release notes" } },
      { _tag: "InputRequired", prompt: "Approve the draft?", requestId: "r-1" },
      {
        _tag: "StepFailed",
        step: "search",
        event: { _tag: "StartEvent", input: { topic: "Effect 3.22 release notes" } },
        error: { _tag: "RateLimited", message: "429 Too Many Requests" },
        attempts: 3
      },
      { _tag: "InputRequired", prompt: "Approve the revised draft?", requestId: "r-2" }
    ]
  }
}

/**
 * The same run completed (nothing queued, in flight or pending; a result).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const completedSnapshot = (runId: string, createdAt: number): Snapshot => ({
  ...snapshot({ runId, status: "completed", createdAt }),
  queued: [],
  inFlight: [],
  waiters: [],
  pending: [],
  result: { approved: true, text: "Effect 3.22 is out." }
})

const make = (name: string, body: (store: RunStore["Type"]) => Effect.Effect<void, unknown, Scope.Scope>): Case => ({
  name,
  run: Effect.flatMap(RunStore, body)
})

/**
 * The cases of the suite.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const cases: ReadonlyArray<Case> = [
  make("save then load returns the same snapshot", (store) =>
    Effect.gen(function* () {
      const saved = snapshot({ runId: "run-1" })
      yield* store.save(saved)
      const loaded = yield* store.load("run-1")
      truthy(Option.isSome(loaded), "load of a saved run is Some")
      equal(Option.getOrThrow(loaded), saved, "the loaded snapshot")
    })
  ),
  make("load of an unknown run is None", (store) =>
    Effect.gen(function* () {
      yield* store.save(snapshot({ runId: "run-1" }))
      truthy(Option.isNone(yield* store.load("run-2")), "load of an unknown run is None")
    })
  ),
  make("save replaces the previous snapshot of the same run", (store) =>
    Effect.gen(function* () {
      yield* store.save(snapshot({ runId: "run-1", status: "running", updatedAt: 1_700_000_000_100 }))
      const latest = completedSnapshot("run-1", 1_700_000_000_000)
      yield* store.save(latest)
      equal(Option.getOrThrow(yield* store.load("run-1")), latest, "the loaded snapshot after the second save")
      equal(
        yield* store.list(),
        [
          {
            runId: "run-1",
            workflow: "content-approval",
            status: "completed",
            createdAt: latest.createdAt,
            updatedAt: latest.updatedAt
          }
        ],
        "list after the second save"
      )
    })
  ),
  make("list filters by workflow and status, newest first", (store) =>
    Effect.gen(function* () {
      const t = 1_700_000_000_000
      yield* store.save(snapshot({ runId: "a", workflow: "approval", status: "waiting", createdAt: t }))
      yield* store.save(snapshot({ runId: "b", workflow: "approval", status: "completed", createdAt: t + 30 }))
      yield* store.save(snapshot({ runId: "c", workflow: "search", status: "running", createdAt: t + 20 }))
      yield* store.save(snapshot({ runId: "e", workflow: "approval", status: "running", createdAt: t + 10 }))
      // Same creation time as "e": ties are ordered by run id.
      yield* store.save(snapshot({ runId: "d", workflow: "search", status: "failed", createdAt: t + 10 }))

      equal(ids(yield* store.list()), ["b", "c", "d", "e", "a"], "the run ids of list()")
      equal(
        ids(yield* store.list({ workflow: "approval" })),
        ["b", "e", "a"],
        "the run ids of list({ workflow: 'approval' })"
      )
      equal(
        ids(yield* store.list({ status: unfinished })),
        ["c", "e", "a"],
        "the run ids of list({ status: unfinished })"
      )
      equal(
        ids(yield* store.list({ workflow: "search", status: ["running", "waiting"] })),
        ["c"],
        "the run ids of list({ workflow: 'search', status: ['running', 'waiting'] })"
      )
      equal(
        ids(yield* store.list({ status: ["failed", "completed"] })),
        ["b", "d"],
        "the run ids of list({ status: ['failed', 'completed'] })"
      )
      equal(ids(yield* store.list({ workflow: "nope" })), [], "the run ids of list({ workflow: 'nope' })")
      equal(ids(yield* store.list({ status: [] })), [], "the run ids of list({ status: [] })")
      equal(
        yield* store.list({ workflow: "search", status: ["failed"] }),
        [{ runId: "d", workflow: "search", status: "failed", createdAt: t + 10, updatedAt: t + 10 + 4_500 }],
        "the summary of a listed run"
      )
    })
  ),
  make("list pages with limit and offset", (store) =>
    Effect.gen(function* () {
      for (let i = 0; i < 5; i++) {
        yield* store.save(snapshot({ runId: `run-${i}`, createdAt: 1_700_000_000_000 + i }))
      }
      yield* store.save(snapshot({ runId: "other", workflow: "search", createdAt: 1_800_000_000_000 }))
      const filter = { workflow: "content-approval" }
      equal(
        ids(yield* store.list({ ...filter, limit: 2 })),
        ["run-4", "run-3"],
        "the run ids of list({ ...filter, limit: 2 })"
      )
      equal(
        ids(yield* store.list({ ...filter, limit: 2, offset: 2 })),
        ["run-2", "run-1"],
        "the run ids of list({ ...filter, limit: 2, offset: 2 })"
      )
      equal(
        ids(yield* store.list({ ...filter, limit: 2, offset: 4 })),
        ["run-0"],
        "the run ids of list({ ...filter, limit: 2, offset: 4 })"
      )
      equal(
        ids(yield* store.list({ ...filter, offset: 3 })),
        ["run-1", "run-0"],
        "the run ids of list({ ...filter, offset: 3 })"
      )
      equal(ids(yield* store.list({ ...filter, offset: 5 })), [], "the run ids of list({ ...filter, offset: 5 })")
      equal(ids(yield* store.list({ limit: 0 })), [], "the run ids of list({ limit: 0 })")
      equal(ids(yield* store.list({ limit: 1 })), ["other"], "the run ids of list({ limit: 1 })")
    })
  ),
  make("remove deletes the run and only that run", (store) =>
    Effect.gen(function* () {
      yield* store.save(snapshot({ runId: "run-1", createdAt: 1 }))
      yield* store.save(snapshot({ runId: "run-2", createdAt: 2 }))
      yield* store.remove("run-1")
      truthy(Option.isNone(yield* store.load("run-1")), "a removed run loads as None")
      truthy(Option.isSome(yield* store.load("run-2")), "another run is still there")
      equal(ids(yield* store.list()), ["run-2"], "the run ids of list()")
      // Removing a run that is not there is not an error.
      yield* store.remove("run-1")
      equal(ids(yield* store.list()), ["run-2"], "the run ids of list()")
    })
  ),
  make("concurrent saves of different runs all land", (store) =>
    Effect.gen(function* () {
      const runIds = Array.from({ length: 200 }, (_, i) => `run-${String(i).padStart(3, "0")}`)
      yield* Effect.forEach(runIds, (runId, i) => store.save(snapshot({ runId, createdAt: i })), {
        concurrency: "unbounded",
        discard: true
      })
      equal(ids(yield* store.list()), [...runIds].reverse(), "the run ids of list()")
      for (const runId of runIds) {
        equal(Option.getOrThrow(yield* store.load(runId)).runId, runId, `the run id of run ${runId}`)
      }
    })
  )
]
