/**
 * The journal's pure parts: deterministic entry ids, the canonical JSON that entries are compared and stored as, and
 * the definition signature of a workflow.
 */
import * as AST from "effect/SchemaAST"
import type * as Workflow from "../Workflow.js"
import { tagOfSafe } from "./event.js"
import { cyrb53 } from "./ids.js"
import { planOf } from "./plan.js"
import { registered } from "./registry.js"

// -----------------------------------------------------------------------------
// Entry ids (DESIGN.md "Identity": events "0", "p/s/k", "x/n"; an invocation is (step, eventId))
// -----------------------------------------------------------------------------

/** @internal */
export { ids, invocationKey, waiterKey } from "./ids.js"

// -----------------------------------------------------------------------------
// Canonical JSON
// -----------------------------------------------------------------------------

const sortKeys = (_key: string, value: unknown): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  const sorted: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) sorted[key] = (value as Record<string, unknown>)[key]
  return sorted
}

/**
 * The reference canonical JSON: `JSON.stringify` with a replacer that sorts object keys at every level. Kept for
 * what the fast writer below leaves to it (`toJSON`, bigints, very deep values) and as its test oracle.
 *
 * @internal
 */
export const canonicalJsonReference = (value: unknown): string => JSON.stringify(value, sortKeys)

/** Deeper than this, a value is written by the reference (which reports a cycle as `JSON.stringify` does). */
const maxDepth = 200

const isArrayIndex = (key: string): boolean => /^(?:0|[1-9][0-9]*)$/.test(key) && Number(key) < 4294967295

/**
 * The key order of the reference's sorted copy, as `JSON.stringify` walks it: array-index keys ("2", "10") come
 * first in numeric order (JavaScript orders an object's integer keys so), then the other keys as sorted.
 */
const orderOfSortedCopy = (sorted: Array<string>): Array<string> => {
  let indexes: Array<string> | undefined
  for (const key of sorted) {
    const c = key.charCodeAt(0)
    if (c >= 48 && c <= 57 && isArrayIndex(key)) {
      if (indexes === undefined) indexes = []
      indexes.push(key)
    }
  }
  if (indexes === undefined) return sorted
  indexes.sort((a, b) => Number(a) - Number(b))
  for (const key of sorted) if (!isArrayIndex(key)) indexes.push(key)
  return indexes
}

/** Characters `JSON.stringify` escapes (controls, quote, backslash) or may (surrogates): the rest is copied as is. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON escapes
const needsEscape = /["\\\u0000-\u001f\ud800-\udfff]/

const quote = (text: string): string => (needsEscape.test(text) ? JSON.stringify(text) : `"${text}"`)

/**
 * Writes `value` into `out` exactly as {@link canonicalJsonReference} would (false: nothing to write, as for
 * `undefined`), without the replacer's sorted copy of every object. The text is built as parts joined once at the end:
 * a string grown by `+=` is a rope of every piece, which costs the garbage collector for as long as it is kept (the
 * memory store keeps every entry's text). Anything with a `toJSON`, and bigints, go to the reference.
 */
const writeInto = (value: unknown, depth: number, out: Array<string>): boolean => {
  switch (typeof value) {
    case "string":
      out.push(quote(value))
      return true
    case "number":
      out.push(Number.isFinite(value) ? String(value) : "null")
      return true
    case "boolean":
      out.push(value ? "true" : "false")
      return true
    case "object": {
      if (value === null) {
        out.push("null")
        return true
      }
      if (depth > maxDepth || typeof (value as { toJSON?: unknown }).toJSON === "function") {
        return pushReference(value, out)
      }
      if (Array.isArray(value)) {
        out.push("[")
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(",")
          if (!writeInto(value[i], depth + 1, out)) out.push("null")
        }
        out.push("]")
        return true
      }
      const keys = orderOfSortedCopy(Object.keys(value).sort())
      out.push("{")
      let first = true
      for (let i = 0; i < keys.length; i++) {
        // The reference's sorted copy drops an own `__proto__` key (the assignment sets the copy's prototype).
        if (keys[i] === "__proto__") continue
        const mark = out.length
        out.push(first ? `${quote(keys[i])}:` : `,${quote(keys[i])}:`)
        if (writeInto((value as Record<string, unknown>)[keys[i]], depth + 1, out)) first = false
        else out.length = mark
      }
      out.push("}")
      return true
    }
    case "undefined":
    case "function":
    case "symbol":
      return false
    default:
      // bigint: the reference throws (or uses a `toJSON` of the caller's) exactly as `JSON.stringify` does
      return pushReference(value, out)
  }
}

