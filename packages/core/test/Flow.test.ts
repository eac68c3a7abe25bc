import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Ref, Schema, Stream } from "effect"
import { defineWorkflow, Event, StartEvent, StopEvent, UnknownStepError, Workflow } from "@eventflow/core"

const Query = Event.define("Query", { text: Schema.String })
const Hop = Event.define("Hop", { path: Schema.String })
const Even = Event.define("Even", { n: Schema.Number })
const Odd = Event.define("Odd", { n: Schema.Number })
const Count = Event.define("Count", { n: Schema.Number })
const Item = Event.define("Item", { i: Schema.Number })
const Ping = Event.define("Ping", {})
const Pong = Event.define("Pong", { from: Schema.String })
const A = Event.define("A", {})
const B = Event.define("B", {})

/** A loop of `Count` events from 0 up to the input, ending with `StopEvent { result: input }`. */
const counter = defineWorkflow({
  name: "counter",
  input: Schema.Number,
  output: Schema.Number,
  state: Schema.Number,
  initialState: 0
})
  .step(StartEvent, (s, ctx) => Effect.as(Ref.set(ctx.state, s.input), Count.make({ n: 0 })), { emits: [Count] })
  .step(
    Count,
    (c, ctx) =>
      Effect.map(Ref.get(ctx.state), (target) =>
        c.n < target ? Count.make({ n: c.n + 1 }) : StopEvent.make({ result: c.n })
      ),
    { emits: [Count, StopEvent] }
  )

const dispatchedSteps = (events: ReadonlyArray<Event.AnyEvent>, tag: string): ReadonlyArray<ReadonlyArray<string>> =>
  events
    .filter((e): e is Event.AnyEvent & { tag: string; steps: Array<string> } => e._tag === "EventDispatched")
    .filter((e) => e.tag === tag)
    .map((e) => e.steps)

