/**
 * Workflows: an immutable builder of steps (`defineWorkflow(...).step(match, handler, options)`), and the
 * functions that run, stream, validate and draw them.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AnyEvent, EventType, StartEvent, StopEvent } from "./Event.js"
import type * as Graph from "./Graph.js"
import * as internalFork from "./internal/fork.js"
import * as internalGraph from "./internal/graph.js"
import * as internalRun from "./internal/engine.js"
import { planOf } from "./internal/plan.js"
import * as internal from "./internal/workflow.js"
import type { PublishedEvent, RunHandle, RunOptions } from "./Run.js"
import type { StepContext, StepTarget } from "./StepContext.js"
import type { RunStore } from "./RunStore.js"
import type * as Journal from "./Journal.js"
import type { JournalStore } from "./JournalStore.js"
import type {
  ForkError,
  InvalidInputError,
  JournalConflictError,
  JournalStoreError,
  InvalidSnapshotError,
  JournalMismatchError,
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
  T extends Duration.DurationInput | undefined = Duration.DurationInput | undefined,
  Name extends string | undefined = string | undefined,
  E = any,
  RS = never
> {
  /** Default: the matched tags joined with `|`, with a `#2` suffix for a second step on the same tags. */
  readonly name?: Name
  /** The event types this step may return or `ctx.send`: used for validation, drawing and type checks. */
  readonly emits?: Emits | undefined
  /**
   * The event types this step awaits with `ctx.waitFor` (e.g. `[HumanResponse]`): drawn as human nodes by
   * {@link toMermaid} and {@link graph}, and known to forms (the studio). Informative: `waitFor` works without it.
   */
  readonly waitsFor?: ReadonlyArray<EventType> | undefined
  /** Max concurrent invocations of this step within one run (default 4; `Infinity` for no cap). */
  readonly workers?: number | undefined
  /**
   * A `Schedule` applied to the step's failures (its own errors, and `StepTimeoutError` with `timeout`):
   * `Schedule.recurs(2)` means at most 3 executions. The services it needs add up in the workflow's requirements.
   */
  readonly retry?: Schedule.Schedule<unknown, NoInfer<E>, RS> | undefined
  /** Per-execution timeout; expiry fails that execution with `StepTimeoutError`. */
  readonly timeout?: T
  /**
   * The child workflows this step runs (`ctx.run` / `ctx.start`), for drawing only: a handler is opaque, so
   * `toMermaid` and `graph` draw a declared child as a subgraph of this step. Running does not need it.
   */
  readonly children?: ReadonlyArray<Any> | undefined
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
  /** The event types declared in the `waitsFor` option. */
  readonly waitsFor?: ReadonlyArray<EventType> | undefined
  readonly handler: (event: any, ctx: StepContext<any>) => Effect.Effect<unknown, unknown, unknown>
  readonly workers: number
  readonly retry: Schedule.Schedule<any, any, never> | undefined
  readonly timeout: Duration.Duration | undefined
  /** Definition problems found when the step was added; reported by validation, never thrown. */
  readonly problems: ReadonlyArray<string>
  /** The child workflows declared in the step's `children` option (for drawing). */
  readonly children?: ReadonlyArray<Any> | undefined
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
  /**
   * How many step failures one run may route to `StepFailed` handlers (default 100; a run option overrides it).
   * The failure after that fails the run with `RecoveryBudgetError`, so a handler that routes work back to a
   * step that keeps failing cannot loop forever.
   */
  readonly maxRecoveries?: number | undefined
  /**
   * How many runs of this workflow may be active at once in this process (default: no cap). Further runs are
   * queued and start in order (FIFO) as earlier ones end; a queued run's timeout starts when it starts.
   */
  readonly concurrency?: number | undefined
}