const pushReference = (value: unknown, out: Array<string>): boolean => {
  const text = canonicalJsonReference(value) as string | undefined
  if (text === undefined) return false
  out.push(text)
  return true
}

/**
 * `JSON.stringify` with object keys sorted at every level: two values that are equal as JSON have the same text,
 * whatever order their keys were built (or returned by a database) in. The same text as
 * {@link canonicalJsonReference} (checked by a property test), written without copying every object.
 *
 * @internal
 */
export const canonicalJson = (value: unknown): string => {
  const out: Array<string> = []
  return (writeInto(value, 0, out) ? out.join("") : undefined) as string
}

// -----------------------------------------------------------------------------
// Definition signature
// -----------------------------------------------------------------------------

const symbolName = (symbol: symbol): string => Symbol.keyFor(symbol) ?? symbol.description ?? ""

const annotationsOf = (ast: AST.Annotated): Record<string, unknown> | undefined => {
  const out: Record<string, unknown> = {}
  const identifier = AST.getIdentifierAnnotation(ast)
  if (identifier._tag === "Some") out.identifier = identifier.value
  const schemaId = AST.getSchemaIdAnnotation(ast)
  if (schemaId._tag === "Some") {
    out.schemaId = typeof schemaId.value === "symbol" ? symbolName(schemaId.value) : String(schemaId.value)
  }
  const brand = AST.getBrandAnnotation(ast)
  if (brand._tag === "Some") out.brand = brand.value.map((b) => (typeof b === "symbol" ? symbolName(b) : String(b)))
  const jsonSchema = AST.getJSONSchemaAnnotation(ast)
  if (jsonSchema._tag === "Some") out.jsonSchema = jsonSchema.value
  return Object.keys(out).length === 0 ? undefined : out
}

const keyName = (key: PropertyKey): string => (typeof key === "symbol" ? `@@${symbolName(key)}` : String(key))

/**
 * A JSON description of a schema's AST: its structure (both sides of transformations), literals, and the
 * annotations that change what decodes (identifiers, brands, schema ids and JSON Schema constraints of filters).
 * Titles, descriptions and examples are left out (docs do not change a journal's meaning); so are the functions of
 * transformations. A filter without a schema id or JSON Schema annotation is described by its source text.
 */
