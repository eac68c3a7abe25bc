import type * as AST from "effect/SchemaAST"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Completion, LocalOptions, Request, Service } from "../LLM.js"
import * as Llm from "./llm.js"
import { partsOf, usageOf } from "./scripted.js"

export const provider = "local"

const lastUser = (request: Request): string => {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i]!
    if (message.role === "user") return message.content
  }
  return ""
}

/** The line printed on stderr the first time an announcing local model answers. */
export const announcement =
  "eventflow: no ANTHROPIC_API_KEY or OPENAI_API_KEY is set; the answers come from the offline local model (simulated, built from the prompt, not a language model).\n"

/** The first sentence of the last user message, at most 40 words. */
export const summarise = (request: Request): string => {
  const text = lastUser(request).replace(/\s+/g, " ").trim()
  const sentence = /^.*?[.!?](?=\s|$)/.exec(text)?.[0] ?? text
  const words = sentence.split(" ").filter((w) => w.length > 0)
  return words.length > 40 ? `${words.slice(0, 40).join(" ")}…` : words.join(" ")
}

/** A value of the encoded side of a schema, built deterministically from its AST. */
const sample = (ast: AST.AST, text: string): unknown => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return text
    case "NumberKeyword":
      return 0
    case "BooleanKeyword":
      return false
    case "BigIntKeyword":
      return "0"
    case "Literal":
      return ast.literal
    case "Enums":
      return ast.enums[0]?.[1]
    case "UndefinedKeyword":
    case "VoidKeyword":
      return undefined
    case "Union":
      return sample(ast.types[0]!, text)
    case "TupleType":
      return ast.elements.filter((e) => !e.isOptional).map((e) => sample(e.type, text))
    case "TypeLiteral": {
      const out: Record<string, unknown> = {}
      for (const ps of ast.propertySignatures) {
        if (!ps.isOptional && typeof ps.name === "string") out[ps.name] = sample(ps.type, text)
      }
      return out
    }
    case "Refinement":
      return sample(ast.from, text)
    case "Transformation":
      return sample(ast.from, text)
    case "Suspend":
      return sample(ast.f(), text)
    default:
      return null
  }
}

/** The default answer: the first sentence of the prompt, or JSON of the requested schema's shape. */
export const respond = (request: Request): string =>
  request.json === undefined
    ? summarise(request)
    : JSON.stringify(sample(Schema.encodedSchema(request.json.schema).ast, summarise(request)))

export const make = (options?: LocalOptions): Service => {
  const model = options?.model ?? "local-echo"
  const answer = options?.respond ?? respond
  let announced = !(options?.announce ?? false)
  const completionOf = (request: Request): Completion => {
    if (!announced) {
      announced = true
      process.stderr.write(announcement)
    }
    const reply = answer(request)
    const { text, toolCalls = [] } = typeof reply === "string" ? { text: reply } : reply
    return {
      text,
      stopReason: toolCalls.length > 0 ? "tool_use" : "end",
      usage: usageOf(request, text),
      model,
      toolCalls
    }
  }
  return Llm.make({
    provider,
    model,
    defaultMaxTokens: undefined,
    nativeStructured: false,
    complete: (request) => Effect.sync(() => completionOf(request)),
    stream: (request) => Stream.suspend(() => Stream.fromIterable(partsOf(completionOf(request))))
  })
}