/**
 * A workflow: the builder value is the workflow, it can be run, drawn and validated.
 *
 * Type parameters: `I`/`IE` the input (decoded/encoded), `O` the result, `S` the state, `Handled` the tags
 * some step accepts, `Emitted` the tags some step emits, `E`/`R` the errors and services of all steps,
 * `Steps` the names of the steps, `Targets` the step names given to `ctx.send(event, { step })`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Workflow<
  Name extends string,
  I,
  IE,
  O,
  S,
  Handled extends string,
  Emitted extends string,
  E,
  R,
  Steps extends string = string,
  Targets extends string = never
> extends Pipeable {
  readonly [TypeId]: {
    readonly _I: (_: never) => I
    readonly _O: (_: never) => O
    readonly _E: (_: never) => E
    readonly _R: (_: never) => R
    readonly _Steps: (_: never) => Steps
    readonly _Targets: (_: never) => Targets
  }
  readonly name: Name
  readonly description: string | undefined
  readonly input: Schema.Schema<I, IE, never>
  readonly output: Schema.Schema<O, any, never>
  readonly state: Schema.Schema<S, any, never> | undefined
  readonly initialState: S
  readonly timeout: Duration.Duration | undefined
  readonly external: ReadonlyArray<EventType>
  /** See {@link DefineOptions.maxRecoveries}. */
  readonly maxRecoveries: number
  /** See {@link DefineOptions.concurrency}; `undefined` for no cap. */
  readonly concurrency: number | undefined
  readonly steps: ReadonlyArray<StepDefinition>
  /** Problems of the workflow's own options (e.g. `state` without `initialState`). */
  readonly problems: ReadonlyArray<string>

  /**
   * Adds a step with declared `emits`: the handler may only return (and should only send) those event types.
   */
  step<
    const M extends Match,
    const Emits extends ReadonlyArray<EventType>,
    H extends Effect.Effect<StepOutput<Bind<Schema.Schema.Type<Emits[number]>, I, O>>, any, any>,
    T extends Duration.DurationInput | undefined = undefined,
    const StepName extends string | undefined = undefined,
    RS = never
  >(
    match: M,
    handler: (event: HandlerEvent<M, I, O>, ctx: StepContext<S, Bind<Schema.Schema.Type<Emits[number]>, I, O>>) => H,
    options: StepOptions<Emits, T, StepName, HandlerError<H> | TimeoutError<T>, RS> & { readonly emits: Emits }
  ): Workflow<
    Name,
    I,
    IE,
    O,
    S,
    Handled | MatchTags<M>,
    Emitted | Schema.Schema.Type<Emits[number]>["_tag"],
    E | HandlerError<H> | TimeoutError<T>,
    R | Exclude<HandlerContext<H>, AnyStepTarget> | RS,
    Steps | NameOfStep<StepName, M, Steps>,
    Targets | TargetsOf<HandlerContext<H>>
  >
  /**
   * Adds a step. The tags it returns are inferred from the handler's return type.
   */
  step<
    const M extends Match,
    H extends Effect.Effect<StepOutput, any, any>,
    T extends Duration.DurationInput | undefined = undefined,
    const StepName extends string | undefined = undefined,
    RS = never
  >(
    match: M,
    handler: (event: HandlerEvent<M, I, O>, ctx: StepContext<S>) => H,
    options?: StepOptions<never, T, StepName, HandlerError<H> | TimeoutError<T>, RS> & {
      readonly emits?: undefined
    }
  ): Workflow<
    Name,
    I,
    IE,
    O,
    S,
    Handled | MatchTags<M>,
    Emitted | OutputTags<HandlerSuccess<H>>,
    E | HandlerError<H> | TimeoutError<T>,
    R | Exclude<HandlerContext<H>, AnyStepTarget> | RS,
    Steps | NameOfStep<StepName, M, Steps>,
    Targets | TargetsOf<HandlerContext<H>>
  >
}

/**
 * Some workflow: every workflow is one. Its errors and requirements are `unknown`, never `any`, so they do not leak
 * into a caller's types (running a `Workflow.Any` gives an effect that needs `unknown`); generic code keeps the
 * workflow's type as a type parameter (`<W extends Workflow.Any>`) or uses {@link AnyWith}.
 *
 * @since 0.1.0
 * @category Models
 */
