/**
 * Unit tests of the pure run-loop transition function: no fibers, no Effect runtime. Handlers are never called,
 * the tests play the shell's part by feeding inputs and reading the returned commands.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schema } from "effect"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  StartEvent,
  StepFailed,
  StopEvent,
  type Workflow,
  WorkflowStalledError
} from "@eventflow/core"
import type { AnyEvent } from "../src/Event.js"
import { childId, collectId, externalId, maxIdLength, startEventId } from "../src/internal/ids.js"
import * as I from "../src/internal/interpreter.js"
import { planOf } from "../src/internal/plan.js"

const A = Event.define("A", { n: Schema.Number })
const B = Event.define("B", { n: Schema.Number })

const unused = () => Effect.dieMessage("a handler was called by a pure interpreter test")

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const runsOf = (commands: ReadonlyArray<I.Command>): Array<I.Invocation> =>
  commands.flatMap((c) => (c._tag === "Run" ? [c.invocation] : []))

/** An event with its fields visible to assertions. */
type Fields = AnyEvent & { readonly [key: string]: unknown }

const publishedOf = (commands: ReadonlyArray<I.Command>): Array<Fields> =>
  commands.flatMap((c) => (c._tag === "Publish" ? [c.event as Fields] : []))

// Stalled endings carry a WorkflowStalledError built from `waitingFor`; compare them by their data.
type EndingData =
  | Exclude<I.Ending, { _tag: "Stalled" }>
  | { readonly _tag: "Stalled"; readonly waitingFor: ReadonlyArray<string> }
const endsOf = (commands: ReadonlyArray<I.Command>): Array<EndingData> =>
  commands.flatMap((c): Array<EndingData> => {
    if (c._tag !== "End") return []
    if (c.ending._tag !== "Stalled") return [c.ending]
    assert.instanceOf(c.ending.error, WorkflowStalledError)
    assert.deepStrictEqual(c.ending.error.waitingFor, c.ending.waitingFor)
    return [{ _tag: "Stalled", waitingFor: c.ending.waitingFor }]
  })

const resumesOf = (commands: ReadonlyArray<I.Command>): Array<I.Resume> =>
  commands.flatMap((c) => (c._tag === "Resume" ? [c.resume] : []))

const stepName = (state: I.RunState, inv: I.Invocation): string => state.plan.steps[inv.step].name

const stepIndex = (state: I.RunState, name: string): number => {
  const index = state.plan.stepIndex.get(name)
  if (index === undefined) throw new Error(`no step ${name}`)
  return index
}

/** Makes a fresh state and applies `Start`; `root` is the StartEvent invocation. */
const start = (wf: Workflow.Any, options?: { readonly trace?: boolean; readonly input?: unknown }) => {
  const state = I.make(planOf(wf), "run-1", options?.trace ?? true)
  const commands = I.transition(state, { _tag: "Start", input: options?.input })
  const root = runsOf(commands)[0]
  return { state, commands, root }
}

const complete = (state: I.RunState, invocation: I.Invocation, output?: AnyEvent | ReadonlyArray<AnyEvent>) =>
  I.transition(state, { _tag: "Completed", invocation, output })

/** A waiter as the shell builds it for `ctx.waitFor`. */
const waiterOf = (
  state: I.RunState,
  invocation: I.Invocation,
  tag: string,
  match?: (event: any) => boolean
): I.Waiter => {
  const index = invocation.waits++
  return { key: `${stepName(state, invocation)}@${invocation.eventId}#${index}`, index, invocation, tag, match }
}

// -----------------------------------------------------------------------------
// workflows (handlers are never called)
// -----------------------------------------------------------------------------

const linear = defineWorkflow({ name: "linear", input: Schema.String })
  .step(StartEvent, unused, { emits: [A] })
  .step(A, unused, { emits: [StopEvent] })

const capped = defineWorkflow({ name: "capped" })
  .step(StartEvent, unused, { emits: [A] })
  .step(A, unused, { emits: [StopEvent], workers: 2 })

const uncapped = defineWorkflow({ name: "uncapped" })
  .step(StartEvent, unused, { emits: [A] })
  .step(A, unused, { emits: [StopEvent], workers: Infinity })

const broadcast = defineWorkflow({ name: "broadcast" })
  .step(StartEvent, unused, { emits: [A] })
  .step(A, unused, { emits: [B] })
  .step(B, unused, { emits: [StopEvent] })
  .step(B, unused, { emits: [StopEvent] })

const recovering = defineWorkflow({ name: "recovering" })
  .step(StartEvent, unused, { emits: [A] })
  .step(A, unused, { emits: [StopEvent] })
  .step(StepFailed, unused, { emits: [StopEvent] })

const joining = defineWorkflow({ name: "joining" })
  .step(StartEvent, unused, { emits: [A, B] })
  .step([A, B], unused, { name: "Join", emits: [StopEvent] })

const human = defineWorkflow({ name: "human" })
  .step(StartEvent, unused, { emits: [InputRequired] })
  .step(HumanResponse, unused, { emits: [StopEvent] })

const prompting = defineWorkflow({ name: "prompting" }).step(StartEvent, unused, {
  emits: [InputRequired, StopEvent]
})

const externalB = defineWorkflow({ name: "externalB", external: [B] })
  .step(StartEvent, unused, { emits: [InputRequired] })
  .step(B, unused, { emits: [StopEvent] })

