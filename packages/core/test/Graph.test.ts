import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  StartEvent,
  StepFailed,
  StopEvent,
  Workflow,
  WorkflowValidationError
} from "@eventflow/core"

const A = Event.define("A", { n: Schema.Number })
const B = Event.define("B", { n: Schema.Number })
const C = Event.define("C", { n: Schema.Number })
const D = Event.define("D", { n: Schema.Number })
const E = Event.define("E", { n: Schema.Number })

/** Handlers of workflows that are only validated or drawn: never called. */
const unused = () => Effect.dieMessage("a handler was called")

const issuesOf = (wf: Workflow.Any) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(Workflow.validate(wf))
    assert.instanceOf(error, WorkflowValidationError)
    return error.issues
  })

/** The issues that mention every fragment (case-insensitive). */
const matching = (issues: ReadonlyArray<string>, ...fragments: ReadonlyArray<string>) =>
  issues.filter((issue) => fragments.every((f) => issue.toLowerCase().includes(f.toLowerCase())))

const assertIssue = (issues: ReadonlyArray<string>, ...fragments: ReadonlyArray<string>) =>
  assert.isAbove(
    matching(issues, ...fragments).length,
    0,
    `expected an issue mentioning ${fragments.join(" + ")} in:\n${issues.join("\n")}`
  )

