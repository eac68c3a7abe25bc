/**
 * Workflows: an immutable builder of steps (`defineWorkflow(...).step(match, handler, options)`), and the
 * functions that run, stream, validate and draw them.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AnyEvent, EventType, StartEvent, StopEvent } from "./Event.js"
import type * as Graph from "./Graph.js"
import * as internalGraph from "./internal/graph.js"
import * as internalRun from "./internal/run.js"
import * as internal from "./internal/workflow.js"
import type { PublishedEvent, RunHandle, RunOptions } from "./Run.js"
import type { StepContext } from "./StepContext.js"
import type { RunStore } from "./RunStore.js"
import type {
  InvalidInputError,
  InvalidSnapshotError,
  RunError,
  RunNotFoundError,
  RunStoreError,
  StepTimeoutError,
  WorkflowValidationError
} from "./WorkflowError.js"

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type TypeId = typeof TypeId

/**
 * What a step matches: one event type, or several (the handler then gets the union).
 *
 * @since 0.1.0
 * @category Models
 */
export type Match = EventType | ReadonlyArray<EventType>

/**
 * What a handler may return: an event, an array of events (fan-out, dispatched in order), or nothing.
 *
 * @since 0.1.0
 * @category Models
 */
export type StepOutput<A extends AnyEvent = AnyEvent> = A | ReadonlyArray<A> | void

/**
 * Options of a step.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StepOptions<
  Emits extends ReadonlyArray<EventType> = ReadonlyArray<EventType>,
  T extends Duration.DurationInput | undefined = Duration.DurationInput | undefined
> {
  /** Default: the matched tags joined with `|`, with a `#2` suffix for a second step on the same tags. */
  readonly name?: string | undefined
  /** The event types this step may return or `ctx.send`: used for validation, drawing and type checks. */
  readonly emits?: Emits | undefined
  /** Max concurrent invocations of this step within one run (default 4; `Infinity` for no cap). */
  readonly workers?: number | undefined
  /** A `Schedule` applied to the step's failures: `Schedule.recurs(2)` means at most 3 executions. */
  readonly retry?: Schedule.Schedule<any, any, never> | undefined
  /** Per-execution timeout; expiry fails that execution with `StepTimeoutError`. */
  readonly timeout?: T
}

/**
 * The runtime description of one step of a workflow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StepDefinition {
  readonly name: string
  readonly match: ReadonlyArray<EventType>
  readonly accepts: ReadonlyArray<string>
  readonly emits: ReadonlyArray<EventType> | undefined
  readonly handler: (event: any, ctx: StepContext<any>) => Effect.Effect<unknown, unknown, unknown>
  readonly workers: number
  readonly retry: Schedule.Schedule<any, any, never> | undefined
  readonly timeout: Duration.Duration | undefined
  /** Definition problems found when the step was added; reported by validation, never thrown. */
  readonly problems: ReadonlyArray<string>
}

/**
 * Options of {@link defineWorkflow}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface DefineOptions<Name extends string, In, Out> {
  /** Required; unique per server. */
  readonly name: Name
  /** The schema of `StartEvent.input` (default `Schema.Void`). */
  readonly input?: In
  /** The schema of `StopEvent.result` (default `Schema.Unknown`). */
  readonly output?: Out
  /** Run timeout; default: none. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Event types that can be sent into a run from outside (besides `HumanResponse`). */
  readonly external?: ReadonlyArray<EventType> | undefined
  /** A description, shown by the server and in graphs. */
  readonly description?: string | undefined
}

