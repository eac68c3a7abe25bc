/**
 * A client typed per workflow: given the workflow definitions (or just their schemas, see {@link schemasOf}), the
 * input of `start` is checked at compile time and encoded with the workflow's input schema, results are decoded
 * with its output schema, and published events with its event schemas.
 *
 * @example
 * ```ts
 * // TypedClient and WorkflowClient come from "@eventflow/server/client".
 * // `payment`: a workflow (or `TypedClient.schemasOf(payment)`) of your application.
 * declare const payment: TypedClient.Definition<"payment", { readonly amount: number }, { readonly amount: number }, string>
 * const program = Effect.gen(function* () {
 *   const runs = TypedClient.make(yield* WorkflowClient.make({ baseUrl: "http://127.0.0.1:3000" }), [payment])
 *   const run = yield* runs.payment.start({ amount: 12 }, { wait: true }) // `amout` does not compile
 *   // run.result: Option<the workflow's output type>
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Event } from "@eventflow/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { RunInfo, RunSummary } from "./WorkflowApi.js"
import type { EventsError, EventsOptions, WorkflowClient } from "./WorkflowClient.js"

/**
 * What the client needs of a workflow: its name and the schemas of its input, output and events. A workflow value
 * is one (its events are read from its steps); {@link schemasOf} extracts it for a client that should not import the
 * steps.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Definition<Name extends string = string, I = any, IE = any, O = any> {
  readonly name: Name
  readonly input: Schema.Schema<I, IE, never>
  readonly output: Schema.Schema<O, any, never>
  /** The event types whose published events are decoded (others arrive as they are). */
  readonly events?: ReadonlyArray<Event.EventType> | undefined
  readonly steps?: ReadonlyArray<{
    readonly match: ReadonlyArray<Event.EventType>
    readonly emits: ReadonlyArray<Event.EventType> | undefined
  }>
}

/**
 * The schemas of a workflow (name, input, output and every event type its steps accept or emit, plus `events`:
 * e.g. the progress events its steps `ctx.write`, which no step declares), without its steps: export it from a
 * module a client can import.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const schemasOf = <const D extends Definition>(
  workflow: D,
  options?: { readonly events?: ReadonlyArray<Event.EventType> | undefined }
): Definition<
  D["name"],
  Schema.Schema.Type<D["input"]>,
  Schema.Schema.Encoded<D["input"]>,
  Schema.Schema.Type<D["output"]>
> => ({
  name: workflow.name,
  input: workflow.input,
  output: workflow.output,
  events: [...eventTypesOf(workflow), ...(options?.events ?? [])]
})

const eventTypesOf = (workflow: Definition): ReadonlyArray<Event.EventType> => {
  const types = new Map<string, Event.EventType>()
  for (const type of workflow.events ?? []) types.set(Event.tagOf(type), type)
  for (const step of workflow.steps ?? []) {
    for (const type of [...step.match, ...(step.emits ?? [])]) {
      const tag = Event.tagOf(type)
      // StartEvent / StopEvent carry the workflow's input / output, decoded by those schemas instead.
      if (tag !== "StartEvent" && tag !== "StopEvent" && !types.has(tag)) types.set(tag, type)
    }
  }
  return [...types.values()]
}

/**
 * A run as the typed client returns it: the server's {@link RunInfo} with `result` decoded by the output schema.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TypedRun<O> extends Omit<RunInfo, "result"> {
  /** The decoded result, once the run has completed. */
  readonly result: Option.Option<O>
}

/**
 * One published event, decoded with the workflow's schema for its tag (events of other tags, e.g. trace or
 * terminal events and `ChildEvent`s, as they arrived).
 *
 * @since 0.1.0
 * @category Models
 */
export interface TypedEvent {
  /** The event's offset in the run's stream (`lastEventId` to go on from it). */
  readonly id: number
  readonly event: Event.AnyEvent
}

/**
 * The errors of the client's requests (as `WorkflowClient`'s endpoints fail), and a result or event that does not
 * decode with the workflow's schemas (`ParseError`).
 *
 * @since 0.1.0
 * @category Models
 */
