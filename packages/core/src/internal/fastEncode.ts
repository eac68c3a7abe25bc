/**
 * A fast path for encoding events whose schema is a struct of plain fields (`Event.define("A", { n: Schema.Number
 * })`): checked and copied by a function compiled once per schema instead of a run of Effect Schema's encoder on
 * every durable hop. Only schemas whose encoding is the value itself qualify (fields of `Schema.String`,
 * `Schema.Number`, `Schema.Boolean` or a literal, all required, no index signature, no refinement or
 * transformation); a value the fast path does not accept goes to Schema, which encodes it or throws its own error.
 */
import type * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"

/** What a compiled encoder returns for a value it leaves to Schema. */
export const notFast: unique symbol = Symbol("notFast")

type Encoder = (value: unknown) => unknown

type Field =
  | { readonly name: string; readonly kind: "string" | "number" | "boolean" }
  | { readonly name: string; readonly kind: "literal"; readonly literal: AST.LiteralValue }

const compile = (ast: AST.AST): Encoder | undefined => {
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0) return undefined
  const fields: Array<Field> = []
  for (const ps of ast.propertySignatures) {
    if (ps.isOptional || typeof ps.name !== "string") return undefined
    const type = ps.type
    switch (type._tag) {
      case "StringKeyword":
        fields.push({ name: ps.name, kind: "string" })
        break
      case "NumberKeyword":
        fields.push({ name: ps.name, kind: "number" })
        break
      case "BooleanKeyword":
        fields.push({ name: ps.name, kind: "boolean" })
        break
      case "Literal":
        fields.push({ name: ps.name, kind: "literal", literal: type.literal })
        break
      default:
        return undefined
    }
  }
  return (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return notFast
    const out: Record<string, unknown> = {}
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]
      if (!Object.hasOwn(value, field.name)) return notFast
      const v = (value as Record<string, unknown>)[field.name]
      if (field.kind === "literal" ? v !== field.literal : typeof v !== field.kind) return notFast
      out[field.name] = v
    }
    return out
  }
}

const encoders = new WeakMap<object, Encoder | null>()

/**
 * `value` encoded with `schema` when the fast path applies: the same value `Schema.encodeUnknownSync(schema)` gives,
 * or {@link notFast} (then the caller asks Schema).
 *
 * @internal
 */
export const fastEncode = (schema: Schema.Schema.Any, value: unknown): unknown => {
  let encoder = encoders.get(schema)
  if (encoder === undefined) {
    encoder = compile(schema.ast) ?? null
    encoders.set(schema, encoder)
  }
  return encoder === null ? notFast : encoder(value)
}
