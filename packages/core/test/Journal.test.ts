import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Journal, JournalStoreSuite } from "@eventflow/core"
import { Effect, Either, Schema } from "effect"
import { makeWorkflow } from "./fixtures/signatureWorkflow.js"

const signature = (options?: Parameters<typeof makeWorkflow>[0]) => Journal.signature(makeWorkflow(options))

/** Runs the fixture in a child process and returns what it prints. */
const signatureInChild = Effect.async<string, Error>((resume) => {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "packages/core/test/fixtures/signatureWorkflow.ts"],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let out = ""
  let err = ""
  child.stdout.on("data", (chunk) => (out += chunk))
  child.stderr.on("data", (chunk) => (err += chunk))
  child.on("close", (code) =>
    resume(code === 0 ? Effect.succeed(out.trim()) : Effect.fail(new Error(`child exited with ${code}: ${err}`)))
  )
  return Effect.sync(() => child.kill("SIGKILL"))
})

describe("Journal.signature", () => {
  it("is 56 hex digits, the same for two values built from the same definition", () => {
    const a = signature()
    assert.match(a, /^[0-9a-f]{56}$/)
    assert.strictEqual(signature(), a)
  })

  it.live("is the same in another process", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* signatureInChild, signature())
    })
  )

  it("changes when a step is renamed", () => {
    assert.notStrictEqual(signature({ reviewName: "approve" }), signature())
  })

  it("changes when a step accepts another tag", () => {
    assert.notStrictEqual(signature({ reviewAccepts: "Revision" }), signature())
  })

  it("changes when an event schema changes (a field's type, a field added)", () => {
    const base = signature()
    assert.notStrictEqual(signature({ draftFields: { text: Schema.String, revision: Schema.String } }), base)
    assert.notStrictEqual(
      signature({ draftFields: { text: Schema.String, revision: Schema.Number, note: Schema.String } }),
      base
    )
  })

  it("changes when the input's constraint or the state schema changes", () => {
    const base = signature()
    assert.notStrictEqual(signature({ topic: Schema.String.pipe(Schema.minLength(2)) }), base)
    assert.notStrictEqual(signature({ topic: Schema.String }), base)
    assert.notStrictEqual(signature({ stateSchema: Schema.Struct({ revisions: Schema.Int }) }), base)
  })

  it("does not change with docs or workers", () => {
    const base = signature()
    assert.strictEqual(
      signature({
        topic: Schema.String.pipe(
          Schema.minLength(1),
          Schema.annotations({ description: "what to write about", title: "Topic" })
        )
      }),
      base
    )
    assert.strictEqual(signature({ workers: 1 }), base)
  })
})

describe("Journal.Entry", () => {
  it("decodes an entry of every kind and rejects an unknown one", () => {
    for (const test of [JournalStoreSuite.started("run-1"), JournalStoreSuite.completed("draft", "0")]) {
      const json = JSON.parse(Journal.toJson(test))
      assert.deepStrictEqual(Schema.decodeUnknownSync(Journal.Entry)(json), test)
    }
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Journal.Entry)({ _tag: "Checkpoint", id: "x" })))
  })

  it("ids follow the invocation and waiter identities", () => {
    assert.strictEqual(Journal.ids.invocationCompleted("review", "0/draft/0"), "done:review@0/draft/0")
    assert.strictEqual(Journal.ids.attemptFailed("review", "0/draft/0", 2), "attempt:review@0/draft/0#2")
    assert.strictEqual(Journal.waiterKey("review", "0/draft/0", 0), "review@0/draft/0#0")
    assert.strictEqual(Journal.ids.waiterAnswered(Journal.waiterKey("review", "x/3", 1)), "answer:review@x/3#1")
    assert.strictEqual(Journal.ids.externalEventSent("x/7"), "sent:x/7")
    assert.strictEqual(Journal.ids.eventSent("0/draft/0/review/0"), "emit:0/draft/0/review/0")
  })

  it("toJson is the same whatever the key order", () => {
    const entry = JournalStoreSuite.completed("draft", "0")
    const reversed = Object.fromEntries(Object.entries(entry).reverse()) as Journal.Entry
    assert.strictEqual(Journal.toJson(reversed), Journal.toJson(entry))
    assert.isTrue(Journal.isSame(reversed, entry))
    assert.isFalse(Journal.isSame(JournalStoreSuite.completed("draft", "0", 1), entry))
  })
})

