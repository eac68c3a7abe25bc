import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent, Workflow } from "@eventflow/core"

const Query = Event.define("Query", { text: Schema.String })
const Other = Event.define("Other", { text: Schema.String })

describe("Event.define", () => {
  it("make builds a plain object with _tag and the fields", () => {
    const q = Query.make({ text: "hello" })
    assert.deepStrictEqual(q, { _tag: "Query", text: "hello" })
    assert.strictEqual(Object.getPrototypeOf(q), Object.prototype)
    assert.deepStrictEqual(Object.keys(q).sort(), ["_tag", "text"])
  })

  it.effect("make does not validate, but decoding with the schema does", () =>
    Effect.gen(function* () {
      const wrong = Query.make({ text: 42 as any })
      assert.deepStrictEqual(wrong as unknown, { _tag: "Query", text: 42 })
      const decoded = yield* Effect.either(Schema.decodeUnknown(Query)(wrong))
      assert.isTrue(Either.isLeft(decoded))
      const good = yield* Schema.decodeUnknown(Query)({ _tag: "Query", text: "ok" })
      assert.deepStrictEqual(good, { _tag: "Query", text: "ok" })
    })
  )

  it.effect("decoding rejects a value with another _tag", () =>
    Effect.gen(function* () {
      const decoded = yield* Effect.either(Schema.decodeUnknown(Query)({ _tag: "Other", text: "x" }))
      assert.isTrue(Either.isLeft(decoded))
    })
  )

  it("encodes and decodes through the schema", () => {
    const Timed = Event.define("Timed", { at: Schema.DateFromString })
    const event = Timed.make({ at: new Date("2024-01-02T03:04:05.000Z") })
    const encoded = Schema.encodeSync(Timed)(event)
    assert.deepStrictEqual(encoded, { _tag: "Timed", at: "2024-01-02T03:04:05.000Z" })
    assert.deepStrictEqual(Schema.decodeUnknownSync(Timed)(encoded), event)
  })

  it("fills fields with constructor defaults in make", () => {
    const Options = Event.define("Options", {
      n: Schema.Number,
      label: Schema.optionalWith(Schema.String, { default: () => "none" })
    })
    assert.deepStrictEqual(Options.make({ n: 1 }), { _tag: "Options", n: 1, label: "none" })
    assert.deepStrictEqual(Options.make({ n: 2, label: "set" }), { _tag: "Options", n: 2, label: "set" })
  })

  it("an event type without fields makes { _tag }", () => {
    const Ping = Event.define("Ping", {})
    assert.deepStrictEqual(Ping.make({}), { _tag: "Ping" })
  })
})

describe("membership", () => {
  it("Event.is and Schema.is test membership by exact _tag", () => {
    for (const is of [Event.is(Query), Schema.is(Query)]) {
      assert.isTrue(is(Query.make({ text: "x" })))
      assert.isTrue(is({ _tag: "Query", text: "x" }))
      assert.isFalse(is(Other.make({ text: "x" })))
      assert.isFalse(is({ _tag: "query", text: "x" }))
      assert.isFalse(is({ _tag: "Query2", text: "x" }))
      assert.isFalse(is({ text: "x" }))
      assert.isFalse(is(null))
      assert.isFalse(is("Query"))
    }
  })

  it("Event.is also checks the shape of the fields", () => {
    assert.isFalse(Event.is(Query)({ _tag: "Query", text: 42 }))
    assert.isFalse(Event.is(Query)({ _tag: "Query" }))
  })

  it("Event.isEvent accepts any object with a string _tag", () => {
    assert.isTrue(Event.isEvent({ _tag: "Anything" }))
    assert.isFalse(Event.isEvent({ _tag: 1 }))
    assert.isFalse(Event.isEvent({}))
    assert.isFalse(Event.isEvent(undefined))
  })
})

describe("Event.tagOf", () => {
  it("returns the routing tag of defined events, TaggedStructs and built-ins", () => {
    assert.strictEqual(Event.tagOf(Query), "Query")
    assert.strictEqual(Event.tagOf(Schema.TaggedStruct("Tagged", { n: Schema.Number })), "Tagged")
    assert.strictEqual(Event.tagOf(StartEvent), "StartEvent")
    assert.strictEqual(Event.tagOf(StopEvent), "StopEvent")
    assert.strictEqual(Event.tagOf(InputRequired), "InputRequired")
    assert.strictEqual(Event.tagOf(HumanResponse), "HumanResponse")
  })

  it("rejects a schema that has no literal _tag", () => {
    assert.throws(() => Event.tagOf(Schema.Struct({ text: Schema.String }) as any))
    assert.throws(() => Event.tagOf(Schema.String as any))
  })
})

describe("built-in events", () => {
  it("StopEvent.make and StartEvent.make build tagged objects", () => {
    assert.deepStrictEqual(StopEvent.make({ result: 42 }), { _tag: "StopEvent", result: 42 })
    assert.deepStrictEqual(StartEvent.make({ input: { q: "x" } }), { _tag: "StartEvent", input: { q: "x" } })
  })

  it("InputRequired and HumanResponse have an optional requestId", () => {
    assert.deepStrictEqual(InputRequired.make({ prompt: "name?" }), { _tag: "InputRequired", prompt: "name?" })
    assert.deepStrictEqual(HumanResponse.make({ response: "Ada", requestId: "r1" }), {
      _tag: "HumanResponse",
      response: "Ada",
      requestId: "r1"
    })
    assert.isTrue(Schema.is(HumanResponse)({ _tag: "HumanResponse", response: "Ada" }))
  })
})

describe("Schema.TaggedStruct as an event type", () => {
  it.effect("routes and runs in a workflow like an Event.define type", () =>
    Effect.gen(function* () {
      const Ping = Schema.TaggedStruct("Ping", { n: Schema.Number })
      const Pong = Schema.TaggedStruct("Pong", { n: Schema.Number })
      const wf = defineWorkflow({ name: "pingpong", input: Schema.Number, output: Schema.Number })
        .step(StartEvent, (start) => Effect.succeed(Ping.make({ n: start.input })), { emits: [Ping] })
        .step(Ping, (ping) => Effect.succeed(Pong.make({ n: ping.n + 1 })), { emits: [Pong] })
        .step(Pong, (pong) => Effect.succeed(StopEvent.make({ result: pong.n * 10 })), { emits: [StopEvent] })
      yield* Workflow.validate(wf)
      assert.strictEqual(yield* Workflow.run(wf, 1), 20)
    })
  )
})
