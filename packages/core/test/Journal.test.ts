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
  })

  it("toJson is the same whatever the key order", () => {
    const entry = JournalStoreSuite.completed("draft", "0")
    const reversed = Object.fromEntries(Object.entries(entry).reverse()) as Journal.Entry
    assert.strictEqual(Journal.toJson(reversed), Journal.toJson(entry))
    assert.isTrue(Journal.isSame(reversed, entry))
    assert.isFalse(Journal.isSame(JournalStoreSuite.completed("draft", "0", 1), entry))
  })
})