const describe = (ast: AST.AST, ancestors: Map<AST.AST, number>): unknown => {
  const seen = ancestors.get(ast)
  if (seen !== undefined) return { $ref: seen }
  ancestors.set(ast, ancestors.size)
  try {
    const annotations = annotationsOf(ast)
    const base = (body: Record<string, unknown>) =>
      annotations === undefined ? { _tag: ast._tag, ...body } : { _tag: ast._tag, ...body, annotations }
    const go = (child: AST.AST) => describe(child, ancestors)
    switch (ast._tag) {
      case "Declaration":
        return base({ typeParameters: ast.typeParameters.map(go) })
      case "Literal":
        return base({ literal: typeof ast.literal === "bigint" ? `${ast.literal}n` : ast.literal })
      case "UniqueSymbol":
        return base({ symbol: symbolName(ast.symbol) })
      case "Enums":
        return base({ enums: ast.enums.map(([name, value]) => [name, value]) })
      case "TemplateLiteral":
        return base({
          head: ast.head,
          spans: ast.spans.map((span) => ({ type: go(span.type), literal: span.literal }))
        })
      case "TupleType":
        return base({
          elements: ast.elements.map((e) => ({ type: go(e.type), optional: e.isOptional })),
          rest: ast.rest.map((r) => go(r.type)),
          readonly: ast.isReadonly
        })
      case "TypeLiteral":
        return base({
          properties: ast.propertySignatures.map((p) => ({
            name: keyName(p.name),
            type: go(p.type),
            optional: p.isOptional
          })),
          index: ast.indexSignatures.map((i) => ({ parameter: go(i.parameter), type: go(i.type) }))
        })
      case "Union":
        return base({ types: ast.types.map(go) })
      case "Suspend":
        return base({ type: go(ast.f()) })
      case "Refinement":
        return base({
          from: go(ast.from),
          ...(annotations === undefined ? { filter: ast.filter.toString() } : {})
        })
      case "Transformation": {
        const kind = ast.transformation
        return base({
          from: go(ast.from),
          to: go(ast.to),
          kind: kind._tag,
          ...(kind._tag === "TypeLiteralTransformation"
            ? { properties: kind.propertySignatureTransformations.map((p) => [keyName(p.from), keyName(p.to)]) }
            : {})
        })
      }
      default:
        // Keywords: string, number, unknown, …
        return base({})
    }
  } finally {
    ancestors.delete(ast)
  }
}

/** @internal */
export const describeSchema = (ast: AST.AST): unknown => describe(ast, new Map())

/**
 * What the signature of a workflow covers: its name, its input, output and state schemas, its steps in order (name,
 * accepted tags, declared emitted tags) and the schema of every event tag it knows. Workers, retries and timeouts are
 * left out: they change how a run goes on, not what its journal means.
 *
 * @internal
 */
export const describeWorkflow = (self: Workflow.Any): unknown => {
  const plan = planOf(self)
  return {
    format: 1,
    name: self.name,
    input: describeSchema(self.input.ast),
    output: describeSchema(self.output.ast),
    state: self.state === undefined ? null : describeSchema(self.state.ast),
    steps: self.steps.map((step) => ({
      name: step.name,
      accepts: [...step.accepts],
      emits: step.emits === undefined ? null : step.emits.map((type) => tagOfSafe(type) ?? String(type.ast))
    })),
    events: [...plan.registry.keys()].sort().map((tag) => [tag, describeSchema(plan.registry.get(tag)!.ast)])
  }
}

const hex = (n: number): string => n.toString(16).padStart(14, "0")

/**
 * A 224-bit hash (cyrb53 with four seeds, hex) of the canonical JSON of `value`.
 *
 * @internal
 */
export const hash = (value: unknown): string => {
  const text = canonicalJson(value)
  return hex(cyrb53(text, 1)) + hex(cyrb53(text, 2)) + hex(cyrb53(text, 3)) + hex(cyrb53(text, 4))
}

const signatures = new WeakMap<Workflow.Any, string>()

/** @internal */
export const signature = (self: Workflow.Any): string => {
  let sig = signatures.get(self)
  if (sig === undefined) {
    sig = hash(describeWorkflow(self))
    signatures.set(self, sig)
  }
  return sig
}

// -----------------------------------------------------------------------------
// Definitions known in this process (to build a journaled run's snapshot where only its id is given)
// -----------------------------------------------------------------------------

/**
 * The definition a journal was written with, among those known in this process: the one with its signature, else
 * the last one of that name (the replay checks then tell what does not fit).
 *
 * @internal
 */
export const lookup = (name: string, sig: string): Workflow.Any | undefined => {
  const list = registered(name)
  if (list === undefined) return undefined
  for (const wf of list) if (signature(wf) === sig) return wf
  return list.at(-1)
}
