import * as Duration from "effect/Duration"
import { pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import type * as Workflow from "../Workflow.js"
import { tagOfSafe } from "./event.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@eventflow/core/Workflow") as any

/** @internal */
export const defaultWorkers = 4

/** @internal */
export const defaultMaxRecoveries = 100

interface Definition {
  readonly name: string
  readonly description: string | undefined
  readonly input: Schema.Schema.Any
  readonly output: Schema.Schema.Any
  readonly state: Schema.Schema.Any | undefined
  readonly initialState: unknown
  readonly timeout: Duration.Duration | undefined
  readonly external: ReadonlyArray<Schema.Schema.Any>
  readonly maxRecoveries: number
  readonly concurrency: number | undefined
  readonly steps: ReadonlyArray<Workflow.StepDefinition>
  readonly problems: ReadonlyArray<string>
}

const Proto = {
  [TypeId]: { _I: (_: never) => _, _O: (_: never) => _, _E: (_: never) => _, _R: (_: never) => _ },
  pipe() {
    return pipeArguments(this, arguments)
  },
  step(this: Definition, match: unknown, handler: any, options?: Workflow.StepOptions) {
    return make({ ...this, steps: [...this.steps, makeStep(this, match, handler, options)] })
  },
  toJSON(this: Definition) {
    return { _id: "Workflow", name: this.name, steps: this.steps.map((s) => s.name) }
  },
  toString(this: Definition) {
    return `Workflow(${this.name})`
  }
}

const make = (definition: Definition): Workflow.Any => Object.assign(Object.create(Proto), definition)

/** @internal */
export const isWorkflow = (u: unknown): u is Workflow.Any => typeof u === "object" && u !== null && TypeId in u

