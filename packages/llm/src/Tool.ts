/**
 * Typed tools a model can call: a name, a description, the parameters and the result as effect Schemas, and a
 * handler Effect. Pass them to `LLM.complete` / `LLM.stream` with `{ tools }`; the model's tool calls come back
 * decoded-checked (`Completion.toolCalls`), {@link run} runs one with its handler, and the {@link ToolResult} goes
 * back to the model as a `{ role: "tool" }` message, in each provider's own wire format.
 *
 * Shaped after `@effect/ai`'s `Tool` (parameters / success / failure schemas), without depending on it.
 *
 * @since 0.1.0
 */
import * as RunObserver from "@eventflow/core/RunObserver"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A tool. `parameters` decodes what the model sends (its encoded side is what the model sees as JSON Schema),
 * `success` encodes the handler's result for the model, `failure` encodes the handler's typed error (sent back to
 * the model as an error result, so it can react).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Tool<Name extends string, P, PI, S, SI, E, EI, R> {
  readonly name: Name
  readonly description: string
  readonly parameters: Schema.Schema<P, PI, never>
  readonly success: Schema.Schema<S, SI, never>
  readonly failure: Schema.Schema<E, EI, never>
  readonly handler: (params: P) => Effect.Effect<S, E, R>
}

/**
 * Any tool.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Any {
  readonly name: string
  readonly description: string
  readonly parameters: Schema.Schema.All
  readonly success: Schema.Schema.All
  readonly failure: Schema.Schema.All
  readonly handler: (params: any) => Effect.Effect<any, any, any>
}

/**
 * The services the handlers of some tools need.
 *
 * @since 0.1.0
 * @category Type-level Utils
 */
export type Requirements<T extends Any> = T extends {
  readonly handler: (params: any) => Effect.Effect<any, any, infer R>
}
  ? R
  : never

/**
 * Defines a tool.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Tool } from "@eventflow/llm"
 *
 * const weather = Tool.make("get_weather", {
 *   description: "The current weather of a city",
 *   parameters: Schema.Struct({ city: Schema.String }),
 *   success: Schema.Struct({ celsius: Schema.Number }),
 *   handler: ({ city }) => Effect.succeed({ celsius: city.length })
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <const Name extends string, P, PI, S, SI, R = never, E = never, EI = never>(
  name: Name,
  options: {
    readonly description: string
    readonly parameters: Schema.Schema<P, PI, never>
    readonly success: Schema.Schema<S, SI, never>
    readonly failure?: Schema.Schema<E, EI, never> | undefined
    readonly handler: (params: P) => Effect.Effect<S, E, R>
  }
): Tool<Name, P, PI, S, SI, E, EI, R> => ({
  name,
  description: options.description,
  parameters: options.parameters,
  success: options.success,
  failure: (options.failure ?? Schema.Never) as Schema.Schema<E, EI, never>,
  handler: options.handler
})

/**
 * A tool call as the model made it: `input` is the JSON it sent (the encoded side of the tool's `parameters`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly input: unknown
}

/**
 * The schema of a {@link ToolCall} (for events and durable state).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ToolCall: Schema.Schema<ToolCall> = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})

/**
 * What a tool call produced, for the model: `content` is JSON text (the encoded result or error), `isError` says
 * the tool failed.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ToolResult {
  readonly id: string
  readonly name: string
  readonly content: string
  readonly isError: boolean
}

/**
 * The schema of a {@link ToolResult}.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ToolResult: Schema.Schema<ToolResult> = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  content: Schema.String,
  isError: Schema.Boolean
})

/**
 * Wraps a non-object schema's JSON Schema: providers want an object at the root of tool parameters and strict
 * structured output.
 *
 * @since 0.1.0
 * @category Utils
 */
