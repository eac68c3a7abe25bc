import * as Schema from "effect/Schema"
import * as Event from "../Event.js"
import type * as Workflow from "../Workflow.js"
import { tagOf } from "./event.js"
import { externalTags } from "./graph.js"

/**
 * What the interpreter needs of a workflow, computed once per workflow value: steps by index, routes by tag,
 * the tags that can arrive from outside, and the schemas that decode events crossing a boundary.
 *
 * @internal
 */
export interface Plan {
  readonly workflow: Workflow.Any
  readonly name: string
  readonly steps: ReadonlyArray<StepPlan>
  readonly routes: ReadonlyMap<string, ReadonlyArray<number>>
  /** The names of the steps of each route (shared by every `EventDispatched` trace event of that tag). */
  readonly routeNames: ReadonlyMap<string, ReadonlyArray<string>>
  readonly stepIndex: ReadonlyMap<string, number>
  readonly externalTags: ReadonlySet<string>
  /** Some step accepts an event that can come from outside: an idle run can still be woken. */
  readonly wakeable: boolean
  /** Some step accepts `StepFailed`. */
  readonly recovers: boolean
  readonly registry: ReadonlyMap<string, Schema.Schema<any, any, never>>
}

/** @internal */
export interface StepPlan {
  readonly index: number
  readonly name: string
  readonly def: Workflow.StepDefinition
  readonly workers: number
  readonly acceptsStepFailed: boolean
}

const plans = new WeakMap<Workflow.Any, Plan>()

/** @internal */
export const planOf = (self: Workflow.Any): Plan => {
  let plan = plans.get(self)
  if (plan === undefined) {
    plan = makePlan(self)
    plans.set(self, plan)
  }
  return plan
}

const makePlan = (self: Workflow.Any): Plan => {
  const routes = new Map<string, Array<number>>()
  const stepIndex = new Map<string, number>()
  const steps = self.steps.map((def, index): StepPlan => {
    stepIndex.set(def.name, index)
    for (const tag of def.accepts) {
      const list = routes.get(tag)
      if (list === undefined) routes.set(tag, [index])
      else list.push(index)
    }
    return { index, name: def.name, def, workers: def.workers, acceptsStepFailed: def.accepts.includes("StepFailed") }
  })
  const external = externalTags(self)
  const registry = new Map<string, Schema.Schema<any, any, never>>()
  const register = (type: Schema.Schema<any, any, never>) => {
    const tag = tagOf(type)
    if (!registry.has(tag)) registry.set(tag, type)
  }
  registry.set("StartEvent", Schema.TaggedStruct("StartEvent", { input: self.input as Schema.Schema<any, any, never> }))
  registry.set("StopEvent", Schema.TaggedStruct("StopEvent", { result: self.output as Schema.Schema<any, any, never> }))
  for (const type of self.external) register(type)
  for (const def of self.steps) {
    for (const type of def.match) register(type)
    for (const type of def.emits ?? []) register(type)
    for (const type of def.waitsFor ?? []) register(type)
  }
  register(Event.HumanResponse)
  register(Event.InputRequired)
  register(Event.StepFailed)
  return {
    workflow: self,
    name: self.name,
    steps,
    routes,
    routeNames: new Map([...routes].map(([tag, indexes]) => [tag, Object.freeze(indexes.map((i) => steps[i].name))])),
    stepIndex,
    externalTags: external,
    wakeable: [...external].some((tag) => routes.has(tag)),
    recovers: routes.has("StepFailed"),
    registry
  }
}
