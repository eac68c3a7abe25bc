import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/** @internal */
export const terminalTags: ReadonlySet<string> = new Set([
  "StopEvent",
  "WorkflowFailed",
  "WorkflowTimedOut",
  "WorkflowCancelled"
])

/** @internal */
export const internalTags: ReadonlySet<string> = new Set([
  "StepStarted",
  "StepCompleted",
  "StepFailedAttempt",
  "EventDispatched",
  "RunIdle",
  "UnhandledEvent"
])

/** @internal */
export const define = <const Tag extends string, Fields extends Schema.Struct.Fields>(
  tag: Tag,
  fields: Fields
): Schema.TaggedStruct<Tag, Fields> => {
  const schema = Schema.TaggedStruct(tag, fields)
  const slowMake = schema.make.bind(schema)
  // A field with a constructor default or a property-signature transformation needs the schema's own
  // `make` (still without validation); plain fields are copied as they are.
  const needsSchemaMake = Object.values(fields).some((field) => Schema.isPropertySignature(field))
  const make = needsSchemaMake
    ? (props: any) => slowMake(props, true)
    : (props: any) => (props === undefined ? { _tag: tag } : { _tag: tag, ...props })
  Object.defineProperty(schema, "make", { value: make, writable: true, configurable: true })
  tagCache.set(schema, tag)
  return schema
}

const tagCache = new WeakMap<object, string>()

const findTag = (ast: AST.AST): string | undefined => {
  switch (ast._tag) {
    case "TypeLiteral": {
      for (const ps of ast.propertySignatures) {
        if (ps.name === "_tag" && AST.isLiteral(ps.type) && typeof ps.type.literal === "string") {
          return ps.type.literal
        }
      }
      return undefined
    }
    case "Transformation":
      return findTag(ast.to) ?? findTag(ast.from)
    case "Refinement":
      return findTag(ast.from)
    case "Suspend":
      return findTag(ast.f())
    case "Declaration":
      return undefined
    default:
      return undefined
  }
}

/** @internal */
export const tagOf = (type: Schema.Schema.Any): string => {
  const cached = tagCache.get(type)
  if (cached !== undefined) return cached
  const tag = findTag(type.ast)
  if (tag === undefined) {
    throw new TypeError(
      `Not an event type: the schema ${String(type.ast)} has no literal "_tag" field. ` +
        `Use Event.define(tag, fields) or Schema.TaggedStruct(tag, fields).`
    )
  }
  tagCache.set(type, tag)
  return tag
}

/** @internal */
export const tagOfSafe = (type: unknown): string | undefined => {
  if (!Schema.isSchema(type)) return undefined
  try {
    return tagOf(type)
  } catch {
    return undefined
  }
}