export type Any = Workflow<string, any, any, any, any, any, any, unknown, unknown, any, any>

/**
 * A workflow whose steps need at most the services `R` and fail with at most `E`: for generic code that runs
 * workflows it holds with services it has, e.g. a server given its workflows' requirements.
 *
 * @since 0.1.0
 * @category Models
 */
export type AnyWith<R, E = unknown> = Workflow<string, any, any, any, any, any, any, E, R, any, any>

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Input<W> = W extends Workflow<any, infer I, any, any, any, any, any, any, any, any, any> ? I : never

/**
 * The encoded input `Workflow.run` accepts (decoded with the input schema).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type InputEncoded<W> =
  W extends Workflow<any, any, infer IE, any, any, any, any, any, any, any, any> ? IE : never

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Output<W> = W extends Workflow<any, any, any, infer O, any, any, any, any, any, any, any> ? O : never

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type State<W> = W extends Workflow<any, any, any, any, infer S, any, any, any, any, any, any> ? S : never

/**
 * The union of the errors of every step of the workflow.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Error<W> = W extends Workflow<any, any, any, any, any, any, any, infer E, any, any, any> ? E : never

/**
 * The union of the services every step of the workflow requires.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Requirements<W> = W extends Workflow<any, any, any, any, any, any, any, any, infer R, any, any> ? R : never

/**
 * Tags that some step emits and no step handles.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Unhandled<W> =
  W extends Workflow<any, any, any, any, any, infer H, infer Em, any, any, any, any>
    ? Exclude<Em, H | "StopEvent" | "InputRequired">
    : never

/**
 * The names of the steps of the workflow (`string` when they are not known literally).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type StepNames<W> = W extends Workflow<any, any, any, any, any, any, any, any, any, infer N, any> ? N : never

/**
 * Step names given to `ctx.send(event, { step })` that name no step of the workflow.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type UnknownTargets<W> =
  W extends Workflow<any, any, any, any, any, any, any, any, any, infer N, infer T>
    ? string extends N
      ? never
      : string extends T
        ? never
        : Exclude<T, N>
    : never

/**
 * `unknown` when every emitted event is handled and every `ctx.send(event, { step })` names a step; otherwise the
 * readable type error `"Event not handled: Tag"` or `"ctx.send to an unknown step: name"`.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type ValidateHandled<W> =
  string extends Unhandled<W>
    ? ValidateTargets<W>
    : [Unhandled<W>] extends [never]
      ? ValidateTargets<W>
      : `Event not handled: ${Unhandled<W>}`

/**
 * @since 0.1.0
 * @category Type-level Utils
 */
export type ValidateTargets<W> = [UnknownTargets<W>] extends [never]
  ? unknown
  : `ctx.send to an unknown step: ${UnknownTargets<W>}`

