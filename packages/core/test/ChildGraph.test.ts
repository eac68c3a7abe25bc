import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow, WorkflowValidationError } from "@eventflow/core"

const Checked = Event.define("Checked", { n: Schema.Number })

const child = defineWorkflow({ name: "checker", input: Schema.Number, output: Schema.Number })
  .step(StartEvent, (start) => Effect.succeed(Checked.make({ n: start.input })), { name: "check", emits: [Checked] })
  .step(Checked, (c) => Effect.succeed(StopEvent.make({ result: c.n })), { name: "report", emits: [StopEvent] })

const parent = defineWorkflow({ name: "delegator", output: Schema.Number }).step(
  StartEvent,
  (_, ctx) => Effect.map(ctx.run(child, 1), (result) => StopEvent.make({ result })),
  { name: "delegate", emits: [StopEvent], children: [child] }
)

describe("Child workflows drawn", () => {
  it("Workflow.graph lists a declared child with its own graph, under the step that runs it", () => {
    const g = Workflow.graph(parent)
    assert.strictEqual(g.children?.length, 1)
    const [c] = g.children!
    assert.strictEqual(c.step, "step:delegate")
    assert.strictEqual(c.workflow, "checker")
    assert.deepStrictEqual(c.graph, Workflow.graph(child))
    // A workflow without declared children has no `children` at all (its JSON is unchanged).
    assert.isFalse("children" in Workflow.graph(child))
  })

  it("Workflow.toMermaid draws the child as a subgraph joined to its step", () => {
    const text = Workflow.toMermaid(parent)
    const lines = text.split("\n").map((l) => l.trim())
    assert.include(lines, `subgraph c0["child workflow: checker"]`)
    assert.include(lines, `c0_0["check"]:::step`)
    assert.include(lines, `c0_3["report"]:::step`)
    // The parent's step is s0; the child hangs off it.
    assert.include(lines, `s0 -. runs .-> c0`)
    const start = lines.indexOf(`subgraph c0["child workflow: checker"]`)
    const end = lines.indexOf("end", start)
    // Every node and edge of the child is inside its subgraph.
    assert.strictEqual(end - start - 1, Workflow.graph(child).nodes.length + Workflow.graph(child).edges.length)
    assert.notInclude(Workflow.toMermaid(child), "subgraph")
  })

  it("a recursive child is drawn as a reference, not again", () => {
    const Again = Event.define("Again", {})
    const recursive = defineWorkflow({ name: "fractal", output: Schema.Unknown })
      .step(StartEvent, () => Effect.succeed(Again.make({})), { emits: [Again] })
      .step(Again, () => Effect.succeed(StopEvent.make({ result: 1 })), { emits: [StopEvent] })
    // A workflow whose step declares the workflow itself as its child.
    const looping = defineWorkflow({ name: "loop", output: Schema.Unknown })
    const steps: Array<Workflow.StepDefinition> = []
    const wf = Object.assign(Object.create(Object.getPrototypeOf(looping)), looping, { steps })
    steps.push({ ...recursive.steps[1], children: [wf] })
    const drawn = Workflow.graph(wf)
    assert.strictEqual(drawn.children?.[0].graph, undefined)
    assert.include(Workflow.toMermaid(wf), `c0_ref["loop (drawn above)"]:::step`)
  })

  it.effect("a children entry that is not a workflow is a validation problem", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "bad-children", output: Schema.Unknown }).step(
        StartEvent,
        () => Effect.succeed(StopEvent.make({ result: 1 })),
        // @ts-expect-error not a workflow
        { emits: [StopEvent], children: ["checker"] }
      )
      const error = yield* Effect.flip(Workflow.validate(wf))
      assert.instanceOf(error, WorkflowValidationError)
      assert.include(
        error.issues,
        `step "StartEvent": children entry "checker" is not a workflow (defineWorkflow(...)).`
      )
    })
  )
})
