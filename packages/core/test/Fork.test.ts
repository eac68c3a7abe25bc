import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  ForkError,
  HumanResponse,
  InputRequired,
  Journal,
  JournalStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { Effect, Option, Schema } from "effect"

const Draft = Event.define("Draft", { text: Schema.String })

/** A draft from the topic, a person's answer, then the end. */
const review = defineWorkflow({ name: "review", input: Schema.Struct({ topic: Schema.String }), output: Schema.String })
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: start.input.topic })), {
    name: "draft",
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.map(ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "ok?" }) }), (answer) =>
        StopEvent.make({ result: `${draft.text}: ${answer.response}` })
      ),
    { name: "review", emits: [StopEvent] }
  )

const source = "run-1"
const waiter = Journal.waiterKey("review", "0/draft/0", 0)

/** A finished run's journal, as the engine writes it (entries of Journal, ids from Journal.ids). */
const journal: ReadonlyArray<Journal.Entry> = [
  {
    _tag: "RunStarted",
    id: Journal.ids.runStarted,
    at: 1000,
    version: Journal.version,
    runId: source,
    workflow: "review",
    signature: Journal.signature(review),
    input: { topic: "cats" },
    state: null,
    options: { trace: false }
  },
  {
    _tag: "InvocationCompleted",
    id: Journal.ids.invocationCompleted("draft", "0"),
    at: 1010,
    step: "draft",
    eventId: "0",
    tag: "StartEvent",
    attempts: 1,
    events: [{ id: "0/draft/0", event: { _tag: "Draft", text: "cats" } }],
    sends: [],
    writes: [],
    state: null
  },
  {
    _tag: "WaiterRegistered",
    id: Journal.ids.waiterRegistered(waiter),
    at: 1020,
    key: waiter,
    step: "review",
    eventId: "0/draft/0",
    index: 0,
    tag: "HumanResponse"
  },
  {
    _tag: "ExternalEventSent",
    id: Journal.ids.externalEventSent("x/0"),
    at: 1030,
    eventId: "x/0",
    event: { _tag: "HumanResponse", response: "no" }
  },
  {
    _tag: "WaiterAnswered",
    id: Journal.ids.waiterAnswered(waiter),
    at: 1031,
    key: waiter,
    step: "review",
    eventId: "0/draft/0",
    index: 0,
    outcome: { _tag: "Event", answer: { id: "x/0", event: { _tag: "HumanResponse", response: "no" } } }
  },
  { _tag: "RunEnded", id: Journal.ids.runEnded, at: 1040, status: "completed", result: "cats: no" }
]

const withSource = <A, E>(effect: Effect.Effect<A, E, JournalStore.JournalStore>) =>
  Effect.gen(function* () {
    const store = yield* JournalStore.JournalStore
    yield* store.append(source, journal)
    return yield* effect
  }).pipe(Effect.provide(JournalStore.layerMemory))

const forkError = (options: Workflow.ForkOptions) =>
  Effect.flip(Workflow.forkJournal(review, options)).pipe(
    Effect.map((error) => {
      assert.instanceOf(error, ForkError)
      return error.message
    })
  )