describe("Workflow.validate", () => {
  it.effect("reports every problem together in one WorkflowValidationError", () =>
    Effect.gen(function* () {
      const broken = defineWorkflow({ name: "broken", state: Schema.Number } as any)
        .step(StartEvent, unused, { emits: [A, B] })
        .step(A, unused, { emits: [A], workers: 0 })
        .step(C, unused, { emits: [A], workers: 1.5 })
        .step(StopEvent, unused, { name: "afterStop", emits: [A] })
        .step(D, unused, { name: "dup", emits: [A] })
        .step(E, unused, { name: "dup", emits: [A] })
      const issues = yield* issuesOf(broken)
      assertIssue(issues, "initialState")
      assertIssue(issues, '"A"', "workers", "0")
      assertIssue(issues, '"C"', "workers", "1.5")
      assertIssue(issues, "StopEvent", "path")
      assertIssue(issues, '"afterStop"', "StopEvent")
      assertIssue(issues, '"B"', "no step accepts")
      assertIssue(issues, '"C"', "no step emits")
      assertIssue(issues, '"C"', "unreachable")
      assertIssue(issues, '"dup"', "duplicate")
      assert.isAtLeast(issues.length, 9)
    })
  )

  it.effect("a valid workflow passes", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "valid", state: Schema.Number, initialState: 0, external: [C] })
        .step(StartEvent, unused, { emits: [A, InputRequired] })
        .step(A, unused, { emits: [B, StopEvent], workers: Infinity })
        .step(B, unused, { emits: [A], workers: 1 })
        .step(HumanResponse, unused, { emits: [StopEvent] })
        .step(C, unused, { emits: [StopEvent] })
        .step(StepFailed, unused, { emits: [StopEvent] })
      yield* Workflow.validate(wf)
    })
  )

  it.effect("reports a workflow where no step accepts StartEvent", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "noStart" }).step(A, unused)
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, "StartEvent")
    })
  )

  it.effect("reports when no path can emit StopEvent (all emits declared)", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "noStop" })
        .step(StartEvent, unused, { emits: [A] })
        .step(A, unused, { emits: [A] })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, "StopEvent")
    })
  )

  it.effect("reports a StopEvent emitted only by an unreachable step as no path to StopEvent", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "stopOffPath" })
        .step(StartEvent, unused, { emits: [A] })
        .step(A, unused, { emits: [A] })
        .step(D, unused, { emits: [E] })
        .step(E, unused, { emits: [D, StopEvent] })
      const issues = yield* issuesOf(wf)
      assertIssue(issues, "StopEvent", "path")
      assertIssue(issues, '"D"', "unreachable")
      assertIssue(issues, '"E"', "unreachable")
    })
  )

  it.effect("reports steps that only feed each other with no path to StopEvent (a dead-end cycle)", () =>
    Effect.gen(function* () {
      // start -> A | StopEvent; l1: A -> B; l2: B -> A. StopEvent is reachable, but not from l1/l2.
      const wf = defineWorkflow({ name: "dead-end" })
        .step(StartEvent, unused, { emits: [A, StopEvent] })
        .step(A, unused, { name: "l1", emits: [B] })
        .step(B, unused, { name: "l2", emits: [A] })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, "dead-end cycle", '"l1"', '"l2"', "StopEvent")
      // A step feeding only itself is one too.
      assertIssue(
        yield* issuesOf(
          defineWorkflow({ name: "self-loop" })
            .step(StartEvent, unused, { emits: [A, StopEvent] })
            .step(A, unused, { name: "spin", emits: [A] })
        ),
        "dead-end cycle",
        '"spin"'
      )
    })
  )

  it.effect("a cycle with a way out (StopEvent, a prompt, a step without declared emits) is not a dead end", () =>
    Effect.gen(function* () {
      const exits = [
        { emits: [A, StopEvent] },
        { emits: [A, InputRequired] },
        {} // no emits declared: its edges are unknown, the graph checks are skipped
      ]
      for (const exit of exits) {
        const wf = defineWorkflow({ name: "loop-with-exit" })
          .step(StartEvent, unused, { emits: [A, StopEvent] })
          .step(A, unused, { name: "l1", emits: [B] })
          .step(B, unused, { name: "l2", ...exit } as any)
        const result = yield* Effect.either(Workflow.validate(wf))
        const issues = Either.isLeft(result) ? result.left.issues : []
        assert.deepStrictEqual(matching(issues, "dead-end"), [], JSON.stringify(exit))
      }
    })
  )

  it.effect("reports a step that accepts StopEvent", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "acceptsStop" })
        .step(StartEvent, unused, { emits: [StopEvent] })
        .step(StopEvent, unused, { name: "afterStop", emits: [] })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, '"afterStop"', "StopEvent")
    })
  )

  it.effect("reports an emitted event that no step accepts", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "unaccepted" }).step(StartEvent, unused, { emits: [B, StopEvent] })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, '"StartEvent"', '"B"')
    })
  )

  it.effect("does not report emitted StopEvent or InputRequired as unaccepted", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "exemptEmits" }).step(StartEvent, unused, {
        emits: [InputRequired, StopEvent]
      })
      yield* Workflow.validate(wf)
    })
  )

  it.effect("reports an event accepted but never produced", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "neverProduced" })
        .step(StartEvent, unused, { emits: [StopEvent] })
        .step(C, unused, { emits: [StopEvent] })
      const issues = yield* issuesOf(wf)
      assertIssue(issues, '"C"', "no step emits")
      assertIssue(issues, '"C"', "unreachable")
      assert.strictEqual(issues.length, 2, issues.join("\n"))
    })
  )

  it.effect("does not report StartEvent, HumanResponse, StepFailed or external types as never produced", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "exemptAccepts", external: [C] })
        .step(StartEvent, unused, { emits: [StopEvent] })
        .step(HumanResponse, unused, { emits: [StopEvent] })
        .step(StepFailed, unused, { emits: [StopEvent] })
        .step(C, unused, { emits: [StopEvent] })
      yield* Workflow.validate(wf)
    })
  )

  it.effect("reports steps unreachable from the roots even when their events are produced", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "island" })
        .step(StartEvent, unused, { emits: [StopEvent] })
        .step(D, unused, { emits: [E] })
        .step(E, unused, { emits: [D] })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 2, issues.join("\n"))
      assertIssue(issues, '"D"', "unreachable")
      assertIssue(issues, '"E"', "unreachable")
    })
  )

  it.effect("reports duplicate explicit step names", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "dups" })
        .step(StartEvent, unused, { emits: [A, B] })
        .step(A, unused, { name: "same", emits: [StopEvent] })
        .step(B, unused, { name: "same", emits: [StopEvent] })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, '"same"', "duplicate")
    })
  )

  it.effect("gives default names a #2 suffix instead of reporting them as duplicates", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "defaults" })
        .step(StartEvent, unused, { emits: [A] })
        .step(A, unused, { emits: [StopEvent] })
        .step(A, unused, { emits: [StopEvent] })
        .step([A, B], unused, { emits: [StopEvent] })
      assert.deepStrictEqual(
        wf.steps.map((s) => s.name),
        ["StartEvent", "A", "A#2", "A|B"]
      )
      // B is accepted but never produced: the only problem
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, '"B"', "no step emits")
    })
  )

  it.effect("reports workers: 0 and workers: 1.5; accepts 1 and Infinity", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "workers" })
        .step(StartEvent, unused, { emits: [A, B, C, D] })
        .step(A, unused, { emits: [StopEvent], workers: 0 })
        .step(B, unused, { emits: [StopEvent], workers: 1.5 })
        .step(C, unused, { emits: [StopEvent], workers: 1 })
        .step(D, unused, { emits: [StopEvent], workers: Infinity })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 2, issues.join("\n"))
      assertIssue(issues, '"A"', "workers")
      assertIssue(issues, '"B"', "workers", "1.5")
    })
  )

  it.effect("reports a state schema without initialState", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "noInitial", state: Schema.Number } as any).step(StartEvent, unused, {
        emits: [StopEvent]
      })
      const issues = yield* issuesOf(wf)
      assert.strictEqual(issues.length, 1, issues.join("\n"))
      assertIssue(issues, "initialState")
    })
  )

  it.effect(".step never throws for garbage input; validation reports it instead", () =>
    Effect.gen(function* () {
      const base = defineWorkflow({ name: "garbage" })
      const cyclic: any = {}
      cyclic.self = cyclic
      const attempts: ReadonlyArray<() => Workflow.Any> = [
        () => base.step(42 as any, "not a function" as any),
        () => base.step(undefined as any, undefined as any, undefined),
        () => base.step(null as any, null as any, null as any),
        () => base.step([] as any, unused),
        () => base.step(cyclic, cyclic, cyclic),
        () => base.step(BigInt(1) as any, Symbol("handler") as any, { emits: [BigInt(2), Symbol("e")] } as any),
        () => base.step(Schema.String as any, unused),
        () => base.step([StartEvent, "A"] as any, unused),
        () => base.step(StartEvent, unused, { emits: 5 } as any),
        () => base.step(StartEvent, unused, { emits: ["x", null] } as any),
        () => base.step(StartEvent, unused, { workers: "many" } as any),
        () => base.step(StartEvent, unused, { workers: -1 }),
        () => base.step(StartEvent, unused, { workers: Number.NaN }),
        () => base.step(StartEvent, unused, { timeout: "soon" } as any),
        () => base.step(StartEvent, unused, { name: 5 } as any),
        () => base.step(StartEvent, unused, { name: "" } as any)
      ]
      for (const [i, attempt] of attempts.entries()) {
        let wf: Workflow.Any | undefined
        assert.doesNotThrow(() => {
          wf = attempt()
        }, `case #${i}`)
        const result = yield* Effect.either(Workflow.validate(wf!))
        assert.isTrue(Either.isLeft(result), `case #${i} should not validate`)
      }
    })
  )

  it.effect("skips the produced/reachable/StopEvent checks when a step has no emits", () =>
    Effect.gen(function* () {
      // StartEvent's outputs are unknown: A may be produced by it, and may lead to a StopEvent.
      const wf = defineWorkflow({ name: "partial" })
        .step(StartEvent, unused)
        .step(A, unused, { emits: [A] })
        .step(C, unused, { emits: [A] })
      yield* Workflow.validate(wf)
    })
  )

  it.effect("still checks declared emits, StartEvent, StopEvent-accepting steps and names without emits", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "partialBroken" })
        .step(A, unused)
        .step(A, unused, { name: "A", emits: [B] })
        .step(StopEvent, unused, { name: "afterStop" })
      const issues = yield* issuesOf(wf)
      assertIssue(issues, "StartEvent")
      assertIssue(issues, '"B"', "no step accepts")
      assertIssue(issues, '"afterStop"', "StopEvent")
      assertIssue(issues, '"A"', "duplicate")
      assert.strictEqual(matching(issues, "unreachable").length, 0, issues.join("\n"))
      assert.strictEqual(matching(issues, "no step emits").length, 0, issues.join("\n"))
    })
  )

  it("caches the validation result per workflow value", () => {
    const invalid = defineWorkflow({ name: "cached" }).step(StartEvent, unused, { emits: [A] })
    const first = Workflow.validate(invalid)
    assert.strictEqual(Workflow.validate(invalid), first)
    // a new builder value has its own result; the old value keeps its own
    const fixed = invalid.step(A, unused, { emits: [StopEvent] })
    assert.isTrue(Either.isRight(Effect.runSync(Effect.either(Workflow.validate(fixed)))))
    assert.strictEqual(Workflow.validate(invalid), first)
    assert.isTrue(Either.isLeft(Effect.runSync(Effect.either(first))))
  })
})