/**
 * A workflow: the builder value is the workflow, it can be run, drawn and validated.
 *
 * Type parameters: `I`/`IE` the input (decoded/encoded), `O` the result, `S` the state, `Handled` the tags
 * some step accepts, `Emitted` the tags some step emits, `E`/`R` the errors and services of all steps.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Workflow<Name extends string, I, IE, O, S, Handled extends string, Emitted extends string, E, R>
  extends Pipeable {
  readonly [TypeId]: {
    readonly _I: (_: never) => I
    readonly _O: (_: never) => O
    readonly _E: (_: never) => E
    readonly _R: (_: never) => R
  }
  readonly name: Name
  readonly description: string | undefined
  readonly input: Schema.Schema<I, IE, never>
  readonly output: Schema.Schema<O, any, never>
  readonly state: Schema.Schema<S, any, never> | undefined
  readonly initialState: S
  readonly timeout: Duration.Duration | undefined
  readonly external: ReadonlyArray<EventType>
  readonly steps: ReadonlyArray<StepDefinition>
  /** Problems of the workflow's own options (e.g. `state` without `initialState`). */
  readonly problems: ReadonlyArray<string>

  /**
   * Adds a step with declared `emits`: the handler may only return (and should only send) those event types.
   */
  step<
    const M extends Match,
    const Emits extends ReadonlyArray<EventType>,
    E2 = never,
    R2 = never,
    T extends Duration.DurationInput | undefined = undefined
  >(
    match: M,
    handler: (
      event: HandlerEvent<M, I, O>,
      ctx: StepContext<S>
    ) => Effect.Effect<StepOutput<Bind<Schema.Schema.Type<Emits[number]>, I, O>>, E2, R2>,
    options: StepOptions<Emits, T> & { readonly emits: Emits }
  ): Workflow<
    Name,
    I,
    IE,
    O,
    S,
    Handled | MatchTags<M>,
    Emitted | Schema.Schema.Type<Emits[number]>["_tag"],
    E | E2 | TimeoutError<T>,
    R | R2
  >
  /**
   * Adds a step. The tags it returns are inferred from the handler's return type.
   */
  step<
    const M extends Match,
    Out extends StepOutput,
    E2 = never,
    R2 = never,
    T extends Duration.DurationInput | undefined = undefined
  >(
    match: M,
    handler: (event: HandlerEvent<M, I, O>, ctx: StepContext<S>) => Effect.Effect<Out, E2, R2>,
    options?: StepOptions<never, T> & { readonly emits?: undefined }
  ): Workflow<Name, I, IE, O, S, Handled | MatchTags<M>, Emitted | OutputTags<Out>, E | E2 | TimeoutError<T>, R | R2>
}

/**
 * Any workflow, e.g. one whose steps were added in a loop.
 *
 * @since 0.1.0
 * @category Models
 */
export type Any = Workflow<string, any, any, any, any, any, any, any, any>

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Input<W> = W extends Workflow<any, infer I, any, any, any, any, any, any, any> ? I : never

