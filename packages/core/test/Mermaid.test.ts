import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, Event, HumanResponse, Journal, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { Effect, Schema } from "effect"

const Draft = Event.define("Draft", { text: Schema.String })
const Feedback = Event.define("Feedback", { text: Schema.String })
const Approved = Event.define("Approved", { text: Schema.String })

/** draft -> review (waits for a person) -> revise (loops back) or publish. */
const review = defineWorkflow({ name: "review", input: Schema.Struct({ topic: Schema.String }), output: Schema.String })
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: start.input.topic })), {
    name: "draft",
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.map(ctx.waitFor(HumanResponse), (answer) =>
        answer.response === "yes" ? Approved.make({ text: draft.text }) : Feedback.make({ text: answer.response })
      ),
    { name: "review", emits: [Approved, Feedback], waitsFor: [HumanResponse] }
  )
  .step(Feedback, (feedback) => Effect.succeed(Draft.make({ text: feedback.text })), {
    name: "revise",
    emits: [Draft]
  })
  .step(Approved, (approved) => Effect.succeed(StopEvent.make({ result: approved.text })), {
    name: "publish",
    emits: [StopEvent]
  })

const started: Journal.Entry = {
  _tag: "RunStarted",
  id: Journal.ids.runStarted,
  version: Journal.version,
  runId: "r",
  workflow: "review",
  signature: Journal.signature(review),
  input: { topic: "cats" },
  state: null,
  options: { trace: false }
}

const completed = (step: string, eventId: string, tag: string, events: ReadonlyArray<Journal.IdentifiedEvent>) =>
  ({
    _tag: "InvocationCompleted",
    id: Journal.ids.invocationCompleted(step, eventId),
    step,
    eventId,
    tag,
    attempts: 1,
    events,
    sends: [],
    writes: [],
    state: null
  }) as const

const waits = (eventId: string): Journal.Entry => {
  const key = Journal.waiterKey("review", eventId, 0)
  return {
    _tag: "WaiterRegistered",
    id: Journal.ids.waiterRegistered(key),
    key,
    step: "review",
    eventId,
    index: 0,
    tag: "HumanResponse"
  }
}

const answered = (eventId: string, answerId: string, response: string): Journal.Entry => {
  const key = Journal.waiterKey("review", eventId, 0)
  return {
    _tag: "WaiterAnswered",
    id: Journal.ids.waiterAnswered(key),
    key,
    step: "review",
    eventId,
    index: 0,
    outcome: { _tag: "Event", answer: { id: answerId, event: { _tag: "HumanResponse", response } } }
  }
}

/** Drafted, rejected once ("shorter"), revised, drafted again, then cancelled while waiting for the second answer. */
const loopThenCancel: ReadonlyArray<Journal.Entry> = [
  started,
  completed("draft", "0", "StartEvent", [{ id: "0/draft/0", event: { _tag: "Draft", text: "cats" } }]),
  waits("0/draft/0"),
  answered("0/draft/0", "x/0", "shorter"),
  completed("review", "0/draft/0", "Draft", [{ id: "0/draft/0/review/0", event: { _tag: "Feedback", text: "c" } }]),
  completed("revise", "0/draft/0/review/0", "Feedback", [
    { id: "0/draft/0/review/0/revise/0", event: { _tag: "Draft", text: "c" } }
  ]),
  waits("0/draft/0/review/0/revise/0"),
  { _tag: "RunEnded", id: Journal.ids.runEnded, status: "cancelled" }
]

describe("Workflow.toMermaid", () => {
  it("draws the waitFor points declared with waitsFor as human nodes, in the graph and in Mermaid", () => {
    const graph = Workflow.graph(review)
    assert.deepInclude(graph.nodes, {
      kind: "human",
      id: "human:review:HumanResponse",
      step: "review",
      tag: "HumanResponse"
    })
    assert.deepInclude(graph.edges, { from: "step:review", to: "human:review:HumanResponse", kind: "waits" })
    const mermaid = Workflow.toMermaid(review)
    assert.include(mermaid, `h0[/"👤 HumanResponse"/]:::human`)
    assert.include(mermaid, "s1 -. waits .-> h0")
    assert.include(mermaid, "classDef human")
  })

  it("with { run }: only the path the run took, with counts, the waits, and how it ended", () => {
    const mermaid = Workflow.toMermaid(review, { run: loopThenCancel })
    const lines = mermaid.split("\n")
    const declared = (label: string) => lines.find((line) => line.includes(`"${label}"`))
    // Visited, with how many times.
    assert.isDefined(declared("draft"))
    assert.isDefined(declared("review"))
    assert.isDefined(declared("revise"))
    assert.isDefined(declared("Draft ×2"))
    assert.isDefined(declared("👤 HumanResponse ×2"))
    assert.isDefined(declared("Feedback"))
    // Not visited: not drawn.
    assert.notInclude(mermaid, "publish")
    assert.notInclude(mermaid, "Approved")
    assert.notInclude(mermaid, "StopEvent")
    // The edges followed (Draft -> review once: its second review never completed).
    const id = (label: string) => declared(label)!.trim().split(/[[(]/)[0]
    assert.include(lines, `  ${id("draft")} ==> ${id("Draft ×2")}`)
    assert.include(lines, `  ${id("revise")} ==> ${id("Draft ×2")}`)
    assert.include(lines, `  ${id("review")} -. waits ×2 .-> ${id("👤 HumanResponse ×2")}`)
    assert.include(lines, `  end(["cancelled"]):::stop`)
    // Same result from entries with offsets (as JournalStore.read gives them) and in pipe style.
    const stored = loopThenCancel.map((entry, offset) => ({ offset, entry }))
    assert.strictEqual(review.pipe(Workflow.toMermaid({ run: stored })), mermaid)
  })

  it("with { run } of a failed run: the failed step is marked and leads to the error", () => {
    const failed: ReadonlyArray<Journal.Entry> = [
      started,
      {
        _tag: "InvocationFailed",
        id: Journal.ids.invocationFailed("draft", "0"),
        step: "draft",
        eventId: "0",
        attempts: 3,
        defect: false,
        error: { _tag: "Boom", message: "the model is down" }
      },
      {
        _tag: "RunEnded",
        id: Journal.ids.runEnded,
        status: "failed",
        error: { _tag: "Boom", message: "the model is down" }
      }
    ]
    const mermaid = Workflow.toMermaid(review, { run: failed })
    assert.include(mermaid, `s0["draft"]:::step,failed`)
    assert.include(mermaid, "e0 ==> s0")
    assert.include(mermaid, `end(["failed: the model is down"]):::stop`)
    assert.include(mermaid, "s0 ==> end")
    assert.notInclude(mermaid, "review")
  })
})