describe("validation before a run", () => {
  it.effect("Workflow.run fails with WorkflowValidationError before any step runs", () =>
    Effect.gen(function* () {
      let calls = 0
      const wf = defineWorkflow({ name: "invalidRun" }).step(
        StartEvent,
        () =>
          Effect.sync(() => {
            calls++
            return StopEvent.make({ result: "ran" })
          }),
        { emits: [StopEvent], workers: 0 }
      )
      const error = yield* Effect.flip(Workflow.run(wf))
      assert.instanceOf(error, WorkflowValidationError)
      assertIssue((error as WorkflowValidationError).issues, "workers")
      assert.strictEqual(calls, 0)
    })
  )

  it.effect("Workflow.start fails with WorkflowValidationError before any step runs", () =>
    Effect.gen(function* () {
      let calls = 0
      const wf = defineWorkflow({ name: "invalidStart" })
        .step(
          StartEvent,
          () =>
            Effect.sync(() => {
              calls++
              return StopEvent.make({ result: "ran" })
            }),
          { emits: [StopEvent] }
        )
        .step(C, unused, { emits: [StopEvent] })
      const error = yield* Effect.flip(Effect.scoped(Workflow.start(wf)))
      assert.instanceOf(error, WorkflowValidationError)
      assert.strictEqual(calls, 0)
    })
  )

  it.effect("validate: false skips the graph checks", () =>
    Effect.gen(function* () {
      let calls = 0
      const wf = defineWorkflow({ name: "graphOnly", output: Schema.String })
        .step(
          StartEvent,
          () =>
            Effect.sync(() => {
              calls++
              return StopEvent.make({ result: "ok" })
            }),
          { emits: [StopEvent] }
        )
        .step(C, unused, { emits: [StopEvent] }) // C is never produced and unreachable
      const error = yield* Effect.flip(Workflow.run(wf))
      assert.instanceOf(error, WorkflowValidationError)
      assert.strictEqual(calls, 0)
      assert.strictEqual(yield* Workflow.run(wf, undefined, { validate: false }), "ok")
      assert.strictEqual(calls, 1)
    })
  )

  it.effect("validate: false does not skip the definition checks", () =>
    Effect.gen(function* () {
      let calls = 0
      const wf = defineWorkflow({ name: "definitionProblem" }).step(
        StartEvent,
        () =>
          Effect.sync(() => {
            calls++
            return StopEvent.make({ result: "ran" })
          }),
        { emits: [StopEvent], workers: 1.5 }
      )
      const error = yield* Effect.flip(Workflow.run(wf, undefined, { validate: false }))
      assert.instanceOf(error, WorkflowValidationError)
      assertIssue((error as WorkflowValidationError).issues, "workers", "1.5")
      assert.strictEqual(calls, 0)
    })
  )

  it.effect("validate: false does not skip duplicate step names", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "dupRun" })
        .step(StartEvent, () => Effect.succeed(A.make({ n: 1 })), { emits: [A] })
        .step(A, () => Effect.succeed(StopEvent.make({ result: 1 })), { name: "x", emits: [StopEvent] })
        .step(A, () => Effect.succeed(StopEvent.make({ result: 2 })), { name: "x", emits: [StopEvent] })
      const error = yield* Effect.flip(Workflow.run(wf, undefined, { validate: false }))
      assert.instanceOf(error, WorkflowValidationError)
      assertIssue((error as WorkflowValidationError).issues, '"x"', "duplicate")
    })
  )
})

