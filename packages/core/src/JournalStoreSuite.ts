/**
 * The conformance suite every {@link JournalStore} passes: idempotent appends, offsets and order, reads from an
 * offset, conflicts, compaction and tail, summaries and lists, concurrent appends, many entries.
 *
 * It does not depend on a test framework: `cases` is a list of named effects that fail (or die) when the store
 * misbehaves. Run each in a fresh store, for example with `@effect/vitest`:
 *
 * ```ts
 * import { describe, it } from "@effect/vitest"
 * import { JournalStore, JournalStoreSuite } from "@eventflow/core"
 * import { Effect } from "effect"
 *
 * describe("JournalStore.layerMemory", () => {
 *   for (const test of JournalStoreSuite.cases) {
 *     it.scoped(test.name, () => Effect.provide(test.run, JournalStore.layerMemory))
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Journal from "./Journal.js"
import { canonicalJson } from "./internal/journal.js"
import { JournalStore, type Summary } from "./JournalStore.js"

/**
 * One case of the suite: run it with a fresh, empty store in context.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Case {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, JournalStore | Scope.Scope>
}

class SuiteFailure extends Error {}

const fail = (message: string): never => {
  throw new SuiteFailure(message)
}

const equal = (actual: unknown, expected: unknown, what: string): void => {
  const a = canonicalJson(actual)
  const e = canonicalJson(expected)
  if (a !== e) fail(`${what}:\n  expected ${e}\n  actual   ${a}`)
}

// --- entries ---

/**
 * A `RunStarted` entry for tests.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const started = (
  runId: string,
  options?: { readonly workflow?: string; readonly at?: number; readonly signature?: string }
): Journal.Entry => ({
  _tag: "RunStarted",
  id: Journal.ids.runStarted,
  at: options?.at ?? 1_700_000_000_000,
  version: Journal.version,
  runId,
  workflow: options?.workflow ?? "content-approval",
  signature: options?.signature ?? "0123456789abcdef",
  input: { topic: 'journals ü ✓ "quoted"\nline' },
  state: { drafts: 0 },
  options: { trace: true }
})

/**
 * An `InvocationCompleted` entry for tests: step `step` handled `eventId` and returned one event.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const completed = (step: string, eventId: string, n = 0): Journal.Entry => ({
  _tag: "InvocationCompleted",
  id: Journal.ids.invocationCompleted(step, eventId),
  step,
  eventId,
  tag: "Draft",
  attempts: 1,
  events: [{ id: `${eventId}/${step}/0`, event: { _tag: "Draft", text: `draft ${n}` } }],
  sends: [],
  writes: [{ index: 0, event: { _tag: "Progress", n } }],
  state: { drafts: n }
})

/** One entry of every kind after `RunStarted`, as a journal of a waiting-then-answered run would hold them. */
const everyKind: ReadonlyArray<Journal.Entry> = [
  completed("draft", "0", 1),
  {
    _tag: "AttemptFailed",
    id: Journal.ids.attemptFailed("review", "0/draft/0", 1),
    step: "review",
    eventId: "0/draft/0",
    attempt: 1,
    error: { _tag: "RateLimited", message: "429 Too Many Requests" }
  },
  {
    _tag: "WaiterRegistered",
    id: Journal.ids.waiterRegistered(Journal.waiterKey("review", "0/draft/0", 0)),
    key: Journal.waiterKey("review", "0/draft/0", 0),
    step: "review",
    eventId: "0/draft/0",
    index: 0,
    tag: "HumanResponse",
    prompt: {
      id: Journal.waiterKey("review", "0/draft/0", 0),
      event: { _tag: "InputRequired", prompt: "Approve?", requestId: "r-1" }
    },
    requestId: "r-1"
  },
  {
    _tag: "EventSent",
    id: Journal.ids.eventSent("0/draft/0/review/0"),
    step: "review",
    from: "0/draft/0",
    eventId: "0/draft/0/review/0",
    event: { _tag: "Notify", to: "editor" },
    target: "notify"
  },
  {
    _tag: "ExternalEventSent",
    id: Journal.ids.externalEventSent("x/0"),
    eventId: "x/0",
    event: { _tag: "HumanResponse", response: "yes 🙂", requestId: "r-1" }
  },
  {
    _tag: "WaiterAnswered",
    id: Journal.ids.waiterAnswered(Journal.waiterKey("review", "0/draft/0", 0)),
    key: Journal.waiterKey("review", "0/draft/0", 0),
    step: "review",
    eventId: "0/draft/0",
    index: 0,
    outcome: {
      _tag: "Event",
      answer: { id: "x/0", event: { _tag: "HumanResponse", response: "yes 🙂", requestId: "r-1" } }
    }
  },
  {
    _tag: "InvocationFailed",
    id: Journal.ids.invocationFailed("notify", "0/draft/0"),
    step: "notify",
    eventId: "0/draft/0",
    attempts: 3,
    defect: false,
    error: { message: "SMTP down" },
    event: { id: "0/draft/0/notify/0", event: { _tag: "StepFailed", step: "notify" } }
  },
  {
    _tag: "RunEnded",
    id: Journal.ids.runEnded,
    at: 1_700_000_009_000,
    status: "completed",
    result: { text: "About journals", revisions: 0 }
  }
]