describe("Flow", () => {
  it.effect("a linear chain runs every step once, in order, and returns the last step's result", () =>
    Effect.gen(function* () {
      const visited = yield* Ref.make<Array<string>>([])
      const visit = (name: string) => Ref.update(visited, (xs) => [...xs, name])
      const Second = Event.define("Second", { path: Schema.String })
      const wf = defineWorkflow({ name: "linear", input: Schema.String, output: Schema.String })
        .step(StartEvent, (s) => Effect.as(visit("start"), Hop.make({ path: s.input })), { emits: [Hop] })
        .step(Hop, (h) => Effect.as(visit("hop"), Second.make({ path: `${h.path}>hop` })), { emits: [Second] })
        .step(Second, (h) => Effect.as(visit("second"), StopEvent.make({ result: `${h.path}>second` })), {
          emits: [StopEvent]
        })
      assert.strictEqual(yield* Workflow.run(wf, "in"), "in>hop>second")
      assert.deepStrictEqual(yield* Ref.get(visited), ["start", "hop", "second"])
    })
  )

  it.effect("a branch runs only the step of the event type the branching step returned", () =>
    Effect.gen(function* () {
      const ran = yield* Ref.make<Array<string>>([])
      const wf = defineWorkflow({ name: "branch", input: Schema.Number, output: Schema.String })
        .step(
          StartEvent,
          (s) => Effect.succeed(s.input % 2 === 0 ? Even.make({ n: s.input }) : Odd.make({ n: s.input })),
          {
            emits: [Even, Odd]
          }
        )
        .step(
          Even,
          (e) =>
            Effect.as(
              Ref.update(ran, (xs) => [...xs, "Even"]),
              StopEvent.make({ result: `even ${e.n}` })
            ),
          {
            emits: [StopEvent]
          }
        )
        .step(
          Odd,
          (o) =>
            Effect.as(
              Ref.update(ran, (xs) => [...xs, "Odd"]),
              StopEvent.make({ result: `odd ${o.n}` })
            ),
          {
            emits: [StopEvent]
          }
        )
      assert.strictEqual(yield* Workflow.run(wf, 4), "even 4")
      assert.deepStrictEqual(yield* Ref.getAndSet(ran, []), ["Even"])
      assert.strictEqual(yield* Workflow.run(wf, 7), "odd 7")
      assert.deepStrictEqual(yield* Ref.get(ran), ["Odd"])
    })
  )

  it.effect("a loop re-enters its step until it returns the StopEvent", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<Array<number>>([])
      const wf = defineWorkflow({ name: "loop", output: Schema.Number })
        .step(StartEvent, () => Effect.succeed(Count.make({ n: 0 })), { emits: [Count] })
        .step(
          Count,
          (c) =>
            Effect.as(
              Ref.update(seen, (xs) => [...xs, c.n]),
              c.n < 5 ? Count.make({ n: c.n + 1 }) : StopEvent.make({ result: c.n * 10 })
            ),
          { emits: [Count, StopEvent] }
        )
      assert.strictEqual(yield* Workflow.run(wf), 50)
      assert.deepStrictEqual(yield* Ref.get(seen), [0, 1, 2, 3, 4, 5])
    })
  )

  it.effect("a loop of 10,000 iterations completes without overflowing the stack", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* Workflow.run(counter, 10_000), 10_000)
    })
  )

  it.scoped("with { trace: false } a loop publishes only its StopEvent, however many iterations it runs", () =>
    Effect.gen(function* () {
      const publishedBy = (iterations: number) =>
        Effect.gen(function* () {
          const handle = yield* Workflow.start(counter, iterations, { trace: false })
          assert.strictEqual(yield* handle.result, iterations)
          const internal = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
          const user = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events()))
          return { internal, user }
        })
      const small = yield* publishedBy(10)
      const large = yield* publishedBy(10_000)
      assert.deepStrictEqual(small.internal, [StopEvent.make({ result: 10 })])
      assert.deepStrictEqual(small.user, [StopEvent.make({ result: 10 })])
      assert.deepStrictEqual(large.internal, [StopEvent.make({ result: 10_000 })])
      assert.deepStrictEqual(large.user, [StopEvent.make({ result: 10_000 })])
    })
  )

  it.effect("fan-out by returning an array dispatches the events in array order", () =>
    Effect.gen(function* () {
      const order = yield* Ref.make<Array<number>>([])
      const wf = defineWorkflow({ name: "fan-out-array", output: Schema.Array(Schema.Number) })
        .step(StartEvent, () => Effect.succeed([0, 1, 2, 3, 4].map((i) => Item.make({ i }))), { emits: [Item] })
        .step(
          Item,
          (item, ctx) =>
            Effect.gen(function* () {
              // Later items yield less: if they ran concurrently, they would record out of order.
              yield* Effect.replicateEffect(Effect.yieldNow(), 5 - item.i, { discard: true })
              const recorded = yield* Ref.updateAndGet(order, (xs) => [...xs, item.i])
              const all = yield* ctx.collect(item, Item, 5)
              return all._tag === "Some" ? StopEvent.make({ result: recorded }) : undefined
            }),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [0, 1, 2, 3, 4])
    })
  )

  it.effect("fan-out by ctx.send dispatches every sent event, in send order", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "fan-out-send", output: Schema.Array(Schema.Number) })
        .step(
          StartEvent,
          (_, ctx) => Effect.forEach([0, 1, 2, 3], (i) => ctx.send(Item.make({ i })), { discard: true }),
          { emits: [Item] }
        )
        .step(
          Item,
          (item, ctx) =>
            Effect.map(ctx.collect(item, Item, 4), (all) =>
              all._tag === "Some" ? StopEvent.make({ result: all.value.map((x) => x.i) }) : undefined
            ),
          { emits: [StopEvent], workers: 1 }
        )
      assert.deepStrictEqual(yield* Workflow.run(wf), [0, 1, 2, 3])
    })
  )

  it.scoped("broadcast: two steps accepting the same event type each get an invocation", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "broadcast", output: Schema.Array(Schema.String) })
        .step(StartEvent, () => Effect.succeed(Ping.make()), { emits: [Ping] })
        .step(Ping, (_, ctx) => Effect.succeed(Pong.make({ from: ctx.stepName })), { emits: [Pong], name: "left" })
        .step(Ping, (_, ctx) => Effect.succeed(Pong.make({ from: ctx.stepName })), { emits: [Pong], name: "right" })
        .step(
          Pong,
          (pong, ctx) =>
            Effect.map(ctx.collect(pong, Pong, 2), (all) =>
              all._tag === "Some" ? StopEvent.make({ result: all.value.map((p) => p.from).sort() }) : undefined
            ),
          { emits: [StopEvent] }
        )
      const handle = yield* Workflow.start(wf)
      assert.deepStrictEqual(yield* handle.result, ["left", "right"])
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
      assert.deepStrictEqual(dispatchedSteps(events, "Ping"), [["left", "right"]])
    })
  )

  it.scoped("a targeted ctx.send reaches only the named step", () =>
    Effect.gen(function* () {
      const invoked = yield* Ref.make<Array<string>>([])
      const record = (name: string) => Ref.update(invoked, (xs) => [...xs, name])
      const wf = defineWorkflow({ name: "targeted", output: Schema.Array(Schema.String) })
        .step(StartEvent, (_, ctx) => ctx.send(Ping.make(), { step: "right" }), { emits: [Ping] })
        .step(Ping, () => Effect.as(record("left"), Pong.make({ from: "left" })), { emits: [Pong], name: "left" })
        .step(Ping, () => Effect.as(record("right"), Pong.make({ from: "right" })), { emits: [Pong], name: "right" })
        .step(Pong, () => Effect.map(Ref.get(invoked), (result) => StopEvent.make({ result })), { emits: [StopEvent] })
      const handle = yield* Workflow.start(wf)
      assert.deepStrictEqual(yield* handle.result, ["right"])
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
      assert.deepStrictEqual(dispatchedSteps(events, "Ping"), [["right"]])
      const started = events.filter((e) => e._tag === "StepStarted").map((e) => (e as any).step)
      assert.deepStrictEqual(started, ["StartEvent", "right", "Pong"])
    })
  )

  it.effect("a targeted ctx.send to an unknown step fails with UnknownStepError (NoSuchStep)", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "targeted-unknown", output: Schema.String })
        .step(
          StartEvent,
          (_, ctx) => Effect.as(ctx.send(Ping.make(), { step: "nope" }), StopEvent.make({ result: "sent" })),
          { emits: [Ping, StopEvent] }
        )
        .step(Ping, () => Effect.succeed(StopEvent.make({ result: "ping" })), { emits: [StopEvent] })
      // @ts-expect-error ctx.send to an unknown step: nope (the run-time path is what this test is about)
      const error = yield* Effect.flip(Workflow.run(wf))
      assert.instanceOf(error, UnknownStepError)
      assert.strictEqual(error._tag, "UnknownStepError")
      if (error._tag !== "UnknownStepError") return
      assert.strictEqual(error.reason, "NoSuchStep")
      assert.strictEqual(error.step, "nope")
      assert.strictEqual(error.tag, "Ping")
      assert.deepStrictEqual(error.known, ["StartEvent", "Ping"])
    })
  )

  it.effect(
    "a targeted ctx.send to a step that does not accept the event fails with UnknownStepError (DoesNotAccept)",
    () =>
      Effect.gen(function* () {
        const pinged = yield* Ref.make(0)
        const wf = defineWorkflow({ name: "targeted-wrong", output: Schema.String })
          .step(
            StartEvent,
            (_, ctx) => Effect.as(ctx.send(Ping.make(), { step: "Query" }), StopEvent.make({ result: "sent" })),
            { emits: [Ping, Query, StopEvent] }
          )
          .step(
            Ping,
            () =>
              Effect.as(
                Ref.update(pinged, (n) => n + 1),
                StopEvent.make({ result: "ping" })
              ),
            {
              emits: [StopEvent]
            }
          )
          .step(Query, () => Effect.succeed(StopEvent.make({ result: "query" })), { emits: [StopEvent] })
        const error = yield* Effect.flip(Workflow.run(wf))
        assert.instanceOf(error, UnknownStepError)
        assert.strictEqual(error._tag, "UnknownStepError")
        if (error._tag !== "UnknownStepError") return
        assert.strictEqual(error.reason, "DoesNotAccept")
        assert.strictEqual(error.step, "Query")
        assert.strictEqual(error.tag, "Ping")
        assert.deepStrictEqual(error.known, ["Ping"])
        assert.strictEqual(yield* Ref.get(pinged), 0)
      })
  )

  it.scoped("ctx.state is shared by all steps of a run and visible in handle.state", () =>
    Effect.gen(function* () {
      const State = Schema.Struct({ visits: Schema.Array(Schema.String), total: Schema.Number })
      const wf = defineWorkflow({
        name: "state",
        input: Schema.Number,
        output: Schema.Number,
        state: State,
        initialState: { visits: [], total: 0 }
      })
        .step(
          StartEvent,
          (s, ctx) =>
            Effect.as(
              Ref.update(ctx.state, (st) => ({ visits: [...st.visits, "start"], total: st.total + s.input })),
              Hop.make({ path: "" })
            ),
          { emits: [Hop] }
        )
        .step(
          Hop,
          (_, ctx) =>
            Effect.gen(function* () {
              // sees what the previous step wrote
              const before = yield* Ref.get(ctx.state)
              yield* Ref.update(ctx.state, (st) => ({ visits: [...st.visits, "hop"], total: st.total * 2 }))
              return StopEvent.make({ result: before.total })
            }),
          { emits: [StopEvent] }
        )
      const handle = yield* Workflow.start(wf, 5)
      assert.strictEqual(yield* handle.result, 5)
      assert.deepStrictEqual(yield* handle.state, { visits: ["start", "hop"], total: 10 })
    })
  )

  it.effect("StartEvent.input is the input decoded by the workflow's input schema", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "decode", input: Schema.NumberFromString, output: Schema.String }).step(
        StartEvent,
        (s) => Effect.succeed(StopEvent.make({ result: `${typeof s.input}:${s.input + 1}` })),
        {
          emits: [StopEvent]
        }
      )
      assert.strictEqual(yield* Workflow.run(wf, "41"), "number:42")
    })
  )

  it.effect("bad input fails with InvalidInputError with a readable message, before any step runs", () =>
    Effect.gen(function* () {
      const ran = yield* Ref.make(0)
      const wf = defineWorkflow({
        name: "ask",
        input: Schema.Struct({ question: Schema.String }),
        output: Schema.String
      }).step(
        StartEvent,
        (s) =>
          Effect.as(
            Ref.update(ran, (n) => n + 1),
            StopEvent.make({ result: s.input.question })
          ),
        {
          emits: [StopEvent]
        }
      )
      const error = yield* Effect.flip(Workflow.run(wf, { question: 42 } as any))
      assert.strictEqual(error._tag, "InvalidInputError")
      if (error._tag !== "InvalidInputError") return
      assert.include(error.message, `Invalid input for workflow "ask"`)
      assert.include(error.message, `["question"]`)
      assert.include(error.message, "Expected string, actual 42")
      assert.strictEqual(yield* Ref.get(ran), 0)
    })
  )

  it.scoped("default step names: the matched tags, joined with |, with #2 for a second step on the same tags", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "names", output: Schema.String })
        .step(StartEvent, () => Effect.succeed(Query.make({ text: "q" })), { emits: [Query] })
        .step(Query, () => Effect.succeed(A.make()), { emits: [A] })
        .step([A, B], (_, ctx) => Effect.succeed(StopEvent.make({ result: ctx.stepName })), { emits: [StopEvent] })
        .step(Query, () => Effect.void, { emits: [B] })
      assert.deepStrictEqual(
        wf.steps.map((s) => s.name),
        ["StartEvent", "Query", "A|B", "Query#2"]
      )
      const handle = yield* Workflow.start(wf)
      assert.strictEqual(yield* handle.result, "A|B")
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
      assert.deepStrictEqual(dispatchedSteps(events, "Query"), [["Query", "Query#2"]])
      assert.deepStrictEqual(dispatchedSteps(events, "A"), [["A|B"]])
    })
  )
})