/**
 * The encoded input `Workflow.run` accepts (decoded with the input schema).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type InputEncoded<W> = W extends Workflow<any, any, infer IE, any, any, any, any, any, any> ? IE : never

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Output<W> = W extends Workflow<any, any, any, infer O, any, any, any, any, any> ? O : never

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type State<W> = W extends Workflow<any, any, any, any, infer S, any, any, any, any> ? S : never

/**
 * The union of the errors of every step of the workflow.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Error<W> = W extends Workflow<any, any, any, any, any, any, any, infer E, any> ? E : never

/**
 * The union of the services every step of the workflow requires.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Requirements<W> = W extends Workflow<any, any, any, any, any, any, any, any, infer R> ? R : never

/**
 * Tags that some step emits and no step handles.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Unhandled<W> =
  W extends Workflow<any, any, any, any, any, infer H, infer Em, any, any>
    ? Exclude<Em, H | "StopEvent" | "InputRequired">
    : never

/**
 * `unknown` when every emitted event is handled; otherwise the readable type error `"Event not handled: Tag"`.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type ValidateHandled<W> =
  string extends Unhandled<W>
    ? unknown
    : [Unhandled<W>] extends [never]
      ? unknown
      : `Event not handled: ${Unhandled<W>}`

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type MatchTypes<M> = M extends ReadonlyArray<infer T> ? T : M

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type MatchTags<M> =
  Schema.Schema.Type<MatchTypes<M>> extends infer A ? (A extends AnyEvent ? A["_tag"] : never) : never

/**
 * Binds the built-in `StartEvent` / `StopEvent` to the workflow's input and output types.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Bind<A, I, O> = A extends { readonly _tag: "StartEvent" }
  ? StartEvent<I>
  : A extends { readonly _tag: "StopEvent" }
    ? StopEvent<O>
    : A

/**
 * The event a handler of `match` receives.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type HandlerEvent<M, I, O> = Bind<Schema.Schema.Type<MatchTypes<M>>, I, O>

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type OutputTags<Out> =
  Out extends ReadonlyArray<infer X>
    ? X extends AnyEvent
      ? X["_tag"]
      : never
    : Out extends AnyEvent
      ? Out["_tag"]
      : never

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type TimeoutError<T> = [T] extends [undefined] ? never : StepTimeoutError

/**
 * Starts a workflow definition. Steps are added with `.step(match, handler, options)`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { defineWorkflow, StartEvent, StopEvent, Workflow } from "@eventflow/core"
 *
 * const hello = defineWorkflow({ name: "hello", input: Schema.String, output: Schema.String })
 *   .step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: `hello ${start.input}` })), {
 *     emits: [StopEvent]
 *   })
 *
 * Effect.runPromise(Workflow.run(hello, "world")).then(console.log) // "hello world"
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const defineWorkflow: {
  <
    const Name extends string,
    S,
    In extends Schema.Schema<any, any, never> = typeof Schema.Void,
    Out extends Schema.Schema<any, any, never> = typeof Schema.Unknown
  >(
    options: DefineOptions<Name, In, Out> & {
      readonly state: Schema.Schema<S, any, never>
      readonly initialState: NoInfer<S>
    }
  ): Workflow<
    Name,
    Schema.Schema.Type<In>,
    Schema.Schema.Encoded<In>,
    Schema.Schema.Type<Out>,
    S,
    never,
    never,
    never,
    never
  >
  <
    const Name extends string,
    In extends Schema.Schema<any, any, never> = typeof Schema.Void,
    Out extends Schema.Schema<any, any, never> = typeof Schema.Unknown
  >(
    options: DefineOptions<Name, In, Out> & { readonly state?: undefined; readonly initialState?: undefined }
  ): Workflow<
    Name,
    Schema.Schema.Type<In>,
    Schema.Schema.Encoded<In>,
    Schema.Schema.Type<Out>,
    undefined,
    never,
    never,
    never,
    never
  >
} = internal.defineWorkflow as any

/**
 * Tests whether a value is a workflow.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isWorkflow: (u: unknown) => u is Any = internal.isWorkflow

/**
 * Arguments after the workflow: the input (optional when the input schema accepts `undefined`) and run options.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type RunArgs<W extends Any> =
  undefined extends InputEncoded<W>
    ? [input?: InputEncoded<W>, options?: RunOptions<State<W>>]
    : [input: InputEncoded<W>, options?: RunOptions<State<W>>]

/**
 * Runs a workflow to completion and returns its result. The input is decoded with the input schema
 * (`InvalidInputError` when it does not fit); a step's failure fails the run with the step's own error.
 *
 * A workflow that emits an event no step handles does not type-check here: `Event not handled: Tag`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Workflow } from "@eventflow/core"
 * declare const wf: Workflow.Workflow<"wf", string, string, string, undefined, "StartEvent", "StopEvent", never, never>
 *
 * const program = Workflow.run(wf, "input") // Effect<string, RunError<never> | InvalidInputError>
 * ```
 *
 * @since 0.1.0
 * @category Combinators
 */
export const run: {
  <W extends Any>(
    self: W & ValidateHandled<W>,
    ...args: RunArgs<W>
  ): Effect.Effect<Output<W>, RunError<Error<W>> | InvalidInputError, Requirements<W>>
  <W extends Any>(
    self: W & ValidateHandled<W>,
    input: InputEncoded<W>,
    options: RunOptions<State<W>> & { readonly durable: true }
  ): Effect.Effect<Output<W>, RunError<Error<W>> | InvalidInputError | RunStoreError, Requirements<W> | RunStore>
} = internalRun.run as any