/**
 * Any `StepTarget`: removed from a handler's requirements by `.step`, collected as the workflow's `Targets`.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type AnyStepTarget = StepTarget<string>

/**
 * The step names a handler's `ctx.send(event, { step })` calls target.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type TargetsOf<R> = R extends StepTarget<infer N> ? N : never

/**
 * The name of a step added with `.step(match, handler, options)`: `options.name`, or the matched tags joined with
 * `|`, with a `#2`, `#3`, ... suffix when a step of that name exists.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type NameOfStep<Given extends string | undefined, M, Steps extends string> = [Given] extends [string]
  ? Given
  : Numbered<JoinTags<M extends ReadonlyArray<any> ? M : readonly [M]>, Steps>

type TagOfType<T> = Schema.Schema.Type<T> extends { readonly _tag: infer Tag extends string } ? Tag : string

type JoinTags<M extends ReadonlyArray<any>, Acc extends string = never> = M extends readonly [infer Head, ...infer Rest]
  ? JoinTags<Rest, [Acc] extends [never] ? TagOfType<Head> : `${Acc}|${TagOfType<Head>}`>
  : [Acc] extends [never]
    ? string
    : Acc

type Numbered<Base extends string, Steps extends string, N extends ReadonlyArray<0> = []> = string extends Base | Steps
  ? string
  : N["length"] extends 10
    ? string
    : (N extends [] ? Base : `${Base}#${N["length"]}`) extends infer Candidate extends string
      ? [Candidate] extends [Steps]
        ? Numbered<Base, Steps, N extends [] ? [0, 0] : [...N, 0]>
        : Candidate
      : never

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
 * What a handler's effect succeeds with; a union of effects (e.g. `cond ? Effect.succeed(a) : Effect.succeed(b)`)
 * gives the union of their results.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type HandlerSuccess<H> = H extends Effect.Effect<infer A, any, any> ? A : never

/**
 * The errors of a handler's effect (of every effect of a union).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type HandlerError<H> = H extends Effect.Effect<any, infer E, any> ? E : never

/**
 * The requirements of a handler's effect (of every effect of a union).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type HandlerContext<H> = H extends Effect.Effect<any, any, infer R> ? R : never

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
    ? [input?: InputEncoded<W>, options?: NotDurable<RunOptions<State<W>>>]
    : [input: InputEncoded<W>, options?: NotDurable<RunOptions<State<W>>>]

/**
 * Run options without `durable: true`: a durable run needs a `RunStore`, so it has its own overloads.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type NotDurable<O> = O & { readonly durable?: false | undefined }

/**
 * Run options with `durable` given: `RunStore` is required (and `RunStoreError` possible) unless it is `false`.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type DurableOptions<S, D extends boolean> = RunOptions<S> & { readonly durable: D }

/**
 * What a durable run (`durable: true`, or a `boolean` that may be `true`) adds: `A` unless `durable` is `false`.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type IfDurable<D extends boolean, A> = [D] extends [false] ? never : A

/**
 * The arguments of the pipe forms (`wf.pipe(Workflow.run(input, options))`), checked once the workflow is known:
 * `unknown` when the input (and the `state` option) fit it, otherwise a readable type error.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type ValidateArgs<W, In, St> = [In] extends [InputEncoded<W>]
  ? [St] extends [State<W>]
    ? unknown
    : `The "state" option does not fit the workflow's state`
  : `The input does not fit the workflow's input schema`

/**
 * The pipe forms take an input, never a workflow (so that `Workflow.run(wf)` is not read as a pipe form).
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type NotAWorkflow<In> = [In] extends [{ readonly [TypeId]: unknown }] ? never : In

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
  <W extends Any, const D extends boolean>(
    self: W & ValidateHandled<W>,
    input: InputEncoded<W>,
    options: DurableOptions<State<W>, D>
  ): Effect.Effect<
    Output<W>,
    RunError<Error<W>> | InvalidInputError | IfDurable<D, RunStoreError>,
    Requirements<W> | IfDurable<D, RunStore>
  >
  <In = undefined, St = never>(
    input?: NotAWorkflow<In>,
    options?: NotDurable<RunOptions<St>>
  ): <W extends Any>(
    self: W & ValidateHandled<W> & ValidateArgs<W, In, St>
  ) => Effect.Effect<Output<W>, RunError<Error<W>> | InvalidInputError, Requirements<W>>
  <In, const D extends boolean, St = never>(
    input: NotAWorkflow<In>,
    options: DurableOptions<St, D>
  ): <W extends Any>(
    self: W & ValidateHandled<W> & ValidateArgs<W, In, St>
  ) => Effect.Effect<
    Output<W>,
    RunError<Error<W>> | InvalidInputError | IfDurable<D, RunStoreError>,
    Requirements<W> | IfDurable<D, RunStore>
  >
} = dual((args) => internal.isWorkflow(args[0]), internalRun.run) as any

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
  <W extends Any, const D extends boolean>(
    self: W & ValidateHandled<W>,
    input: InputEncoded<W>,
    options: DurableOptions<State<W>, D>
  ): Effect.Effect<
    RunHandle<W, IfDurable<D, RunStoreError>>,
    InvalidInputError | WorkflowValidationError | IfDurable<D, RunStoreError>,
    Requirements<W> | Scope.Scope | IfDurable<D, RunStore>
  >
  <In = undefined, St = never>(
    input?: NotAWorkflow<In>,
    options?: NotDurable<RunOptions<St>>
  ): <W extends Any>(
    self: W & ValidateHandled<W> & ValidateArgs<W, In, St>
  ) => Effect.Effect<RunHandle<W>, InvalidInputError | WorkflowValidationError, Requirements<W> | Scope.Scope>
  <In, const D extends boolean, St = never>(
    input: NotAWorkflow<In>,
    options: DurableOptions<St, D>
  ): <W extends Any>(
    self: W & ValidateHandled<W> & ValidateArgs<W, In, St>
  ) => Effect.Effect<
    RunHandle<W, IfDurable<D, RunStoreError>>,
    InvalidInputError | WorkflowValidationError | IfDurable<D, RunStoreError>,
    Requirements<W> | Scope.Scope | IfDurable<D, RunStore>
  >
} = dual((args) => internal.isWorkflow(args[0]), internalRun.start) as any

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
 * A run kept on a journal (a `JournalStore` in context, as `SqliteRunStore.layer` and `RunStore.layerMemory` give)
 * is resumed by replaying its journal through the engine's transition; a journal that does not fit this definition
 * (a step renamed or removed, a tag no longer accepted, a payload that no longer decodes) fails with one
 * `JournalMismatchError` listing every mismatch, and nothing runs.
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
    RunHandle<W, RunStoreError>,
    InvalidSnapshotError | RunNotFoundError | RunStoreError | JournalMismatchError,
    Requirements<W> | Scope.Scope | RunStore
  >
  <W extends Any>(
    self: W,
    snapshot: unknown,
    options: RunOptions<State<W>> & { readonly durable: true }
  ): Effect.Effect<RunHandle<W, RunStoreError>, InvalidSnapshotError, Requirements<W> | Scope.Scope | RunStore>
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
  ReadonlyArray<RunHandle<W, RunStoreError>>,
  InvalidSnapshotError | RunNotFoundError | RunStoreError | JournalMismatchError,
  Requirements<W> | Scope.Scope | RunStore
> = internalRun.resumeAll as any

/**
 * Starts a run and streams what it publishes; the stream ends after the terminal event and fails with the
 * run's error when the run fails.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const stream: {
  <W extends Any>(
    self: W & ValidateHandled<W>,
    ...args: RunArgs<W>
  ): Stream.Stream<PublishedEvent, RunError<Error<W>> | InvalidInputError, Requirements<W>>
  <W extends Any, const D extends boolean>(
    self: W & ValidateHandled<W>,
    input: InputEncoded<W>,
    options: DurableOptions<State<W>, D>
  ): Stream.Stream<
    PublishedEvent,
    RunError<Error<W>> | InvalidInputError | IfDurable<D, RunStoreError>,
    Requirements<W> | IfDurable<D, RunStore>
  >
  <In = undefined, St = never>(
    input?: NotAWorkflow<In>,
    options?: NotDurable<RunOptions<St>>
  ): <W extends Any>(
    self: W & ValidateHandled<W> & ValidateArgs<W, In, St>
  ) => Stream.Stream<PublishedEvent, RunError<Error<W>> | InvalidInputError, Requirements<W>>
  <In, const D extends boolean, St = never>(
    input: NotAWorkflow<In>,
    options: DurableOptions<St, D>
  ): <W extends Any>(
    self: W & ValidateHandled<W> & ValidateArgs<W, In, St>
  ) => Stream.Stream<
    PublishedEvent,
    RunError<Error<W>> | InvalidInputError | IfDurable<D, RunStoreError>,
    Requirements<W> | IfDurable<D, RunStore>
  >
} = dual((args) => internal.isWorkflow(args[0]), internalRun.stream) as any

/**
 * Checks the workflow's definition and graph; every problem is listed in one `WorkflowValidationError`.
 * The result is cached per workflow value.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const validate: {
  (): (self: Any) => Effect.Effect<void, WorkflowValidationError>
  (self: Any): Effect.Effect<void, WorkflowValidationError>
} = dual((args) => internal.isWorkflow(args[0]), internalGraph.validate) as any

/**
 * The graph of all possible flows as a Mermaid `flowchart`: steps, events and the edges declared with `emits`, and
 * the `waitsFor` points as human nodes. With `{ run }` (a run's journal entries, e.g. from `JournalStore.read`),
 * the path that run actually took instead (LlamaIndex's `draw_most_recent_execution`): only the events, steps and
 * waits it went through, with how many times, the edges it followed, the steps that failed, and how it ended.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const toMermaid: {
  (options?: MermaidOptions): (self: Any) => string
  (self: Any, options?: MermaidOptions): string
} = dual((args) => internal.isWorkflow(args[0]), internalGraph.toMermaid) as any

/**
 * Options of {@link toMermaid}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface MermaidOptions {
  /** A run's journal: draw the path it took. */
  readonly run?: ReadonlyArray<Journal.Stored | Journal.Entry> | undefined
}