/** The journal of a run of the fixture workflow that was answered and completed. */
const journalOfFixture: ReadonlyArray<Journal.Stored> = (
  [
    {
      ...(JournalStoreSuite.started("run-1", { workflow: "signed" }) as Journal.Entry & {
        readonly _tag: "RunStarted"
      }),
      input: { topic: "t" },
      state: { revisions: 0 }
    },
    {
      _tag: "InvocationCompleted",
      id: Journal.ids.invocationCompleted("draft", "0"),
      step: "draft",
      eventId: "0",
      tag: "StartEvent",
      attempts: 1,
      events: [{ id: "0/draft/0", event: { _tag: "Draft", text: "t", revision: 0 } }],
      sends: [],
      writes: [],
      state: { revisions: 0 }
    },
    {
      _tag: "WaiterRegistered",
      id: Journal.ids.waiterRegistered("review@0/draft/0#0"),
      key: "review@0/draft/0#0",
      step: "review",
      eventId: "0/draft/0",
      index: 0,
      tag: "HumanResponse",
      prompt: { id: "review@0/draft/0#0", event: { _tag: "InputRequired", prompt: "ok?" } }
    },
    {
      _tag: "ExternalEventSent",
      id: Journal.ids.externalEventSent("x/0"),
      eventId: "x/0",
      event: { _tag: "HumanResponse", response: "yes" }
    },
    {
      _tag: "WaiterAnswered",
      id: Journal.ids.waiterAnswered("review@0/draft/0#0"),
      key: "review@0/draft/0#0",
      step: "review",
      eventId: "0/draft/0",
      index: 0,
      outcome: { _tag: "Event", answer: { id: "x/0", event: { _tag: "HumanResponse", response: "yes" } } }
    },
    {
      _tag: "EventSent",
      id: Journal.ids.eventSent("0/draft/0/review/0"),
      step: "review",
      from: "0/draft/0",
      eventId: "0/draft/0/review/0",
      event: { _tag: "Revision", text: "again" },
      target: "tag"
    },
    {
      _tag: "InvocationCompleted",
      id: Journal.ids.invocationCompleted("review", "0/draft/0"),
      step: "review",
      eventId: "0/draft/0",
      tag: "Draft",
      attempts: 1,
      events: [{ id: "0/draft/0/review/1", event: { _tag: "StopEvent", result: { text: "t" } } }],
      sends: [],
      writes: [],
      state: { revisions: 0 }
    },
    { _tag: "RunEnded", id: Journal.ids.runEnded, status: "completed", result: { text: "t" } }
  ] satisfies ReadonlyArray<Journal.Entry>
).map((entry, offset) => ({ offset, entry }))

describe("Journal.check", () => {
  it("finds nothing wrong with a journal of the same definition", () => {
    assert.deepStrictEqual(Journal.check(makeWorkflow(), journalOfFixture), [])
  })

  it("lists every entry of a renamed step", () => {
    const mismatches = Journal.check(makeWorkflow({ reviewName: "approve" }), journalOfFixture)
    assert.deepStrictEqual(
      mismatches.map((m) => m.slice(0, m.indexOf("): ") + 1)),
      [
        'entry 2 (WaiterRegistered "wait:review@0/draft/0#0")',
        'entry 4 (WaiterAnswered "answer:review@0/draft/0#0")',
        'entry 5 (EventSent "emit:0/draft/0/review/0")',
        'entry 6 (InvocationCompleted "done:review@0/draft/0")'
      ]
    )
    for (const m of mismatches) assert.include(m, 'the workflow has no step "review" (steps: draft, approve, tag)')
  })

  it("reports a step that no longer accepts the tag it handled", () => {
    const mismatches = Journal.check(makeWorkflow({ reviewAccepts: "Revision" }), journalOfFixture)
    assert.deepStrictEqual(mismatches, [
      'entry 6 (InvocationCompleted "done:review@0/draft/0"): step "review" no longer accepts Draft (it accepts Revision)'
    ])
  })

  it("reports payloads the current schemas cannot decode", () => {
    const mismatches = Journal.check(
      makeWorkflow({ draftFields: { text: Schema.String, revision: Schema.String } }),
      journalOfFixture
    )
    assert.strictEqual(mismatches.length, 1)
    assert.include(mismatches[0], 'entry 1 (InvocationCompleted "done:draft@0"): event 0/draft/0 (Draft) no longer')
    const state = Journal.check(
      makeWorkflow({ stateSchema: Schema.Struct({ revisions: Schema.String }) }),
      journalOfFixture
    )
    assert.deepStrictEqual(
      state.map((m) => m.slice(0, m.indexOf(": the"))),
      [
        'entry 0 (RunStarted "start")',
        'entry 1 (InvocationCompleted "done:draft@0")',
        'entry 6 (InvocationCompleted "done:review@0/draft/0")'
      ]
    )
  })

  it.effect("verify fails with one JournalMismatchError listing every mismatch", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Journal.verify(makeWorkflow({ reviewName: "approve" }), "run-1", journalOfFixture)
      )
      assert.strictEqual(error._tag, "JournalMismatchError")
      assert.strictEqual(error.mismatches.length, 4)
      assert.include(error.message, 'Run run-1 cannot be resumed with workflow "signed"')
      assert.include(error.message, 'no step "review"')
      yield* Journal.verify(makeWorkflow(), "run-1", journalOfFixture)
    })
  )
})