const describe = (u: unknown): string => {
  if (Schema.isSchema(u)) return String(u.ast)
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

const decodeDuration = (input: unknown, where: string, problems: Array<string>): Duration.Duration | undefined => {
  if (input === undefined) return undefined
  const decoded = Duration.decodeUnknown(input as Duration.DurationInput)
  if (decoded._tag === "None") {
    problems.push(`${where}: ${describe(input)} is not a duration (use e.g. "30 seconds" or Duration.seconds(30)).`)
    return undefined
  }
  return decoded.value
}

/** @internal */
export const defineWorkflow = (
  options: Workflow.DefineOptions<string, unknown, unknown> & {
    readonly state?: Schema.Schema.Any
    readonly initialState?: unknown
  }
): Workflow.Any => {
  const problems: Array<string> = []
  if (typeof options.name !== "string" || options.name.length === 0) {
    problems.push(`defineWorkflow: "name" must be a non-empty string, got ${describe(options.name)}.`)
  }
  if (options.state !== undefined && !("initialState" in options && options.initialState !== undefined)) {
    problems.push(`defineWorkflow: "initialState" is required when "state" is given.`)
  }
  for (const [key, value] of [
    ["input", options.input],
    ["output", options.output],
    ["state", options.state]
  ] as const) {
    if (value !== undefined && !Schema.isSchema(value)) {
      problems.push(`defineWorkflow: "${key}" must be an effect Schema, got ${describe(value)}.`)
    }
  }
  const maxRecoveries = options.maxRecoveries ?? defaultMaxRecoveries
  if (!(maxRecoveries === Infinity || (Number.isInteger(maxRecoveries) && maxRecoveries >= 0))) {
    problems.push(
      `defineWorkflow: "maxRecoveries" must be an integer >= 0 or Infinity, got ${describe(options.maxRecoveries)}.`
    )
  }
  const concurrency = options.concurrency
  if (concurrency !== undefined && !(concurrency === Infinity || (Number.isInteger(concurrency) && concurrency >= 1))) {
    problems.push(`defineWorkflow: "concurrency" must be an integer >= 1 or Infinity, got ${describe(concurrency)}.`)
  }
  const external: Array<Schema.Schema.Any> = []
  for (const type of options.external ?? []) {
    if (tagOfSafe(type) === undefined) {
      problems.push(`defineWorkflow: "external" entry ${describe(type)} is not an event type.`)
    } else {
      external.push(type as Schema.Schema.Any)
    }
  }
  return make({
    name: String(options.name),
    description: options.description,
    input: Schema.isSchema(options.input) ? options.input : Schema.Void,
    output: Schema.isSchema(options.output) ? options.output : Schema.Unknown,
    state: Schema.isSchema(options.state) ? options.state : undefined,
    initialState: options.initialState,
    timeout: decodeDuration(options.timeout, `defineWorkflow "timeout"`, problems),
    external,
    maxRecoveries,
    concurrency: concurrency === Infinity ? undefined : concurrency,
    steps: [],
    problems
  })
}

const makeStep = (
  self: Definition,
  match: unknown,
  handler: unknown,
  options: Workflow.StepOptions | undefined
): Workflow.StepDefinition => {
  const problems: Array<string> = []
  const position = `step #${self.steps.length + 1}`
  const types = (Array.isArray(match) ? match : [match]) as ReadonlyArray<unknown>
  const accepts: Array<string> = []
  const matchTypes: Array<any> = []
  for (const type of types) {
    const tag = tagOfSafe(type)
    if (tag === undefined) {
      problems.push(`${position}: match ${describe(type)} is not an event type (use Event.define or a TaggedStruct).`)
    } else if (!accepts.includes(tag)) {
      accepts.push(tag)
      matchTypes.push(type)
    }
  }
  if (types.length === 0) problems.push(`${position}: match is an empty array; a step must accept an event type.`)
  if (options?.name !== undefined && (typeof options.name !== "string" || options.name.length === 0)) {
    problems.push(`${position}: name must be a non-empty string, got ${describe(options.name)}.`)
  }
  const baseName =
    typeof options?.name === "string" && options.name.length > 0 ? options.name : accepts.join("|") || position
  let name = baseName
  if (!(typeof options?.name === "string" && options.name.length > 0)) {
    for (let n = 2; self.steps.some((s) => s.name === name); n++) name = `${baseName}#${n}`
  }
  const where = `step "${name}"`
  if (typeof handler !== "function") problems.push(`${where}: handler must be a function, got ${describe(handler)}.`)
  const workers = options?.workers ?? defaultWorkers
  if (!(workers === Infinity || (Number.isInteger(workers) && workers >= 1))) {
    problems.push(`${where}: workers must be an integer >= 1 or Infinity, got ${describe(workers)}.`)
  }
  let emits: Array<any> | undefined
  if (options?.emits !== undefined && !Array.isArray(options.emits)) {
    problems.push(`${where}: emits must be an array of event types, got ${describe(options.emits)}.`)
  } else if (options?.emits !== undefined) {
    emits = []
    for (const type of options.emits) {
      if (tagOfSafe(type) === undefined) {
        problems.push(`${where}: emits entry ${describe(type)} is not an event type.`)
      } else {
        emits.push(type)
      }
    }
  }
  const children: Array<Workflow.Any> = []
  if (options?.children !== undefined && !Array.isArray(options.children)) {
    problems.push(`${where}: children must be an array of workflows, got ${describe(options.children)}.`)
  } else {
    for (const child of options?.children ?? []) {
      if (isWorkflow(child)) children.push(child)
      else problems.push(`${where}: children entry ${describe(child)} is not a workflow (defineWorkflow(...)).`)
    }
  }
  let waitsFor: Array<any> | undefined
  if (options?.waitsFor !== undefined && !Array.isArray(options.waitsFor)) {
    problems.push(`${where}: waitsFor must be an array of event types, got ${describe(options.waitsFor)}.`)
  } else if (options?.waitsFor !== undefined) {
    waitsFor = []
    for (const type of options.waitsFor) {
      if (tagOfSafe(type) === undefined)
        problems.push(`${where}: waitsFor entry ${describe(type)} is not an event type.`)
      else waitsFor.push(type)
    }
  }
  return {
    name,
    match: matchTypes,
    accepts,
    emits,
    waitsFor,
    handler: handler as Workflow.StepDefinition["handler"],
    workers,
    retry: options?.retry,
    timeout: decodeDuration(options?.timeout, `${where}: timeout`, problems),
    problems,
    ...(children.length === 0 ? {} : { children })
  }
}