/**
 * The graph of all possible flows as plain JSON.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const graph: (self: Any) => Graph.Graph = internalGraph.graph

/**
 * Every event type the workflow knows, by tag: what its steps accept and declare in `emits`, its `external` types,
 * `HumanResponse`, `InputRequired`, `StepFailed`, and `StartEvent`/`StopEvent` with the workflow's input and output
 * schemas. Used to build forms (the studio) and to decode events sent from outside.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const eventTypes = (self: Any): ReadonlyMap<string, Schema.Schema<any, any, never>> => planOf(self).registry

/**
 * Options of {@link fork} and {@link forkJournal}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ForkOptions {
  /** The run forked from (its journal is read from the `JournalStore`). */
  readonly from: string
  /** The offset of the last journal entry copied (entries `0` to `offset`); the run's end cannot be copied. */
  readonly offset: number
  /**
   * The entry at `offset` with its event replaced by this one (encoded JSON, with the same `_tag`): the input of
   * `RunStarted`, the event of `ExternalEventSent`/`EventSent`, the answer of `WaiterAnswered`, or the `index`-th
   * event an `InvocationCompleted` returned.
   */
  readonly event?: unknown
  /** Which returned event of an `InvocationCompleted` `event` replaces (needed when it returned several). */
  readonly index?: number | undefined
  /** The fork's run id (default: a new UUID). */
  readonly runId?: string | undefined
}

