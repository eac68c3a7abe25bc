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

/** An array-index key ("0", "10"): the first character is tested before the regular expression. */
const isIndexKey = (key: string): boolean => {
  const c = key.charCodeAt(0)
  return c >= 48 && c <= 57 && isArrayIndex(key)
}

/** What {@link normalize} returns for a value only the reference writes the same way (`toJSON`, bigints, depth). */
const useReference: unique symbol = Symbol("useReference")

/**
 * The reference's sorted copy of one object (keys assigned in sorted order to a plain object, so that an own
 * `__proto__` key is dropped and array-index keys come first in numeric order, exactly as in the reference), with
 * its values normalized.
 */
const sortedCopy = (
  value: Record<string, unknown>,
  keys: Array<string>,
  depth: number
): Record<string, unknown> | typeof useReference => {
  keys.sort()
  const copy: Record<string, unknown> = {}
  for (let i = 0; i < keys.length; i++) {
    const v = normalize(value[keys[i]], depth + 1)
    if (v === useReference) return useReference
    copy[keys[i]] = v
  }
  return copy
}

const hasOwn = Object.prototype.hasOwnProperty

/**
 * Whether a plain object's own keys are in the reference's order (array-index keys, then the others sorted, no own
 * `__proto__`). `for…in` lists an ordinary object's own keys as `Object.keys` does (index keys first in numeric
 * order, then the others in insertion order) without making an array of them, followed by inherited enumerable keys:
 * there are none unless `Object.prototype` was given one, and such a key sends the object to the sorted copy (which
 * reads `Object.keys`, as the reference does).
 */
const inOrder = (record: Record<string, unknown>): boolean => {
  let previous: string | undefined
  for (const key in record) {
    if (!hasOwn.call(record, key)) return false
    if (isIndexKey(key)) {
      if (previous !== undefined) return false
      continue
    }
    if ((previous !== undefined && previous >= key) || key === "__proto__") return false
    previous = key
  }
  return true
}

/**
 * `value` with every object whose keys are not in the reference's order replaced by its sorted copy, so that
 * `JSON.stringify` of the result is the reference's text. A value whose objects are all in order (what the engine
 * builds: its entries' keys are written sorted) is returned as it is, with nothing copied (not even an array of an
 * object's keys: see {@link inOrder}). Objects that are not plain (class instances, boxed primitives, which
 * `JSON.stringify` would unbox) are always copied, as the reference does; anything with a `toJSON`, bigints and
 * values deeper than {@link maxDepth} make the whole value go to the reference.
 */
const normalize = (value: unknown, depth: number): unknown => {
  if (typeof value !== "object") return typeof value === "bigint" ? useReference : value
  if (value === null) return value
  if (depth > maxDepth || typeof (value as { toJSON?: unknown }).toJSON === "function") return useReference
  if (Array.isArray(value)) {
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const v = normalize(value[i], depth + 1)
      if (v === useReference) return useReference
      if (v !== value[i]) {
        if (out === undefined) out = value.slice()
        out[i] = v
      }
    }
    return out ?? value
  }
  const record = value as Record<string, unknown>
  const proto = Object.getPrototypeOf(record)
  if ((proto !== Object.prototype && proto !== null) || !inOrder(record)) {
    return sortedCopy(record, Object.keys(record), depth)
  }
  let out: Record<string, unknown> | undefined
  for (const key in record) {
    const v = normalize(record[key], depth + 1)
    if (v === useReference) return useReference
    if (v !== record[key]) {
      if (out === undefined) out = { ...record }
      out[key] = v
    }
  }
  return out ?? record
}

/**
 * `JSON.stringify` with object keys sorted at every level: two values that are equal as JSON have the same text,
 * whatever order their keys were built (or returned by a database) in. The same text as
 * {@link canonicalJsonReference} (checked by a property test): objects already in order are not copied, and the text
 * is written by `JSON.stringify` itself (one flat string; no sorted copy of every object, no array of parts).
 *
 * @internal
 */
export const canonicalJson = (value: unknown): string => {
  const normalized = normalize(value, 0)
  return normalized === useReference ? canonicalJsonReference(value) : JSON.stringify(normalized)
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