export const objectJsonSchema = (
  schema: Schema.Schema.AnyNoContext
): { readonly jsonSchema: any; readonly wrapped: boolean } => {
  const { $schema: _, ...jsonSchema } = JSONSchema.make(schema) as unknown as Record<string, unknown>
  if (jsonSchema.type === "object" && jsonSchema.properties !== undefined) return { jsonSchema, wrapped: false }
  const { $defs, ...inner } = jsonSchema
  return {
    jsonSchema: {
      type: "object",
      properties: { value: inner },
      required: ["value"],
      additionalProperties: false,
      ...($defs === undefined ? {} : { $defs })
    },
    wrapped: true
  }
}

/**
 * The JSON Schema of a tool's parameters, as the model sees it (always an object).
 *
 * @since 0.1.0
 * @category Utils
 */
export const parametersJsonSchema = (tool: Any): any =>
  objectJsonSchema(tool.parameters as Schema.Schema.AnyNoContext).jsonSchema

const formatParseError = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/**
 * Checks a tool call against its tool: the tool exists and `input` decodes with its `parameters`. The error is a
 * text for the model (or a person).
 *
 * @since 0.1.0
 * @category Utils
 */
export const check = (tools: ReadonlyArray<Any>, call: ToolCall): Effect.Effect<unknown, string> => {
  const tool = tools.find((t) => t.name === call.name)
  if (tool === undefined) {
    return Effect.fail(`unknown tool "${call.name}"; the tools are: ${tools.map((t) => t.name).join(", ")}`)
  }
  return Schema.decodeUnknown(tool.parameters as Schema.Schema.AnyNoContext, { errors: "all" })(call.input).pipe(
    Effect.mapError((e) => `the arguments of "${call.name}" do not match its parameters:\n${formatParseError(e)}`)
  )
}

/**
 * Runs a tool call with its tool's handler and encodes the outcome for the model: the encoded result, or (with
 * `isError: true`) the encoded typed failure, the decoding error of bad arguments, or an unknown tool's name.
 * Defects of the handler are not caught. Runs in a span `execute_tool <name>` (OpenTelemetry GenAI conventions;
 * the arguments and the result are recorded only when `CaptureContent` is on).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const run = <T extends Any>(
  tools: ReadonlyArray<T>,
  call: ToolCall
): Effect.Effect<ToolResult, never, Requirements<T>> =>
  Effect.gen(function* () {
    const result = (content: unknown, isError: boolean): ToolResult => ({
      id: call.id,
      name: call.name,
      content: typeof content === "string" && isError ? JSON.stringify({ error: content }) : JSON.stringify(content),
      isError
    })
    const checked = yield* Effect.either(check(tools, call))
    if (checked._tag === "Left") return result(checked.left, true)
    const tool = tools.find((t) => t.name === call.name)!
    const outcome = yield* Effect.either(
      tool.handler(checked.right) as Effect.Effect<unknown, unknown, Requirements<T>>
    )
    if (outcome._tag === "Left") {
      const encoded = yield* Effect.either(
        Schema.encodeUnknown(tool.failure as Schema.Schema.AnyNoContext)(outcome.left)
      )
      return result(
        encoded._tag === "Right" ? { error: encoded.right } : `the tool failed: ${String(outcome.left)}`,
        true
      )
    }
    const encoded = yield* Effect.either(
      Schema.encodeUnknown(tool.success as Schema.Schema.AnyNoContext)(outcome.right)
    )
    return encoded._tag === "Right"
      ? result(encoded.right, false)
      : result(`the tool's result does not encode: ${formatParseError(encoded.left)}`, true)
  }).pipe(
    Effect.tap((outcome) =>
      Effect.flatMap(RunObserver.CaptureContent, (capture) =>
        Effect.annotateCurrentSpan({
          ...(outcome.isError ? { "error.type": "tool_error" } : {}),
          ...(capture
            ? { "gen_ai.tool.call.arguments": JSON.stringify(call.input), "gen_ai.tool.call.result": outcome.content }
            : {})
        })
      )
    ),
    Effect.withSpan(`execute_tool ${call.name}`, {
      attributes: {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
        "gen_ai.tool.type": "function"
      }
    })
  )