describe("Workflow.forkJournal", () => {
  it.effect("copies the prefix up to the offset under a new run id whose RunStarted records where it came from", () =>
    withSource(
      Effect.gen(function* () {
        const forked = yield* Workflow.forkJournal(review, { from: source, offset: 2, runId: "fork-1" })
        assert.strictEqual(forked.runId, "fork-1")
        const store = yield* JournalStore.JournalStore
        const copy = yield* store.read("fork-1", 0)
        assert.deepStrictEqual(
          copy.map((s) => [s.offset, s.entry._tag]),
          [
            [0, "RunStarted"],
            [1, "InvocationCompleted"],
            [2, "WaiterRegistered"]
          ]
        )
        const started = copy[0].entry
        assert.strictEqual(started._tag, "RunStarted")
        if (started._tag !== "RunStarted") return
        assert.strictEqual(started.runId, "fork-1")
        assert.deepStrictEqual(started.forkedFrom, { runId: source, offset: 2 })
        assert.deepStrictEqual(started.input, { topic: "cats" })
        assert.deepStrictEqual(copy[1].entry, journal[1])
        // The source is untouched.
        assert.strictEqual((yield* store.read(source, 0)).length, journal.length)
        // The copy is a journal of this workflow.
        assert.deepStrictEqual(Journal.check(review, copy), [])
      })
    )
  )

  it.effect("a fork of a child run keeps no parent: it is resumed on its own, not by a parent's step", () =>
    Effect.gen(function* () {
      const store = yield* JournalStore.JournalStore
      // A child run's journal (its RunStarted names its parent), forked.
      yield* store.append("P/x@0/c0", [{ ...journal[0], runId: "P/x@0/c0", parent: "P" } as Journal.Entry, journal[1]])
      assert.strictEqual(Option.getOrThrow(yield* store.summary("P/x@0/c0")).parentRunId, "P")
      yield* Workflow.forkJournal(review, { from: "P/x@0/c0", offset: 1, runId: "fork-child" })
      const [started] = yield* store.read("fork-child", 0)
      if (started.entry._tag !== "RunStarted") return assert.fail(`the copy starts with ${started.entry._tag}`)
      assert.isUndefined(started.entry.parent)
      assert.deepStrictEqual(started.entry.forkedFrom, { runId: "P/x@0/c0", offset: 1 })
      assert.isUndefined(Option.getOrThrow(yield* store.summary("fork-child")).parentRunId)
    }).pipe(Effect.provide(JournalStore.layerMemory))
  )

  it.effect("with an edited answer: the entry at the offset carries the new event, and forkedFrom says which", () =>
    withSource(
      Effect.gen(function* () {
        const forked = yield* Workflow.forkJournal(review, {
          from: source,
          offset: 4,
          event: { _tag: "HumanResponse", response: "yes" }
        })
        const copy = yield* Effect.flatMap(JournalStore.JournalStore, (store) => store.read(forked.runId, 0))
        assert.strictEqual(copy.length, 5)
        const answered = copy[4].entry
        assert.strictEqual(answered._tag, "WaiterAnswered")
        if (answered._tag !== "WaiterAnswered" || answered.outcome._tag !== "Event") return assert.fail("no answer")
        assert.deepStrictEqual(answered.outcome.answer, {
          id: "x/0",
          event: { _tag: "HumanResponse", response: "yes" }
        })
        const started = copy[0].entry
        assert.deepStrictEqual(started._tag === "RunStarted" ? started.forkedFrom : undefined, {
          runId: source,
          offset: 4,
          edited: 4
        })
      })
    )
  )

  it.effect("with an edited input at offset 0", () =>
    withSource(
      Effect.gen(function* () {
        const forked = yield* Workflow.forkJournal(review, { from: source, offset: 0, event: { topic: "dogs" } })
        const copy = yield* Effect.flatMap(JournalStore.JournalStore, (store) => store.read(forked.runId, 0))
        assert.strictEqual(copy.length, 1)
        assert.deepStrictEqual(copy[0].entry._tag === "RunStarted" ? copy[0].entry.input : undefined, {
          topic: "dogs"
        })
      })
    )
  )

  it.effect("refuses, writing nothing, what cannot be forked, and says why", () =>
    withSource(
      Effect.gen(function* () {
        assert.include(yield* forkError({ from: "nope", offset: 0 }), "has no journal")
        assert.include(
          yield* forkError({ from: source, offset: 9 }),
          "offset 9 is not an entry of its journal (0 to 5)"
        )
        assert.include(yield* forkError({ from: source, offset: 5 }), "includes the run's end (entry 5)")
        assert.include(
          yield* forkError({ from: source, offset: 4, event: { _tag: "Draft", text: "x" } }),
          `must keep the tag "HumanResponse"`
        )
        assert.include(
          yield* forkError({ from: source, offset: 4, event: { _tag: "HumanResponse", response: 42 } }),
          "no longer decodes"
        )
        assert.include(
          yield* forkError({ from: source, offset: 0, event: { topic: 1 } }),
          "the input no longer decodes"
        )
        assert.include(
          yield* forkError({ from: source, offset: 2, event: { _tag: "HumanResponse", response: "x" } }),
          "a WaiterRegistered entry carries no event to edit"
        )
        const other = defineWorkflow({ name: "other" }).step(
          StartEvent,
          () => Effect.succeed(StopEvent.make({ result: 1 })),
          {
            emits: [StopEvent]
          }
        )
        const wrong = yield* Effect.flip(Workflow.forkJournal(other, { from: source, offset: 1 }))
        assert.include(wrong.message, `it is a run of workflow "review", not "other"`)
        const runs = yield* Effect.flatMap(JournalStore.JournalStore, (store) => store.list())
        assert.deepStrictEqual(
          runs.map((r) => r.runId),
          [source]
        )
      })
    )
  )
})