// -----------------------------------------------------------------------------
// drawing
// -----------------------------------------------------------------------------

const Query = Event.define("Query", { text: Schema.String })
const Answer = Event.define("Answer", { text: Schema.String })
const Feedback = Event.define("Feedback", { score: Schema.Number })

const rag = defineWorkflow({ name: "rag", external: [Feedback] })
  .step(StartEvent, unused, { emits: [Query] })
  .step(Query, unused, { emits: [Answer, InputRequired], workers: Infinity })
  .step(Answer, unused, { emits: [StopEvent, Query] })
  .step(HumanResponse, unused, { emits: [StopEvent] })
  .step(Feedback, unused)

/** The declared edges of `rag`, as [from, to] labels: event -> step (accepts), step -> event (emits). */
const ragEdges: ReadonlyArray<readonly [string, string, "accepts" | "emits"]> = [
  ["StartEvent", "StartEvent", "accepts"],
  ["StartEvent", "Query", "emits"],
  ["Query", "Query", "accepts"],
  ["Query", "Answer", "emits"],
  ["Query", "InputRequired", "emits"],
  ["Answer", "Answer", "accepts"],
  ["Answer", "StopEvent", "emits"],
  ["Answer", "Query", "emits"],
  ["HumanResponse", "HumanResponse", "accepts"],
  ["HumanResponse", "StopEvent", "emits"],
  ["Feedback", "Feedback", "accepts"]
]