/**
 * Writes a fork's journal and returns it: a copy of run `from`'s journal up to `offset` (optionally with that
 * entry's event edited) under a new run id, whose `RunStarted` records `forkedFrom: { runId, offset, edited? }`.
 * The copy is checked against the workflow (`Journal.check`: an edited event that does not fit its schema fails with
 * `ForkError` and nothing is written). Nothing runs: see {@link fork}.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const forkJournal: (
  self: Any,
  options: ForkOptions
) => Effect.Effect<
  { readonly runId: string; readonly entries: ReadonlyArray<Journal.Stored> },
  ForkError | JournalStoreError | JournalConflictError,
  JournalStore
> = internalFork.forkJournal

/**
 * Time travel: starts a new run from a point of another run's journal, optionally with one event edited
 * ({@link forkJournal}), and resumes it from that journal. The fork is durable and records where it came from.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const fork: <W extends Any>(
  self: W,
  options: ForkOptions & { readonly run?: RunOptions<State<W>> | undefined }
) => Effect.Effect<
  RunHandle<W, RunStoreError>,
  ForkError | JournalStoreError | JournalConflictError | InvalidSnapshotError | RunNotFoundError | RunStoreError,
  Requirements<W> | Scope.Scope | RunStore | JournalStore
> = internalFork.fork as any