const offsets = (stored: ReadonlyArray<Journal.Stored>) => stored.map((s) => s.offset)
const entryIds = (stored: ReadonlyArray<Journal.Stored>) => stored.map((s) => s.entry.id)
const runIds = (runs: ReadonlyArray<Summary>) => runs.map((r) => r.runId)

const expectError = <A, E extends { readonly _tag: string }, R>(
  effect: Effect.Effect<A, E, R>,
  tag: string,
  what: string
): Effect.Effect<E, never, R> =>
  Effect.flatMap(Effect.either(effect), (result) =>
    result._tag === "Left" && result.left._tag === tag
      ? Effect.succeed(result.left)
      : Effect.sync(() => fail(`${what}: expected a ${tag}, got ${canonicalJson(result)}`))
  )

const chain = (n: number, from = 0): Array<Journal.Entry> =>
  Array.from({ length: n }, (_, i) => completed("loop", `x/${from + i}`, from + i))

const make = (
  name: string,
  body: (store: JournalStore["Type"]) => Effect.Effect<void, unknown, Scope.Scope>
): Case => ({
  name,
  run: Effect.flatMap(JournalStore, body)
})

/**
 * The cases of the suite.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const cases: ReadonlyArray<Case> = [
  make("append gives offsets 0, 1, 2, … in order and read returns the same entries", (store) =>
    Effect.gen(function* () {
      const entries = [started("run-1"), ...everyKind]
      const stored = yield* store.append("run-1", entries)
      equal(
        offsets(stored),
        entries.map((_, i) => i),
        "offsets returned by append"
      )
      const read = yield* store.read("run-1")
      equal(
        offsets(read),
        entries.map((_, i) => i),
        "offsets returned by read"
      )
      equal(
        read.map((s) => s.entry),
        entries,
        "entries read back"
      )
    })
  ),
  make("appends one at a time continue the offsets", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1")])
      for (let i = 0; i < 5; i++) {
        const [stored] = yield* store.append("run-1", [completed("step", `x/${i}`, i)])
        equal(stored.offset, i + 1, `offset of append ${i}`)
      }
      equal(offsets(yield* store.read("run-1")), [0, 1, 2, 3, 4, 5], "offsets")
    })
  ),
  make("appending the same entries again is a no-op that returns their offsets", (store) =>
    Effect.gen(function* () {
      const entries = [started("run-1"), completed("a", "0"), completed("b", "0")]
      yield* store.append("run-1", entries)
      const again = yield* store.append("run-1", entries)
      equal(offsets(again), [0, 1, 2], "offsets of the replayed append")
      // A batch that repeats known entries and adds new ones appends only the new ones.
      const mixed = yield* store.append("run-1", [completed("b", "0"), completed("c", "0"), completed("a", "0")])
      equal(offsets(mixed), [2, 3, 1], "offsets of a batch of known and new entries")
      equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0", "done:b@0", "done:c@0"], "journal")
      equal(
        Option.map(yield* store.summary("run-1"), (s) => s.entries),
        Option.some(4),
        "entries in the summary"
      )
    })
  ),
  make("the same entry twice in one batch is stored once", (store) =>
    Effect.gen(function* () {
      const stored = yield* store.append("run-1", [started("run-1"), completed("a", "0"), completed("a", "0")])
      equal(offsets(stored), [0, 1, 1], "offsets")
      equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0"], "journal")
    })
  ),
  make("key order does not make the same entry different", (store) =>
    Effect.gen(function* () {
      const entry = completed("a", "0")
      yield* store.append("run-1", [started("run-1"), entry])
      const reordered = Object.fromEntries(Object.entries(entry).reverse()) as Journal.Entry
      equal(offsets(yield* store.append("run-1", [reordered])), [1], "offset of the reordered entry")
    })
  ),
  make("an entry with a known id and other content fails with JournalConflictError and appends nothing", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1"), completed("a", "0", 1)])
      const error = yield* expectError(
        store.append("run-1", [completed("b", "0"), completed("a", "0", 2)]),
        "JournalConflictError",
        "append of a conflicting entry"
      )
      equal(
        { runId: (error as any).runId, entryId: (error as any).entryId, offset: (error as any).offset },
        { runId: "run-1", entryId: "done:a@0", offset: 1 },
        "the conflict"
      )
      // Nothing of the failed batch was appended.
      equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0"], "journal after the conflict")
      // Two different entries with one id in one batch conflict too.
      yield* expectError(
        store.append("run-1", [completed("c", "0", 1), completed("c", "0", 2)]),
        "JournalConflictError",
        "a batch with two entries of one id"
      )
      equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0"], "journal after the second conflict")
    })
  ),
  make("a journal starts with RunStarted, and only there", (store) =>
    Effect.gen(function* () {
      yield* expectError(store.append("run-1", [completed("a", "0")]), "JournalStoreError", "a first entry")
      equal(yield* store.read("run-1"), [], "journal of a run whose first append failed")
      equal(yield* store.summary("run-1"), Option.none(), "summary of a run whose first append failed")
      yield* store.append("run-1", [started("run-1")])
      yield* expectError(
        store.append("run-1", [{ ...started("run-1"), id: "start-again" }]),
        "JournalStoreError",
        "a second RunStarted"
      )
      yield* expectError(store.append("run-2", [started("run-3")]), "JournalStoreError", "RunStarted of another run")
      // An empty append is a no-op.
      equal(yield* store.append("run-1", []), [], "an empty append")
    })
  ),
  make("read from an offset returns the entries from there; past the end and unknown runs give none", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1"), ...everyKind])
      const length = everyKind.length + 1
      equal(
        offsets(yield* store.read("run-1", 3)),
        Array.from({ length: length - 3 }, (_, i) => i + 3),
        "from 3"
      )
      equal(offsets(yield* store.read("run-1", length - 1)), [length - 1], "from the last offset")
      equal(yield* store.read("run-1", length), [], "from the end")
      equal(yield* store.read("run-1", length + 10), [], "past the end")
      equal(yield* store.read("nope"), [], "an unknown run")
    })
  ),
  make("compaction: load returns the last compaction and the entries after it", (store) =>
    Effect.gen(function* () {
      equal(yield* store.load("run-1"), Option.none(), "load of an unknown run")
      yield* store.append("run-1", [started("run-1"), ...chain(4)])
      const before = Option.getOrThrow(yield* store.load("run-1"))
      equal(before.compaction, Option.none(), "compaction before any")
      equal(offsets(before.tail), [0, 1, 2, 3, 4], "tail without a compaction")
      yield* store.compact("run-1", { state: { drafts: 3 }, note: "ü ✓" }, 3)
      yield* store.append("run-1", chain(2, 4))
      const after = Option.getOrThrow(yield* store.load("run-1"))
      equal(after.compaction, Option.some({ upToOffset: 3, snapshot: { state: { drafts: 3 }, note: "ü ✓" } }), "")
      equal(offsets(after.tail), [3, 4, 5, 6], "tail after the compaction")
      equal(after.summary.compactedUpTo, 3, "compactedUpTo")
      equal(after.summary.entries, 7, "entries")
      // Entries before the compaction stay readable.
      equal(offsets(yield* store.read("run-1")), [0, 1, 2, 3, 4, 5, 6], "read after the compaction")
      // A compaction at a lower offset (a stale writer) is ignored; a later one replaces.
      yield* store.compact("run-1", { stale: true }, 2)
      equal(Option.getOrThrow(yield* store.load("run-1")).compaction, after.compaction, "after a stale compaction")
      yield* store.compact("run-1", { whole: true }, 7)
      const whole = Option.getOrThrow(yield* store.load("run-1"))
      equal(whole.compaction, Option.some({ upToOffset: 7, snapshot: { whole: true } }), "compaction of it all")
      equal(whole.tail, [], "tail after compacting everything")
    })
  ),
  make("compaction past the end or of an unknown run fails with JournalStoreError", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1"), completed("a", "0")])
      yield* expectError(store.compact("run-1", {}, 3), "JournalStoreError", "compaction past the end")
      yield* expectError(store.compact("run-1", {}, -1), "JournalStoreError", "compaction at a negative offset")
      yield* expectError(store.compact("nope", {}, 0), "JournalStoreError", "compaction of an unknown run")
      equal(Option.getOrThrow(yield* store.load("run-1")).compaction, Option.none(), "no compaction recorded")
    })
  ),
  make("summary: workflow, signature, createdAt, entries, and the status from appends and RunEnded", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1", { workflow: "wf", at: 1234, signature: "abc" })])
      const first = Option.getOrThrow(yield* store.summary("run-1"))
      equal(
        { ...first, updatedAt: 0 },
        {
          runId: "run-1",
          workflow: "wf",
          signature: "abc",
          status: "running",
          createdAt: 1234,
          updatedAt: 0,
          entries: 1,
          compactedUpTo: undefined
        },
        "summary after RunStarted"
      )
      yield* store.append("run-1", [completed("a", "0")], { status: "waiting" })
      equal(Option.getOrThrow(yield* store.summary("run-1")).status, "waiting", "status after a waiting append")
      yield* store.append("run-1", [completed("b", "0")])
      equal(Option.getOrThrow(yield* store.summary("run-1")).status, "waiting", "status kept by a plain append")
      yield* store.append("run-1", [completed("c", "0")], { status: "running" })
      equal(Option.getOrThrow(yield* store.summary("run-1")).status, "running", "status back to running")
      yield* store.append("run-1", [{ _tag: "RunEnded", id: Journal.ids.runEnded, status: "failed" }])
      equal(Option.getOrThrow(yield* store.summary("run-1")).status, "failed", "status after RunEnded")
      // An ended run stays ended.
      yield* store.append("run-1", [completed("d", "0")], { status: "running" })
      equal(Option.getOrThrow(yield* store.summary("run-1")).status, "failed", "status after the end")
      equal(yield* store.summary("nope"), Option.none(), "summary of an unknown run")
    })
  ),
  make("list filters by workflow and status, newest first, with limit and offset", (store) =>
    Effect.gen(function* () {
      const t = 1_700_000_000_000
      const start = (runId: string, workflow: string, at: number, status?: "waiting") =>
        store.append(runId, [started(runId, { workflow, at })], { status })
      yield* start("a", "approval", t, "waiting")
      yield* start("b", "approval", t + 30)
      yield* store.append("b", [{ _tag: "RunEnded", id: "end", status: "completed" }])
      yield* start("c", "search", t + 20)
      yield* start("e", "approval", t + 10)
      yield* start("d", "search", t + 10)
      equal(runIds(yield* store.list()), ["b", "c", "d", "e", "a"], "all")
      equal(runIds(yield* store.list({ workflow: "approval" })), ["b", "e", "a"], "by workflow")
      equal(runIds(yield* store.list({ status: ["running", "waiting"] })), ["c", "d", "e", "a"], "unfinished")
      equal(runIds(yield* store.list({ status: ["waiting"] })), ["a"], "waiting")
      equal(runIds(yield* store.list({ status: ["completed"] })), ["b"], "completed")
      equal(runIds(yield* store.list({ workflow: "search", status: ["running"] })), ["c", "d"], "both")
      equal(runIds(yield* store.list({ limit: 2 })), ["b", "c"], "limit")
      equal(runIds(yield* store.list({ limit: 2, offset: 2 })), ["d", "e"], "limit and offset")
      equal(runIds(yield* store.list({ offset: 4 })), ["a"], "offset")
      equal(runIds(yield* store.list({ status: [] })), [], "no status")
      const [c] = yield* store.list({ workflow: "search", limit: 1 })
      equal([c.signature, c.entries, c.createdAt], ["0123456789abcdef", 1, t + 20], "a listed summary")
    })
  ),
  make(
    "summary and list: the parent and the conversation a RunStarted records; list filters by conversation and by parent",
    (store) =>
      Effect.gen(function* () {
        const t = 1_700_000_000_000
        const start = (runId: string, at: number, links: Partial<Record<"parent" | "previous", string>>) =>
          store.append(runId, [
            {
              ...started(runId, { workflow: "chat", at }),
              ...(links.parent === undefined ? {} : { parent: links.parent }),
              ...(links.previous === undefined ? {} : { conversation: { id: "c1", previous: links.previous } })
            } as Journal.Entry
          ])
        yield* start("c1", t, {})
        yield* start("c2", t + 10, { previous: "c1" })
        yield* start("c3", t + 20, { previous: "c2" })
        yield* start("other", t + 30, {})
        yield* start("c2/ask@0/c0", t + 40, { parent: "c2" })
        const c3 = Option.getOrThrow(yield* store.summary("c3"))
        equal([c3.conversationId, c3.parentRunId], ["c1", undefined], "a continued run's summary")
        const child = Option.getOrThrow(yield* store.summary("c2/ask@0/c0"))
        equal([child.conversationId, child.parentRunId], [undefined, "c2"], "a child run's summary")
        const first = Option.getOrThrow(yield* store.summary("c1"))
        equal([first.conversationId, first.parentRunId], [undefined, undefined], "a first run's summary")
        equal(runIds(yield* store.list({ conversation: "c1" })), ["c3", "c2", "c1"], "the conversation's runs")
        equal(runIds(yield* store.list({ conversation: "c1", limit: 1, offset: 1 })), ["c2"], "a page of them")
        equal(runIds(yield* store.list({ parent: "c2" })), ["c2/ask@0/c0"], "the children of c2")
        equal(runIds(yield* store.list({ parent: "c1" })), [], "the children of c1")
        equal(
          (yield* store.list({ status: ["running"] })).map((r) => [r.runId, r.parentRunId ?? null]),
          [
            ["c2/ask@0/c0", "c2"],
            ["other", null],
            ["c3", null],
            ["c2", null],
            ["c1", null]
          ],
          "listed with their parent"
        )
      })
  ),
  make("remove deletes the run's journal, compaction and summary, and only that run's", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1"), completed("a", "0")])
      yield* store.append("run-2", [started("run-2", { at: 2 }), completed("a", "0")])
      yield* store.compact("run-1", { s: 1 }, 2)
      yield* store.remove("run-1")
      equal(yield* store.read("run-1"), [], "journal of the removed run")
      equal(yield* store.load("run-1"), Option.none(), "load of the removed run")
      equal(runIds(yield* store.list()), ["run-2"], "list")
      yield* store.remove("run-1")
      // The run id can be used again from scratch.
      equal(offsets(yield* store.append("run-1", [started("run-1")])), [0], "a new journal under the same id")
      equal(offsets(yield* store.read("run-2")), [0, 1], "the other run")
    })
  ),
  make("concurrent appends to 50 different runs all land, each run in its own order", (store) =>
    Effect.gen(function* () {
      const ids = Array.from({ length: 50 }, (_, i) => `run-${String(i).padStart(2, "0")}`)
      yield* Effect.forEach(
        ids,
        (runId, i) =>
          Effect.gen(function* () {
            yield* store.append(runId, [started(runId, { at: i })])
            for (let k = 0; k < 10; k++) yield* store.append(runId, [completed("s", `x/${k}`, k)])
          }),
        { concurrency: "unbounded", discard: true }
      )
      equal(runIds(yield* store.list()), [...ids].reverse(), "runs")
      for (const runId of ids) {
        const read = yield* store.read(runId)
        equal(
          offsets(read),
          Array.from({ length: 11 }, (_, i) => i),
          `offsets of ${runId}`
        )
        equal(
          read.slice(1).map((s) => s.entry.id),
          Array.from({ length: 10 }, (_, k) => `done:s@x/${k}`),
          `order of ${runId}`
        )
      }
    })
  ),
  make("concurrent replays of the same append to one run store each entry once", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1")])
      const batch = chain(5)
      const results = yield* Effect.all(
        Array.from({ length: 10 }, () => store.append("run-1", batch)),
        { concurrency: "unbounded" }
      )
      for (const result of results) equal(offsets(result), [1, 2, 3, 4, 5], "offsets of a replayed append")
      equal(offsets(yield* store.read("run-1")), [0, 1, 2, 3, 4, 5], "journal")
    })
  ),
  make("10,000 entries: dense offsets, reads from any offset, replays are no-ops", (store) =>
    Effect.gen(function* () {
      yield* store.append("run-1", [started("run-1")])
      for (let from = 0; from < 10_000; from += 500) yield* store.append("run-1", chain(500, from))
      const all = yield* store.read("run-1")
      equal(all.length, 10_001, "entries")
      for (let i = 0; i < all.length; i++) if (all[i].offset !== i) fail(`offset ${all[i].offset} at position ${i}`)
      equal(offsets(yield* store.read("run-1", 9_998)), [9_998, 9_999, 10_000], "the last three")
      equal(offsets(yield* store.append("run-1", chain(3, 5_000))), [5_001, 5_002, 5_003], "a replay in the middle")
      equal(Option.getOrThrow(yield* store.summary("run-1")).entries, 10_001, "entries in the summary")
    })
  )
]

const fencedCase = (
  name: string,
  body: (
    store: JournalStore["Type"],
    claim: (runId: string) => Effect.Effect<number, unknown>,
    appendFenced: NonNullable<JournalStore["Type"]["appendFenced"]>
  ) => Effect.Effect<void, unknown, Scope.Scope>
): Case =>
  make(name, (store) =>
    store.claim === undefined || store.appendFenced === undefined
      ? Effect.sync(() => fail("the store has no fencing (claim and appendFenced): the fencing cases need both"))
      : body(store, store.claim, store.appendFenced)
  )

/**
 * The cases of fencing (`claim` and `appendFenced`), for stores that have it (every store of this repository). A
 * store without `claim` / `appendFenced` fails every one of them.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fencingCases: ReadonlyArray<Case> = [
  fencedCase(
    "claim returns 1, 2, 3, … per run, before the journal exists too, and keeps them across remove",
    (store, claim) =>
      Effect.gen(function* () {
        equal([yield* claim("run-1"), yield* claim("run-1"), yield* claim("run-2")], [1, 2, 1], "epochs")
        equal(yield* store.read("run-1"), [], "a claim writes no entry")
        equal(yield* store.summary("run-1"), Option.none(), "a claim makes no summary")
        yield* store.append("run-1", [started("run-1")])
        yield* store.remove("run-1")
        equal(yield* claim("run-1"), 3, "the epoch after remove (a removed run never reuses an epoch)")
      })
  ),
  fencedCase("a fenced append with the current epoch appends as append does", (store, claim, appendFenced) =>
    Effect.gen(function* () {
      const epoch = yield* claim("run-1")
      const stored = yield* appendFenced("run-1", epoch, [started("run-1"), completed("a", "0")], { status: "waiting" })
      equal(offsets(stored), [0, 1], "offsets")
      equal(offsets(yield* appendFenced("run-1", epoch, [completed("a", "0"), completed("b", "0")])), [1, 2], "replay")
      yield* expectError(
        appendFenced("run-1", epoch, [completed("b", "0", 9)]),
        "JournalConflictError",
        "a conflicting fenced append"
      )
      equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0", "done:b@0"], "journal")
      equal(Option.getOrThrow(yield* store.summary("run-1")).status, "waiting", "status")
    })
  ),
  fencedCase(
    "two writers: once the second claims, the first's appends fail with JournalFencedError and write nothing",
    (store, claim, appendFenced) =>
      Effect.gen(function* () {
        const first = yield* claim("run-1")
        yield* appendFenced("run-1", first, [started("run-1"), completed("a", "0")])
        const second = yield* claim("run-1")
        const error = yield* expectError(
          appendFenced("run-1", first, [completed("b", "0")]),
          "JournalFencedError",
          "an append of the first writer after the second claimed"
        )
        equal(
          { runId: (error as any).runId, epoch: (error as any).epoch, current: (error as any).current },
          { runId: "run-1", epoch: first, current: second },
          "the error"
        )
        // A stale writer replaying entries the journal already has is refused too (it must stop, not go on).
        yield* expectError(
          appendFenced("run-1", first, [completed("a", "0")]),
          "JournalFencedError",
          "a replay of the first writer"
        )
        equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0"], "journal after the refused appends")
        equal(offsets(yield* appendFenced("run-1", second, [completed("c", "0")])), [2], "the second writer goes on")
        equal(entryIds(yield* store.read("run-1")), ["start", "done:a@0", "done:c@0"], "journal")
      })
  ),
  fencedCase("an append with an epoch the run never had fails with JournalFencedError", (store, claim, appendFenced) =>
    Effect.gen(function* () {
      const never = yield* expectError(
        appendFenced("run-1", 1, [started("run-1")]),
        "JournalFencedError",
        "an append to a run never claimed"
      )
      equal((never as any).current, 0, "current epoch of a run never claimed")
      const epoch = yield* claim("run-1")
      yield* expectError(
        appendFenced("run-1", epoch + 1, [started("run-1")]),
        "JournalFencedError",
        "an append with a future epoch"
      )
      equal(yield* store.read("run-1"), [], "journal")
    })
  ),
  fencedCase(
    "two writers racing: no entry of the first lands after the second's claim returns, and the second's all land",
    (store, claim, appendFenced) =>
      Effect.gen(function* () {
        const first = yield* claim("run-1")
        yield* appendFenced("run-1", first, [started("run-1")])
        // The first writer appends one entry at a time until it is fenced; the second claims while it does.
        const firstWriter = Effect.gen(function* () {
          for (let i = 0; ; i++) {
            const result = yield* Effect.either(appendFenced("run-1", first, [completed("first", `x/${i}`, i)]))
            if (result._tag === "Left") return result.left
            if (i > 10_000) return fail("the first writer was never fenced")
            yield* Effect.yieldNow()
          }
        })
        const secondWriter = Effect.gen(function* () {
          // Let the first writer land a few entries first.
          while ((yield* store.read("run-1")).length < 6) yield* Effect.yieldNow()
          const second = yield* claim("run-1")
          const atClaim = (yield* store.read("run-1")).length
          for (let i = 0; i < 20; i++) yield* appendFenced("run-1", second, [completed("second", `x/${i}`, i)])
          return atClaim
        })
        const [error, atClaim] = yield* Effect.all([firstWriter, secondWriter], { concurrency: "unbounded" })
        equal((error as { _tag: string })._tag, "JournalFencedError", "how the first writer stopped")
        const journal = yield* store.read("run-1")
        const ofFirst = journal.filter((s) => s.entry.id.startsWith("done:first@"))
        const ofSecond = journal.filter((s) => s.entry.id.startsWith("done:second@"))
        equal(
          ofFirst.every((s) => s.offset < atClaim),
          true,
          `entries of the first writer all before offset ${atClaim}`
        )
        equal(ofFirst.length, atClaim - 1, "the first writer's entries before the claim")
        equal(
          offsets(ofSecond),
          Array.from({ length: 20 }, (_, i) => atClaim + i),
          "the second writer's entries"
        )
      })
  )
]