describe("Workflow.graph", () => {
  it("returns the steps, events and declared edges as plain JSON", () => {
    const g = Workflow.graph(rag)
    assert.strictEqual(g.workflow, "rag")
    assert.deepStrictEqual(JSON.parse(JSON.stringify(g)), g)

    const steps = g.nodes.flatMap((n) => (n.kind === "step" ? [n] : []))
    assert.deepStrictEqual(
      steps.map((n) => [n.name, n.workers, n.declared]),
      [
        ["StartEvent", 4, true],
        ["Query", "Infinity", true],
        ["Answer", 4, true],
        ["HumanResponse", 4, true],
        ["Feedback", 4, false]
      ]
    )
    const roles = new Map(g.nodes.flatMap((n) => (n.kind === "event" ? [[n.tag, n.role] as const] : [])))
    assert.deepStrictEqual(Object.fromEntries(roles), {
      StartEvent: "start",
      Query: "event",
      Answer: "event",
      InputRequired: "input-required",
      StopEvent: "stop",
      HumanResponse: "external",
      Feedback: "external"
    })

    const label = new Map(g.nodes.map((n) => [n.id, n.kind === "step" ? n.name : n.tag]))
    const kindOf = new Map(g.nodes.map((n) => [n.id, n.kind]))
    const actual = g.edges.map((e) => {
      assert.strictEqual(kindOf.get(e.kind === "accepts" ? e.from : e.to), "event")
      assert.strictEqual(kindOf.get(e.kind === "accepts" ? e.to : e.from), "step")
      return `${label.get(e.from)} -> ${label.get(e.to)} (${e.kind})`
    })
    const expected = ragEdges.map(([from, to, kind]) => `${from} -> ${to} (${kind})`)
    assert.deepStrictEqual([...actual].sort(), [...expected].sort())
  })

  it("marks StepFailed as the failure role", () => {
    const wf = defineWorkflow({ name: "failing" })
      .step(StartEvent, unused, { emits: [StopEvent] })
      .step(StepFailed, unused, { emits: [StopEvent] })
    const node = Workflow.graph(wf).nodes.find((n) => n.kind === "event" && n.tag === "StepFailed")
    assert.deepStrictEqual(node && node.kind === "event" ? node.role : undefined, "failure")
  })
})