const waiting = defineWorkflow({ name: "waiting" })
  .step(StartEvent, unused, { emits: [A] })
  .step(A, unused, { emits: [StopEvent], workers: 1 })
  .step(HumanResponse, unused, { emits: [StopEvent] })

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("interpreter", () => {
  describe("dispatch and ids", () => {
    it("Start dispatches event '0' to the StartEvent step", () => {
      const { state, commands } = start(linear, { input: "hello" })
      const runs = runsOf(commands)
      assert.strictEqual(runs.length, 1)
      assert.strictEqual(runs[0].eventId, "0")
      assert.strictEqual(stepName(state, runs[0]), "StartEvent")
      assert.deepStrictEqual<unknown>(runs[0].event, { _tag: "StartEvent", input: "hello" })
      assert.deepStrictEqual(publishedOf(commands), [
        { _tag: "EventDispatched", eventId: "0", tag: "StartEvent", steps: ["StartEvent"] }
      ])
      assert.deepStrictEqual(endsOf(commands), [])
      assert.strictEqual(state.status, "running")
    })

    it("Completed with an event dispatches it with child id '0/StartEvent/0'", () => {
      const { state, root } = start(linear)
      const commands = complete(state, root, A.make({ n: 1 }))
      const runs = runsOf(commands)
      assert.deepStrictEqual(
        runs.map((r) => [r.eventId, stepName(state, r)]),
        [["0/StartEvent/0", "A"]]
      )
      assert.deepStrictEqual<unknown>(runs[0].event, { _tag: "A", n: 1 })
      assert.deepStrictEqual(publishedOf(commands), [
        { _tag: "StepCompleted", step: "StartEvent", eventId: "0", emitted: ["0/StartEvent/0"] },
        { _tag: "EventDispatched", eventId: "0/StartEvent/0", tag: "A", steps: ["A"] }
      ])
    })

    it("an array output is dispatched in order with k = 0, 1, 2", () => {
      const { state, root } = start(linear)
      const commands = complete(state, root, [A.make({ n: 10 }), A.make({ n: 11 }), A.make({ n: 12 })])
      const runs = runsOf(commands)
      assert.deepStrictEqual(
        runs.map((r) => r.eventId),
        ["0/StartEvent/0", "0/StartEvent/1", "0/StartEvent/2"]
      )
      assert.deepStrictEqual(
        runs.map((r) => (r.event as any).n),
        [10, 11, 12]
      )
      const completed = publishedOf(commands).find((e) => e._tag === "StepCompleted") as any
      assert.deepStrictEqual(completed.emitted, ["0/StartEvent/0", "0/StartEvent/1", "0/StartEvent/2"])
    })

    it("a Completed with no output dispatches nothing and reports an empty emitted list", () => {
      const { state, root } = start(human)
      const commands = complete(state, root, undefined)
      assert.deepStrictEqual(runsOf(commands), [])
      assert.deepStrictEqual(publishedOf(commands)[0], {
        _tag: "StepCompleted",
        step: "StartEvent",
        eventId: "0",
        emitted: []
      })
    })

    it("ctx.send ids continue the invocation's k, and a later returned event gets the next k", () => {
      const { state, root } = start(broadcast)
      const [a] = runsOf(complete(state, root, A.make({ n: 1 })))
      const sent = I.transition(state, { _tag: "Send", from: a, event: B.make({ n: 2 }), step: undefined })
      assert.deepStrictEqual(
        runsOf(sent).map((r) => r.eventId),
        ["0/StartEvent/0/A/0", "0/StartEvent/0/A/0"]
      )
      const returned = complete(state, a, B.make({ n: 3 }))
      assert.deepStrictEqual(
        runsOf(returned).map((r) => r.eventId),
        ["0/StartEvent/0/A/1", "0/StartEvent/0/A/1"]
      )
    })

    it("an event accepted by two steps gives each its own invocation; a targeted send reaches one step", () => {
      const { state, root } = start(broadcast)
      const [a] = runsOf(complete(state, root, A.make({ n: 1 })))
      const all = I.transition(state, { _tag: "Send", from: a, event: B.make({ n: 2 }), step: undefined })
      assert.deepStrictEqual(
        runsOf(all).map((r) => stepName(state, r)),
        ["B", "B#2"]
      )
      const one = I.transition(state, {
        _tag: "Send",
        from: a,
        event: B.make({ n: 3 }),
        step: stepIndex(state, "B#2")
      })
      assert.deepStrictEqual(
        runsOf(one).map((r) => [stepName(state, r), r.eventId]),
        [["B#2", "0/StartEvent/0/A/1"]]
      )
    })

    it("an event no step accepts is reported as UnhandledEvent and dropped", () => {
      const { state, root } = start(linear)
      const commands = complete(state, root, B.make({ n: 1 }))
      assert.deepStrictEqual(runsOf(commands), [])
      assert.isTrue(
        publishedOf(commands).some(
          (e) => e._tag === "UnhandledEvent" && (e as any).eventId === "0/StartEvent/0" && (e as any).tag === "B"
        )
      )
    })

    it("Attempt counts executions and publishes StepStarted with the attempt number", () => {
      const { state, root } = start(linear)
      const first = I.transition(state, { _tag: "Attempt", invocation: root })
      const second = I.transition(state, { _tag: "Attempt", invocation: root })
      assert.strictEqual(root.attempts, 2)
      assert.deepStrictEqual(publishedOf(first), [
        { _tag: "StepStarted", step: "StartEvent", eventId: "0", attempt: 1 }
      ])
      assert.deepStrictEqual(publishedOf(second), [
        { _tag: "StepStarted", step: "StartEvent", eventId: "0", attempt: 2 }
      ])
      const failed = I.transition(state, { _tag: "AttemptFailed", invocation: root, error: "nope" })
      assert.deepStrictEqual(publishedOf(failed), [
        { _tag: "StepFailedAttempt", step: "StartEvent", eventId: "0", attempt: 2, error: "nope" }
      ])
      assert.deepStrictEqual(endsOf(failed), [])
    })
  })

  describe("workers", () => {
    it("a step's workers cap queues the excess; a Completed frees the slot and starts the oldest queued (FIFO)", () => {
      const { state, root } = start(capped)
      const outputs = [0, 1, 2, 3].map((n) => A.make({ n }))
      const first = runsOf(complete(state, root, outputs))
      assert.deepStrictEqual(
        first.map((r) => r.eventId),
        ["0/StartEvent/0", "0/StartEvent/1"]
      )
      assert.strictEqual(state.queued, 2)
      assert.deepStrictEqual(
        I.fifoItems(state.queues[stepIndex(state, "A")]).map((inv) => inv.eventId),
        ["0/StartEvent/2", "0/StartEvent/3"]
      )
      // The second running invocation finishes first: the oldest queued one takes its slot.
      const next = runsOf(complete(state, first[1], undefined))
      assert.deepStrictEqual(
        next.map((r) => r.eventId),
        ["0/StartEvent/2"]
      )
      assert.strictEqual(state.queued, 1)
      const last = runsOf(complete(state, first[0], undefined))
      assert.deepStrictEqual(
        last.map((r) => r.eventId),
        ["0/StartEvent/3"]
      )
      assert.strictEqual(state.queued, 0)
    })

    it("a Failed invocation also frees its slot for the oldest queued one", () => {
      const { state, root } = start(recovering)
      // default workers: 4, so a fifth A queues
      const first = runsOf(
        complete(
          state,
          root,
          [0, 1, 2, 3, 4].map((n) => A.make({ n }))
        )
      )
      assert.strictEqual(first.length, 4)
      assert.strictEqual(state.queued, 1)
      const commands = I.transition(state, { _tag: "Failed", invocation: first[0], error: "boom", defect: false })
      assert.deepStrictEqual(
        runsOf(commands).map((r) => [stepName(state, r), r.eventId]),
        [
          ["StepFailed", "0/StartEvent/0/A/0"],
          ["A", "0/StartEvent/4"]
        ]
      )
    })

    it("workers: Infinity starts every invocation at once", () => {
      const { state, root } = start(uncapped)
      const outputs = Array.from({ length: 50 }, (_, n) => A.make({ n }))
      const runs = runsOf(complete(state, root, outputs))
      assert.strictEqual(runs.length, 50)
      assert.strictEqual(state.queued, 0)
    })
  })

  describe("ending", () => {
    it("a StopEvent publishes the StopEvent and ends Completed; later inputs produce no commands", () => {
      const { state, root } = start(linear)
      const [a, other] = runsOf(complete(state, root, [A.make({ n: 1 }), A.make({ n: 2 })]))
      const commands = complete(state, a, StopEvent.make({ result: "done" }))
      assert.deepStrictEqual(publishedOf(commands).at(-1), { _tag: "StopEvent", result: "done" })
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Completed", result: "done" }])
      assert.strictEqual(commands.at(-1)?._tag, "End")
      assert.strictEqual(state.status, "completed")

      assert.deepStrictEqual(complete(state, other, A.make({ n: 3 })), [])
      assert.deepStrictEqual(I.transition(state, { _tag: "External", event: A.make({ n: 4 }), step: undefined }), [])
      assert.deepStrictEqual(I.transition(state, { _tag: "Start", input: undefined }), [])
      assert.deepStrictEqual(I.transition(state, { _tag: "Cancel" }), [])
      assert.deepStrictEqual(I.transition(state, { _tag: "Timeout", timeout: Duration.seconds(1) }), [])
      assert.strictEqual(state.status, "completed")
    })

    it("events after a StopEvent in the same array output are not dispatched", () => {
      const { state, root } = start(linear)
      const commands = complete(state, root, [StopEvent.make({ result: 1 }), A.make({ n: 1 })])
      assert.deepStrictEqual(runsOf(commands), [])
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Completed", result: 1 }])
    })

    it("Failed routes a StepFailed event when a step accepts StepFailed", () => {
      const { state, root } = start(recovering)
      const [a] = runsOf(complete(state, root, A.make({ n: 7 })))
      I.transition(state, { _tag: "Attempt", invocation: a })
      const commands = I.transition(state, { _tag: "Failed", invocation: a, error: "boom", defect: false })
      assert.deepStrictEqual(endsOf(commands), [])
      const runs = runsOf(commands)
      assert.deepStrictEqual(
        runs.map((r) => [stepName(state, r), r.eventId]),
        [["StepFailed", "0/StartEvent/0/A/0"]]
      )
      assert.deepStrictEqual<unknown>(runs[0].event, {
        _tag: "StepFailed",
        step: "A",
        event: { _tag: "A", n: 7 },
        error: "boom",
        attempts: 1
      })
      assert.strictEqual(state.status, "running")
    })

    it("a failing StepFailed handler ends the run Failed instead of being routed again", () => {
      const { state, root } = start(recovering)
      const [a] = runsOf(complete(state, root, A.make({ n: 7 })))
      const [recovery] = runsOf(I.transition(state, { _tag: "Failed", invocation: a, error: "boom", defect: false }))
      const commands = I.transition(state, { _tag: "Failed", invocation: recovery, error: "again", defect: false })
      assert.deepStrictEqual(runsOf(commands), [])
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Failed", step: "StepFailed", error: "again", defect: false }])
      assert.strictEqual(state.status, "failed")
    })

    it("Failed without a StepFailed step publishes WorkflowFailed and ends Failed", () => {
      const { state, root } = start(linear)
      const [a] = runsOf(complete(state, root, A.make({ n: 1 })))
      I.transition(state, { _tag: "Attempt", invocation: a })
      I.transition(state, { _tag: "Attempt", invocation: a })
      const commands = I.transition(state, { _tag: "Failed", invocation: a, error: "boom", defect: false })
      assert.deepStrictEqual(runsOf(commands), [])
      assert.deepStrictEqual(publishedOf(commands).at(-1), {
        _tag: "WorkflowFailed",
        step: "A",
        error: "boom",
        attempts: 2
      })
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Failed", step: "A", error: "boom", defect: false }])
      assert.strictEqual(state.status, "failed")
    })

    it("a defect is routed to StepFailed marked defect: true; an interruption ends the run Failed", () => {
      const { state, root } = start(recovering)
      const [a, a2] = runsOf(complete(state, root, [A.make({ n: 1 }), A.make({ n: 2 })]))
      const defect = new Error("bug")
      const routed = I.transition(state, { _tag: "Failed", invocation: a, error: defect, defect: true })
      assert.deepStrictEqual(endsOf(routed), [])
      assert.deepStrictEqual(
        runsOf(routed).map((r) => (r.event as StepFailed).defect),
        [true]
      )
      const interrupted = I.transition(state, {
        _tag: "Failed",
        invocation: a2,
        error: "interrupted",
        defect: true,
        interrupted: true
      })
      assert.deepStrictEqual(runsOf(interrupted), [])
      assert.deepStrictEqual(endsOf(interrupted), [{ _tag: "Failed", step: "A", error: "interrupted", defect: true }])
      assert.strictEqual(state.status, "failed")
    })

    it("the recovery budget: after maxRecoveries routed failures the next one ends the run", () => {
      const { state, root } = start(recovering)
      state.maxRecoveries = 1
      const [a, a2] = runsOf(complete(state, root, [A.make({ n: 1 }), A.make({ n: 2 })]))
      assert.strictEqual(
        runsOf(I.transition(state, { _tag: "Failed", invocation: a, error: "one", defect: false })).length,
        1
      )
      const commands = I.transition(state, { _tag: "Failed", invocation: a2, error: "two", defect: false })
      const [ending] = endsOf(commands) as Array<{ _tag: string; error: unknown }>
      assert.strictEqual(ending._tag, "Failed")
      assert.strictEqual((ending.error as { _tag: string })._tag, "RecoveryBudgetError")
      assert.strictEqual(state.recoveries, 1)
    })

    it("Cancel publishes WorkflowCancelled and ends Cancelled", () => {
      const { state } = start(linear)
      const commands = I.transition(state, { _tag: "Cancel" })
      assert.deepStrictEqual(publishedOf(commands), [{ _tag: "WorkflowCancelled" }])
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Cancelled" }])
      assert.strictEqual(state.status, "cancelled")
      assert.deepStrictEqual(I.transition(state, { _tag: "Cancel" }), [])
    })

    it("Timeout publishes WorkflowTimedOut naming the active steps (running and waiting) and ends TimedOut", () => {
      const { state, root } = start(waiting)
      const [a0] = runsOf(complete(state, root, [A.make({ n: 0 }), A.make({ n: 1 })]))
      // a0 waits (its slot goes to the queued A), and a HumanResponse step runs too
      I.transition(state, { _tag: "Wait", invocation: a0, waiter: waiterOf(state, a0, "B"), prompt: undefined })
      I.transition(state, { _tag: "External", event: HumanResponse.make({ response: "hi" }), step: undefined })
      const timeout = Duration.seconds(30)
      const commands = I.transition(state, { _tag: "Timeout", timeout })
      const ends = endsOf(commands)
      assert.strictEqual(ends.length, 1)
      const ending = ends[0]
      assert.strictEqual(ending._tag, "TimedOut")
      if (ending._tag !== "TimedOut") return
      assert.isTrue(Duration.equals(ending.timeout, timeout))
      assert.deepStrictEqual([...ending.activeSteps].sort(), ["A", "HumanResponse"])
      const published = publishedOf(commands)
      assert.deepStrictEqual(published, [{ _tag: "WorkflowTimedOut", timeout, activeSteps: ending.activeSteps }])
      assert.strictEqual(state.status, "timed-out")
    })

    it("Timeout with nothing active names no steps", () => {
      const { state, root } = start(human)
      complete(state, root, undefined)
      const [ending] = endsOf(I.transition(state, { _tag: "Timeout", timeout: Duration.seconds(1) }))
      assert.deepStrictEqual(ending, { _tag: "TimedOut", timeout: Duration.seconds(1), activeSteps: [] })
    })
  })

  describe("stall and idle", () => {
    it("ends Stalled when nothing runs, nothing is queued and nothing can come from outside", () => {
      const { state, root } = start(linear)
      const commands = complete(state, root, undefined)
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Stalled", waitingFor: [] }])
      const terminal = publishedOf(commands).at(-1) as any
      assert.strictEqual(terminal._tag, "WorkflowFailed")
      assert.strictEqual(terminal.step, null)
      assert.strictEqual(state.status, "failed")
    })

    it("does not stall while another invocation still runs or is queued", () => {
      const { state, root } = start(capped)
      const [a0, a1] = runsOf(complete(state, root, [A.make({ n: 0 }), A.make({ n: 1 }), A.make({ n: 2 })]))
      const c1 = complete(state, a0, undefined) // a2 starts
      assert.deepStrictEqual(endsOf(c1), [])
      const a2 = runsOf(c1)[0]
      assert.deepStrictEqual(endsOf(complete(state, a1, undefined)), [])
      assert.deepStrictEqual(endsOf(complete(state, a2, undefined)), [{ _tag: "Stalled", waitingFor: [] }])
    })

    it("a stall names the partial collect buffers it was waiting for", () => {
      const { state, root } = start(joining)
      const [join] = runsOf(complete(state, root, A.make({ n: 1 })))
      assert.strictEqual(stepName(state, join), "Join")
      assert.isUndefined(I.collect(state, "Join", join.event, ["A", "B"]))
      const [ending] = endsOf(complete(state, join, undefined))
      assert.strictEqual(ending._tag, "Stalled")
      if (ending._tag !== "Stalled") return
      assert.strictEqual(ending.waitingFor.length, 1)
      assert.include(ending.waitingFor[0], "Join")
      assert.include(ending.waitingFor[0], "A")
    })

    it("publishes RunIdle instead of stalling when a step accepts HumanResponse", () => {
      const { state, root } = start(human)
      const commands = complete(state, root, undefined)
      assert.deepStrictEqual(endsOf(commands), [])
      assert.deepStrictEqual(publishedOf(commands).at(-1), { _tag: "RunIdle" })
      assert.strictEqual(state.status, "running")
      assert.isTrue(I.isWaiting(state))
    })

    it("publishes RunIdle instead of stalling when a step accepts a declared external type", () => {
      const { state, root } = start(externalB)
      const commands = complete(state, root, undefined)
      assert.deepStrictEqual(endsOf(commands), [])
      assert.deepStrictEqual(publishedOf(commands).at(-1), { _tag: "RunIdle" })
      assert.isTrue(I.isWaiting(state))
    })

    it("an unanswered InputRequired keeps the run from stalling", () => {
      const { state, root } = start(prompting)
      const commands = complete(state, root, InputRequired.make({ prompt: "name?" }))
      assert.deepStrictEqual(endsOf(commands), [])
      assert.deepStrictEqual(
        publishedOf(commands)
          .filter((e) => !Event.isInternal(e))
          .map((e) => e._tag),
        ["InputRequired"]
      )
      assert.strictEqual(state.pending.length, 1)
      assert.isTrue(I.isWaiting(state))
    })

    it("stalls once the last pending InputRequired is answered by an event nothing handles", () => {
      const { state, root } = start(prompting)
      complete(state, root, InputRequired.make({ prompt: "name?" }))
      const commands = I.transition(state, {
        _tag: "External",
        event: HumanResponse.make({ response: "Ada" }),
        step: undefined
      })
      assert.strictEqual(state.pending.length, 0)
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Stalled", waitingFor: [] }])
    })

    it("stalls when an invocation that abandoned its wait finishes with nothing left to do", () => {
      const { state, root } = start(linear)
      const [a0] = runsOf(complete(state, root, A.make({ n: 0 })))
      const waiter = waiterOf(state, a0, "B")
      const idle = I.transition(state, { _tag: "Wait", invocation: a0, waiter, prompt: undefined })
      assert.deepStrictEqual(publishedOf(idle), [{ _tag: "RunIdle" }])
      // the handler's own timeout interrupts the wait; the invocation goes on and returns nothing
      I.transition(state, { _tag: "WaitAbandoned", waiter })
      assert.strictEqual(state.waiters.length, 0)
      assert.isFalse(a0.suspended)
      const commands = complete(state, a0, undefined)
      assert.deepStrictEqual(endsOf(commands), [{ _tag: "Stalled", waitingFor: [] }])
    })
  })

  describe("external events and InputRequired", () => {
    it("external events get ids x/0, x/1, ...", () => {
      const { state, root } = start(human)
      complete(state, root, undefined)
      const first = runsOf(
        I.transition(state, { _tag: "External", event: HumanResponse.make({ response: "a" }), step: undefined })
      )
      const second = runsOf(
        I.transition(state, { _tag: "External", event: HumanResponse.make({ response: "b" }), step: undefined })
      )
      assert.deepStrictEqual(
        [...first, ...second].map((r) => [stepName(state, r), r.eventId]),
        [
          ["HumanResponse", "x/0"],
          ["HumanResponse", "x/1"]
        ]
      )
      assert.deepStrictEqual(
        [...first, ...second].map((r) => (r.event as any).response),
        ["a", "b"]
      )
    })

    it("an external event answers the pending InputRequired with its requestId, else the oldest", () => {
      const { state, root } = start(human)
      const commands = complete(state, root, [
        InputRequired.make({ prompt: "a?", requestId: "a" }),
        InputRequired.make({ prompt: "b?", requestId: "b" }),
        InputRequired.make({ prompt: "c?", requestId: "c" })
      ])
      assert.deepStrictEqual(
        publishedOf(commands)
          .filter((e) => e._tag === "InputRequired")
          .map((e) => (e as any).prompt),
        ["a?", "b?", "c?"]
      )
      assert.deepStrictEqual(
        state.pending.map((p) => [p.eventId, p.requestId]),
        [
          ["0/StartEvent/0", "a"],
          ["0/StartEvent/1", "b"],
          ["0/StartEvent/2", "c"]
        ]
      )
      const send = (event: AnyEvent) => I.transition(state, { _tag: "External", event, step: undefined })
      send(HumanResponse.make({ response: "B", requestId: "b" }))
      assert.deepStrictEqual(
        state.pending.map((p) => p.requestId),
        ["a", "c"]
      )
      // An answer naming no open prompt is refused: no command, no external id used, nothing answered.
      const external = state.external
      const verdict = I.admit(state, HumanResponse.make({ response: "?", requestId: "nobody" }), undefined)
      assert.strictEqual(verdict._tag, "Rejected")
      assert.strictEqual(verdict._tag === "Rejected" && verdict.error._tag, "PromptNotOpenError")
      assert.deepStrictEqual(send(HumanResponse.make({ response: "?", requestId: "nobody" })), [])
      assert.strictEqual(state.external, external)
      assert.deepStrictEqual(
        state.pending.map((p) => p.requestId),
        ["a", "c"]
      )
      // "b" was answered: a second answer to it is refused the same way.
      assert.deepStrictEqual(send(HumanResponse.make({ response: "again", requestId: "b" })), [])
      send(HumanResponse.make({ response: "oldest" }))
      assert.deepStrictEqual(
        state.pending.map((p) => p.requestId),
        ["c"]
      )
    })

    it("a declared external type answers a pending InputRequired too", () => {
      const { state, root } = start(externalB)
      complete(state, root, InputRequired.make({ prompt: "n?" }))
      assert.strictEqual(state.pending.length, 1)
      const commands = I.transition(state, { _tag: "External", event: B.make({ n: 1 }), step: undefined })
      assert.strictEqual(state.pending.length, 0)
      assert.deepStrictEqual(
        runsOf(commands).map((r) => [stepName(state, r), r.eventId]),
        [["B", "x/0"]]
      )
    })

    it("a non-external event sent from outside is refused: it answers nothing and is not dispatched", () => {
      const { state, root } = start(externalB)
      complete(state, root, InputRequired.make({ prompt: "n?" }))
      const verdict = I.admit(state, A.make({ n: 1 }), undefined)
      assert.strictEqual(verdict._tag === "Rejected" && verdict.error._tag, "EventNotAcceptedError")
      assert.deepStrictEqual(I.transition(state, { _tag: "External", event: A.make({ n: 1 }), step: undefined }), [])
      assert.strictEqual(state.pending.length, 1)
      assert.strictEqual(state.external, 0)
    })

    it("a written InputRequired is published and becomes pending; other writes are only published", () => {
      const { state, root } = start(human)
      const progress = I.transition(state, { _tag: "Write", from: root, event: A.make({ n: 1 }) })
      assert.deepStrictEqual<unknown>(progress, [{ _tag: "Publish", event: { _tag: "A", n: 1 } }])
      assert.strictEqual(state.pending.length, 0)
      const prompt = InputRequired.make({ prompt: "?", requestId: "r" })
      const commands = I.transition(state, { _tag: "Write", from: root, event: prompt })
      assert.deepStrictEqual(commands, [{ _tag: "Publish", event: prompt }])
      // Writes are numbered per invocation (w0 was the progress event): the prompt is write w1.
      assert.deepStrictEqual(state.pending, [{ eventId: "0/StartEvent/w1", requestId: "r", prompt }])
      assert.strictEqual(root.emitted, 0)
    })
  })

  describe("waiters", () => {
    it("a Wait releases the worker slot: a queued invocation starts", () => {
      const { state, root } = start(waiting)
      const [a0] = runsOf(complete(state, root, [A.make({ n: 0 }), A.make({ n: 1 })]))
      assert.strictEqual(state.queued, 1)
      const prompt = InputRequired.make({ prompt: "ok?" })
      const commands = I.transition(state, {
        _tag: "Wait",
        invocation: a0,
        waiter: waiterOf(state, a0, "HumanResponse"),
        prompt
      })
      assert.deepStrictEqual(
        runsOf(commands).map((r) => r.eventId),
        ["0/StartEvent/1"]
      )
      assert.deepStrictEqual(publishedOf(commands), [{ ...prompt, requestId: "A@0/StartEvent/0#0" }])
      assert.strictEqual(state.queued, 0)
      assert.strictEqual(state.suspended, 1)
      assert.strictEqual(state.waiters.length, 1)
      assert.strictEqual(state.pending.length, 1)
    })

    it("a matching dispatched event resolves the waiter (Resume) and is not routed to steps", () => {
      const { state, root } = start(waiting)
      const [a0] = runsOf(complete(state, root, A.make({ n: 0 })))
      const waiter = waiterOf(state, a0, "HumanResponse")
      I.transition(state, { _tag: "Wait", invocation: a0, waiter, prompt: undefined })
      const answer = HumanResponse.make({ response: "yes" })
      const commands = I.transition(state, { _tag: "External", event: answer, step: undefined })
      assert.deepStrictEqual(resumesOf(commands), [{ waiter, outcome: { _tag: "Event", event: answer } }])
      assert.deepStrictEqual(runsOf(commands), [])
      assert.isFalse(publishedOf(commands).some((e) => e._tag === "EventDispatched"))
      assert.strictEqual(state.waiters.length, 0)
      assert.isFalse(a0.suspended)
      assert.strictEqual(state.suspended, 0)
    })

    it("an event rejected by the waiter's match is routed to steps and leaves the waiter open", () => {
      const { state, root } = start(waiting)
      const [a0] = runsOf(complete(state, root, A.make({ n: 0 })))
      const waiter = waiterOf(state, a0, "HumanResponse", (e) => e.response === "yes")
      I.transition(state, { _tag: "Wait", invocation: a0, waiter, prompt: undefined })
      const no = I.transition(state, {
        _tag: "External",
        event: HumanResponse.make({ response: "no" }),
        step: undefined
      })
      assert.deepStrictEqual(resumesOf(no), [])
      assert.deepStrictEqual(
        runsOf(no).map((r) => [stepName(state, r), r.eventId]),
        [["HumanResponse", "x/0"]]
      )
      assert.strictEqual(state.waiters.length, 1)
      const yes = I.transition(state, {
        _tag: "External",
        event: HumanResponse.make({ response: "yes" }),
        step: undefined
      })
      assert.strictEqual(resumesOf(yes).length, 1)
      assert.deepStrictEqual(runsOf(yes), [])
    })

    it("an event produced by another step resolves a waiter too", () => {
      const { state, root } = start(uncapped)
      const [a0, a1] = runsOf(complete(state, root, [A.make({ n: 0 }), A.make({ n: 1 })]))
      const waiter = waiterOf(state, a0, "A", (e) => e.n === 42)
      I.transition(state, { _tag: "Wait", invocation: a0, waiter, prompt: undefined })
      const commands = I.transition(state, { _tag: "Send", from: a1, event: A.make({ n: 42 }), step: undefined })
      assert.deepStrictEqual<unknown>(resumesOf(commands), [
        { waiter, outcome: { _tag: "Event", event: { _tag: "A", n: 42 } } }
      ])
      assert.deepStrictEqual(runsOf(commands), [])
    })

    it("a resolved waiter whose step has no free slot resumes when a slot frees, before queued events", () => {
      const { state, root } = start(waiting)
      const started = runsOf(complete(state, root, [A.make({ n: 0 }), A.make({ n: 1 })]))
      assert.strictEqual(started.length, 1) // workers: 1, so only a0 started
      const a0 = started[0]
      const waiter = waiterOf(state, a0, "HumanResponse")
      const [a1Run] = runsOf(I.transition(state, { _tag: "Wait", invocation: a0, waiter, prompt: undefined }))
      const resolved = I.transition(state, {
        _tag: "External",
        event: HumanResponse.make({ response: "go" }),
        step: undefined
      })
      assert.deepStrictEqual(resumesOf(resolved), []) // a1 holds the only slot
      // a third A arrives and queues behind the resume
      I.transition(state, { _tag: "Send", from: a1Run, event: A.make({ n: 2 }), step: undefined })
      assert.strictEqual(state.queued, 1)
      const freed = complete(state, a1Run, undefined)
      assert.deepStrictEqual(
        resumesOf(freed).map((r) => r.waiter),
        [waiter]
      )
      assert.deepStrictEqual(runsOf(freed), [])
      assert.strictEqual(state.queued, 1)
      const after = complete(state, a0, undefined)
      assert.deepStrictEqual(
        runsOf(after).map((r) => r.eventId),
        ["0/StartEvent/1/A/0"]
      )
    })

    it("WaitExpired resumes the waiter with Expired and unregisters it", () => {
      const { state, root } = start(waiting)
      const [a0] = runsOf(complete(state, root, A.make({ n: 0 })))
      const waiter = waiterOf(state, a0, "HumanResponse")
      I.transition(state, { _tag: "Wait", invocation: a0, waiter, prompt: undefined })
      const commands = I.transition(state, { _tag: "WaitExpired", waiter })
      assert.deepStrictEqual(resumesOf(commands), [{ waiter, outcome: { _tag: "Expired" } }])
      assert.strictEqual(state.waiters.length, 0)
      // A later answer no longer goes to the expired waiter: it is routed to the HumanResponse step.
      const later = I.transition(state, {
        _tag: "External",
        event: HumanResponse.make({ response: "late" }),
        step: undefined
      })
      assert.deepStrictEqual(resumesOf(later), [])
      assert.deepStrictEqual(
        runsOf(later).map((r) => stepName(state, r)),
        ["HumanResponse"]
      )
      // expiring twice does nothing
      assert.deepStrictEqual(I.transition(state, { _tag: "WaitExpired", waiter }), [])
    })

    it("an open waiter keeps the run from stalling", () => {
      const { state, root } = start(linear)
      const [a0] = runsOf(complete(state, root, A.make({ n: 0 })))
      const commands = I.transition(state, {
        _tag: "Wait",
        invocation: a0,
        waiter: waiterOf(state, a0, "B"),
        prompt: undefined
      })
      assert.deepStrictEqual(endsOf(commands), [])
      assert.deepStrictEqual(publishedOf(commands), [{ _tag: "RunIdle" }])
      assert.isTrue(I.isWaiting(state))
    })
  })

  describe("trace: false", () => {
    it("publishes no trace events, only what steps publish and the terminal event", () => {
      const { state, root, commands: started } = start(linear, { trace: false })
      const all: Array<I.Command> = [...started]
      all.push(...I.transition(state, { _tag: "Attempt", invocation: root }))
      all.push(...I.transition(state, { _tag: "AttemptFailed", invocation: root, error: "x" }))
      all.push(...I.transition(state, { _tag: "Write", from: root, event: B.make({ n: 0 }) }))
      const completed = complete(state, root, [A.make({ n: 1 }), B.make({ n: 2 })]) // B is unhandled
      all.push(...completed)
      const [a] = runsOf(completed)
      all.push(...complete(state, a, StopEvent.make({ result: "r" })))
      assert.deepStrictEqual(publishedOf(all), [
        { _tag: "B", n: 0 },
        { _tag: "StopEvent", result: "r" }
      ])
      assert.deepStrictEqual(endsOf(all), [{ _tag: "Completed", result: "r" }])
    })

    it("publishes no RunIdle while idle", () => {
      const { state, root } = start(human, { trace: false })
      const commands = complete(state, root, undefined)
      assert.deepStrictEqual(commands, [])
      assert.isTrue(I.isWaiting(state))
    })
  })

  describe("collect", () => {
    const a1 = A.make({ n: 1 })
    const a2 = A.make({ n: 2 })
    const b1 = B.make({ n: 1 })
    const b2 = B.make({ n: 2 })

    it("returns the events ordered as expected once one of each has arrived", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.isUndefined(I.collect(s, "Join", b1, ["A", "B"]))
      assert.deepStrictEqual(I.collect(s, "Join", a1, ["A", "B"]), [a1, b1])
    })

    it("returns same-type entries in arrival order", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.isUndefined(I.collect(s, "Join", a2, ["A", "B", "A"]))
      assert.isUndefined(I.collect(s, "Join", b1, ["A", "B", "A"]))
      assert.deepStrictEqual(I.collect(s, "Join", a1, ["A", "B", "A"]), [a2, b1, a1])
    })

    it("ignores events of types not expected", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      const c = { _tag: "C" }
      assert.isUndefined(I.collect(s, "Join", c, ["A", "B"]))
      assert.isFalse(s.collected.has("Join"))
      assert.isUndefined(I.collect(s, "Join", a1, ["A", "B"]))
      assert.deepStrictEqual(I.collect(s, "Join", b1, ["A", "B"]), [a1, b1])
    })

    it("returns [] immediately for expected = [] and buffers nothing", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.deepStrictEqual(I.collect(s, "Join", a1, []), [])
      assert.strictEqual(s.collected.size, 0)
    })

    it("clears what it returned and keeps the rest for the next round", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.isUndefined(I.collect(s, "Join", a1, ["A", "B"]))
      assert.isUndefined(I.collect(s, "Join", a2, ["A", "B"]))
      assert.deepStrictEqual(I.collect(s, "Join", b1, ["A", "B"]), [a1, b1])
      assert.deepStrictEqual(s.collected.get("Join"), [a2])
      assert.deepStrictEqual(I.collect(s, "Join", b2, ["A", "B"]), [a2, b2])
      assert.isFalse(s.collected.has("Join"))
      assert.isUndefined(I.collect(s, "Join", b1, ["A", "B"]))
    })

    it("keeps one buffer per step", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.isUndefined(I.collect(s, "Left", a1, ["A", "B"]))
      assert.isUndefined(I.collect(s, "Right", b1, ["A", "B"]))
      assert.deepStrictEqual(I.collect(s, "Left", b2, ["A", "B"]), [a1, b2])
      assert.deepStrictEqual(s.collected.get("Right"), [b1])
    })

    it("collectCount returns n events of one type in arrival order, then clears them", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.isUndefined(I.collectCount(s, "Join", a1, "A", 2))
      assert.isUndefined(I.collectCount(s, "Join", b1, "A", 2))
      assert.deepStrictEqual(I.collectCount(s, "Join", a2, "A", 2), [a1, a2])
      assert.isFalse(s.collected.has("Join"))
      assert.isUndefined(I.collectCount(s, "Join", a1, "A", 2))
    })

    it("collectCount with n = 0 returns [] immediately", () => {
      const s = { collected: new Map<string, Array<AnyEvent>>() }
      assert.deepStrictEqual(I.collectCount(s, "Join", a1, "A", 0), [])
      assert.strictEqual(s.collected.size, 0)
    })

    /** The Join invocations of `joining` for A (event 0/StartEvent/0) and B (0/StartEvent/1), journal facts on. */
    const joined = () => {
      const { state, root } = start(joining)
      state.records = []
      const [onA, onB] = runsOf(complete(state, root, [a1, b1]))
      state.records.length = 0
      return { state, onA, onB }
    }

    it("ctx.collect is an input: the transition buffers the event, keeps the call's result and journals the call", () => {
      const { state, onA, onB } = joined()
      assert.deepStrictEqual(
        I.transition(state, { _tag: "Collect", invocation: onA, event: a1, expected: ["A", "B"], count: undefined }),
        []
      )
      assert.strictEqual(onA.collects, 1)
      assert.isUndefined(onA.collectResults)
      assert.deepStrictEqual(state.collected.get("Join"), [a1])
      assert.strictEqual(state.collectIds?.get(a1), onA.eventId)
      I.transition(state, { _tag: "Collect", invocation: onB, event: b1, expected: ["A", "B"], count: undefined })
      assert.deepStrictEqual(onB.collectResults?.get(0), [a1, b1])
      assert.isFalse(state.collected.has("Join"))
      assert.deepStrictEqual(
        state.records!.map((f) =>
          f._tag === "Collected"
            ? { eventId: f.invocation.eventId, call: f.call, bufferedAs: f.bufferedAs, pushed: f.pushed }
            : f._tag
        ),
        [
          { eventId: onA.eventId, call: 0, bufferedAs: onA.eventId, pushed: true },
          { eventId: onB.eventId, call: 0, bufferedAs: onB.eventId, pushed: true }
        ]
      )
    })

    it("a collected event that is not the invocation's own is buffered under the call's id (ids.collectId)", () => {
      const { state, onA } = joined()
      I.transition(state, { _tag: "Collect", invocation: onA, event: a1, expected: ["A", "B"], count: undefined })
      I.transition(state, { _tag: "Collect", invocation: onA, event: b2, expected: ["A", "B"], count: undefined })
      assert.strictEqual(state.collectIds?.get(b2), collectId(onA.eventId, 1))
      assert.deepStrictEqual(onA.collectResults?.get(1), [a1, b2])
    })

    it("a re-executed call gets its recorded result and buffers nothing again; a journaled call takes its verdict", () => {
      const { state, onA } = joined()
      onA.collectResults = new Map([[0, [a2, b2]]])
      I.transition(state, { _tag: "Collect", invocation: onA, event: a1, expected: ["A", "B"], count: undefined })
      assert.strictEqual(onA.collects, 1)
      assert.isFalse(state.collected.has("Join"))
      assert.deepStrictEqual(state.records, [])
      // Replaying a journaled call: its index, id and push verdict come from the entry.
      I.transition(state, {
        _tag: "Collect",
        invocation: onA,
        event: a1,
        expected: ["A", "B"],
        count: undefined,
        journaled: { call: 4, bufferedAs: "given", pushed: false }
      })
      assert.strictEqual(onA.collects, 5)
      assert.isFalse(state.collected.has("Join"))
      assert.isUndefined(state.collectIds?.get(a1))
    })

    it("a call re-executed after a resume does not buffer an event the first execution buffered", () => {
      const { state, onA } = joined()
      I.transition(state, { _tag: "Collect", invocation: onA, event: a1, expected: ["A", "B"], count: undefined })
      // The same invocation executed again after a restart (its replay record set, its counters reset).
      const again = I.invocation(onA.step, onA.eventId, onA.event, { emitted: 0, writes: 0, waits: 0 })
      state.active.add(again)
      I.transition(state, { _tag: "Collect", invocation: again, event: a1, expected: ["A", "B"], count: undefined })
      assert.deepStrictEqual(state.collected.get("Join"), [a1])
      const last = state.records!.at(-1)
      assert.strictEqual(last?._tag === "Collected" && last.pushed, false)
    })

    it("the count form collects n events of one tag through the same input", () => {
      const { state, onA } = joined()
      I.transition(state, { _tag: "Collect", invocation: onA, event: a1, expected: ["A"], count: 2 })
      I.transition(state, { _tag: "Collect", invocation: onA, event: a2, expected: ["A"], count: 2 })
      assert.deepStrictEqual(onA.collectResults?.get(1), [a1, a2])
      assert.deepStrictEqual(
        state.records!.map((f) => (f._tag === "Collected" ? f.count : undefined)),
        [2, 2]
      )
    })
  })
})

