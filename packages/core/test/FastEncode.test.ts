import { assert, describe, it } from "@effect/vitest"
import { Event } from "@eventflow/core"
import { Schema } from "effect"
import * as fc from "fast-check"
import { fastEncode, notFast } from "../src/internal/fastEncode.js"

const schemas: ReadonlyArray<Schema.Schema.Any> = [
  Event.define("A", { n: Schema.Number }),
  Event.define("B", { text: Schema.String, done: Schema.Boolean, score: Schema.Number }),
  Schema.Struct({ kind: Schema.Literal("x"), nothing: Schema.Literal(null), one: Schema.Literal(1) }),
  // Not plain: never the fast path
  Event.define("C", { n: Schema.Number.pipe(Schema.int()) }),
  Event.define("D", { n: Schema.optional(Schema.Number) }),
  Event.define("E", { at: Schema.NumberFromString }),
  Schema.Record({ key: Schema.String, value: Schema.Number })
]

const field = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom<unknown>(Number.NaN, Number.POSITIVE_INFINITY, -0, undefined, "x", 1, null, true, "A", "B")
)
const names = fc.constantFrom("_tag", "n", "text", "done", "score", "kind", "nothing", "one", "at", "extra")
const value = fc.oneof(
  fc.dictionary(names, field, { maxKeys: 6 }),
  fc.dictionary(names, field, { maxKeys: 6 }).map((own) => Object.assign(Object.create({ n: 1, _tag: "A" }), own)),
  field
)

const schemaEncode = (schema: Schema.Schema.Any, u: unknown) => {
  try {
    return { ok: true as const, value: Schema.encodeUnknownSync(schema as Schema.Schema<unknown, unknown, never>)(u) }
  } catch (error) {
    return { ok: false as const, error }
  }
}

describe("the fast event encoder", () => {
  it("gives what Schema's encoder gives, or leaves the value to it (any schema, any value)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: schemas.length - 1 }), value, (i, u) => {
        const fast = fastEncode(schemas[i], u)
        if (fast === notFast) return
        const reference = schemaEncode(schemas[i], u)
        assert.isTrue(reference.ok, "Schema accepts what the fast path encoded")
        assert.deepStrictEqual(fast, reference.ok ? reference.value : undefined)
      }),
      { numRuns: 5_000 }
    )
  })

  it("takes the fast path for an event of plain fields, without its extra keys, and not for other schemas", () => {
    const A = schemas[0]
    assert.deepStrictEqual(fastEncode(A, { _tag: "A", n: 1, extra: true }), { _tag: "A", n: 1 })
    assert.strictEqual(fastEncode(A, { _tag: "A", n: "1" }), notFast)
    assert.strictEqual(fastEncode(A, { _tag: "B", n: 1 }), notFast)
    for (const schema of schemas.slice(3)) assert.strictEqual(fastEncode(schema, { _tag: "C", n: 1 }), notFast)
  })
})