/** Parses the nodes and edges of a Mermaid flowchart as `toMermaid` draws them. */
const parseMermaid = (text: string) => {
  const steps = new Map<string, string>()
  const events = new Map<string, string>()
  const edges: Array<readonly [string, string]> = []
  const dotted: Array<readonly [string, string]> = []
  for (const line of text.split("\n")) {
    const event = /^\s*([\w-]+)\(\["(.*)"\]\)/.exec(line)
    if (event) {
      events.set(event[1], event[2])
      continue
    }
    const step = /^\s*([\w-]+)\["(.*)"\]/.exec(line)
    if (step) {
      steps.set(step[1], step[2])
      continue
    }
    const edge = /^\s*([\w-]+)\s*-->\s*([\w-]+)\s*$/.exec(line)
    if (edge) {
      edges.push([edge[1], edge[2]])
      continue
    }
    const dot = /^\s*([\w-]+)\s*-\.->\s*([\w-]+)\s*$/.exec(line)
    if (dot) dotted.push([dot[1], dot[2]])
  }
  return { steps, events, edges, dotted }
}

describe("Workflow.toMermaid", () => {
  it("draws a flowchart with every step, every event and each declared edge", () => {
    const text = Workflow.toMermaid(rag)
    assert.isTrue(text.startsWith("flowchart"))
    const { edges, events, steps } = parseMermaid(text)
    assert.deepStrictEqual([...steps.values()].sort(), ["Answer", "Feedback", "HumanResponse", "Query", "StartEvent"])
    assert.deepStrictEqual([...events.values()].sort(), [
      "Answer",
      "Feedback",
      "HumanResponse",
      "InputRequired",
      "Query",
      "StartEvent",
      "StopEvent"
    ])
    const labelOf = (id: string) => (steps.has(id) ? `step:${steps.get(id)}` : `event:${events.get(id)}`)
    const drawn = edges.map(([from, to]) => `${labelOf(from)} -> ${labelOf(to)}`)
    const expected = ragEdges.map(([from, to, kind]) =>
      kind === "accepts" ? `event:${from} -> step:${to}` : `step:${from} -> event:${to}`
    )
    assert.deepStrictEqual(drawn.sort(), [...expected].sort())
  })

  it("draws steps without emits to an unknown node", () => {
    const { dotted, events, steps } = parseMermaid(Workflow.toMermaid(rag))
    const feedbackStep = [...steps].find(([, name]) => name === "Feedback")![0]
    assert.strictEqual(dotted.length, 1)
    const [from, to] = dotted[0]
    assert.strictEqual(from, feedbackStep)
    assert.isFalse(steps.has(to))
    assert.isFalse(events.has(to))
  })

  it("draws no unknown node when every step declares its emits", () => {
    const wf = defineWorkflow({ name: "declared" })
      .step(StartEvent, unused, { emits: [A] })
      .step(A, unused, { emits: [StopEvent] })
    assert.deepStrictEqual(parseMermaid(Workflow.toMermaid(wf)).dotted, [])
  })

  it("escapes double quotes in labels", () => {
    const wf = defineWorkflow({ name: "quotes" }).step(StartEvent, unused, {
      name: 'say "hi"',
      emits: [StopEvent]
    })
    const text = Workflow.toMermaid(wf)
    assert.notInclude(text, 'say "hi"')
    assert.include(text, "say #quot;hi#quot;")
  })
})