export type RequestError<K extends keyof WorkflowClient["eventflow"]> =
  | Effect.Effect.Error<ReturnType<WorkflowClient["eventflow"][K]>>
  | ParseResult.ParseError

/**
 * Options of `start`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StartOptions {
  /** Answer when the run has ended or waits for input (`?wait=true`). */
  readonly wait?: boolean | undefined
  /** Continue the conversation of this ended run: the new run starts from its final state. */
  readonly continueFrom?: string | undefined
}

/**
 * The typed operations on one workflow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunClient<I, O> {
  readonly name: string
  /** Starts a run (the input is encoded with the input schema). */
  readonly start: (input: I, options?: StartOptions) => Effect.Effect<TypedRun<O>, RequestError<"startRun">>
  /** The run as the server sees it now, with its result decoded. */
  readonly get: (runId: string) => Effect.Effect<TypedRun<O>, RequestError<"getRun">>
  /** The run's published events, decoded; reconnects like `WorkflowClient.events`. */
  readonly events: (
    runId: string,
    options?: EventsOptions
  ) => Stream.Stream<TypedEvent, EventsError | ParseResult.ParseError>
  /** The runs of a conversation (its id: its first run's id), newest first. */
  readonly conversation: (
    conversationId: string
  ) => Effect.Effect<ReadonlyArray<typeof RunSummary.Type>, RequestError<"listRuns">>
}

/**
 * The typed client of each workflow, by name.
 *
 * @since 0.1.0
 * @category Models
 */
export type Clients<Ds extends ReadonlyArray<Definition>> = {
  readonly [D in Ds[number] as D["name"]]: RunClient<Schema.Schema.Type<D["input"]>, Schema.Schema.Type<D["output"]>>
}

const typedRun = <O>(output: Schema.Schema<O, any, never>, info: RunInfo) =>
  Effect.map(
    info.result === undefined || info.status !== "completed"
      ? Effect.succeed(Option.none<O>())
      : Effect.asSome(Schema.decodeUnknown(output)(info.result)),
    (result): TypedRun<O> => ({ ...info, result })
  )

const runClient = (client: WorkflowClient, definition: Definition): RunClient<any, any> => {
  const registry = new Map(eventTypesOf(definition).map((type) => [Event.tagOf(type), type]))
  const encodeInput = Schema.encode(definition.input)
  return {
    name: definition.name,
    start: (input, options) =>
      Effect.gen(function* () {
        const payload = yield* encodeInput(input)
        const info = yield* client.eventflow.startRun({
          path: { name: definition.name },
          payload,
          urlParams: {
            ...(options?.wait === undefined ? {} : { wait: options.wait }),
            ...(options?.continueFrom === undefined ? {} : { continueFrom: options.continueFrom })
          }
        })
        return yield* typedRun(definition.output, info)
      }),
    get: (runId) =>
      Effect.flatMap(client.eventflow.getRun({ path: { id: runId } }), (info) => typedRun(definition.output, info)),
    events: (runId, options) =>
      Stream.mapEffect(client.events(runId, options), (raw) => {
        const type = registry.get(raw.type)
        if (type === undefined) return Effect.succeed({ id: raw.id, event: raw.data as Event.AnyEvent })
        return Effect.map(Schema.decodeUnknown(type)(raw.data), (event) => ({
          id: raw.id,
          event: event as Event.AnyEvent
        }))
      }),
    conversation: (conversationId) =>
      client.eventflow.listRuns({ urlParams: { workflow: definition.name, conversation: conversationId } })
  }
}

/**
 * The typed clients of the given workflows (or their {@link schemasOf}), by workflow name, on a `WorkflowClient`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <const Ds extends ReadonlyArray<Definition>>(
  client: WorkflowClient,
  definitions: Ds
): Clients<Ds> => Object.fromEntries(definitions.map((d) => [d.name, runClient(client, d)])) as Clients<Ds>