/**
 * Starts a run in the caller's `Scope` and returns its handle. Closing the scope cancels the run.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const start: {
  <W extends Any>(
    self: W & ValidateHandled<W>,
    ...args: RunArgs<W>
  ): Effect.Effect<RunHandle<W>, InvalidInputError | WorkflowValidationError, Requirements<W> | Scope.Scope>
  <W extends Any>(
    self: W & ValidateHandled<W>,
    input: InputEncoded<W>,
    options: RunOptions<State<W>> & { readonly durable: true }
  ): Effect.Effect<
    RunHandle<W>,
    InvalidInputError | WorkflowValidationError | RunStoreError,
    Requirements<W> | Scope.Scope | RunStore
  >
} = internalRun.start as any

/**
 * Continues a run from a snapshot (`handle.snapshot`), or from the last checkpoint of a durable run in the
 * `RunStore` (given its run id; the resumed run stays durable unless `durable: false`).
 *
 * Invocations that were in flight are executed again from the start of their step (at-least-once): what they had
 * already sent, written or awaited before the snapshot is not sent or published again, and a `waitFor` that had
 * been answered returns the same answer. Queued events, `collect` buffers and open prompts are kept; no new
 * `StartEvent` is sent; the published log is replayed by `events()`. A snapshot taken after `cancel` resumes the
 * run; a completed one gives a handle with its result; one that does not decode, belongs to another workflow or
 * ended in failure fails with `InvalidSnapshotError`. The run timeout starts again from the resume.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const resume: {
  <W extends Any>(
    self: W,
    runId: string,
    options?: RunOptions<State<W>>
  ): Effect.Effect<
    RunHandle<W>,
    InvalidSnapshotError | RunNotFoundError | RunStoreError,
    Requirements<W> | Scope.Scope | RunStore
  >
  <W extends Any>(
    self: W,
    snapshot: unknown,
    options: RunOptions<State<W>> & { readonly durable: true }
  ): Effect.Effect<RunHandle<W>, InvalidSnapshotError, Requirements<W> | Scope.Scope | RunStore>
  <W extends Any>(
    self: W,
    snapshot: unknown,
    options?: RunOptions<State<W>>
  ): Effect.Effect<RunHandle<W>, InvalidSnapshotError, Requirements<W> | Scope.Scope>
} = internalRun.resume as any

/**
 * Resumes every unfinished (`running` or `waiting`) run of this workflow found in the `RunStore`: what a process
 * does at boot.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const resumeAll: <W extends Any>(
  self: W,
  options?: RunOptions<State<W>>
) => Effect.Effect<
  ReadonlyArray<RunHandle<W>>,
  InvalidSnapshotError | RunNotFoundError | RunStoreError,
  Requirements<W> | Scope.Scope | RunStore
> = internalRun.resumeAll as any

/**
 * Starts a run and streams what it publishes; the stream ends after the terminal event and fails with the
 * run's error when the run fails.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const stream: <W extends Any>(
  self: W & ValidateHandled<W>,
  ...args: RunArgs<W>
) => Stream.Stream<PublishedEvent, RunError<Error<W>> | InvalidInputError, Requirements<W>> = internalRun.stream as any

/**
 * Checks the workflow's definition and graph; every problem is listed in one `WorkflowValidationError`.
 * The result is cached per workflow value.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const validate: (self: Any) => Effect.Effect<void, WorkflowValidationError> = internalGraph.validate

/**
 * The graph of all possible flows as a Mermaid `flowchart`.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const toMermaid: (self: Any) => string = internalGraph.toMermaid

/**
 * The graph of all possible flows as plain JSON.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const graph: (self: Any) => Graph.Graph = internalGraph.graph