describe("ids", () => {
  it("the StartEvent is '0' and external events are x/<n>", () => {
    assert.strictEqual(startEventId, "0")
    assert.strictEqual(externalId(0), "x/0")
    assert.strictEqual(externalId(12), "x/12")
  })

  it("childId is p/s/k and deterministic", () => {
    assert.strictEqual(childId("0", "Query", 0), "0/Query/0")
    assert.strictEqual(childId("0/Query/0", "Answer", 3), "0/Query/0/Answer/3")
    assert.strictEqual(childId("0", "Query", 1), childId("0", "Query", 1))
    assert.notStrictEqual(childId("0", "Query", 1), childId("0", "Query", 2))
  })

  it("an id of exactly maxIdLength characters is kept as it is", () => {
    const parent = "p".repeat(maxIdLength - "/s/0".length)
    const id = childId(parent, "s", 0)
    assert.strictEqual(id.length, maxIdLength)
    assert.strictEqual(id, `${parent}/s/0`)
  })

  it("longer ids are folded to a bounded, deterministic id that stays distinct", () => {
    const parent = "p".repeat(200)
    const id = childId(parent, "Step", 0)
    assert.isAtMost(id.length, maxIdLength)
    assert.strictEqual(childId(parent, "Step", 0), id)
    const variants = new Set([
      id,
      childId(parent, "Step", 1),
      childId(parent, "Other", 0),
      childId(`${parent}q`, "Step", 0)
    ])
    assert.strictEqual(variants.size, 4)
  })

  it("a 10,000-deep chain keeps every id within maxIdLength and all ids distinct", () => {
    const ids = new Set<string>()
    let id = startEventId
    ids.add(id)
    for (let i = 0; i < 10_000; i++) {
      id = childId(id, "Loop", 0)
      assert.isAtMost(id.length, maxIdLength)
      ids.add(id)
    }
    assert.strictEqual(ids.size, 10_001)
    // deterministic: the same chain gives the same last id
    let again = startEventId
    for (let i = 0; i < 10_000; i++) again = childId(again, "Loop", 0)
    assert.strictEqual(again, id)
  })
})
