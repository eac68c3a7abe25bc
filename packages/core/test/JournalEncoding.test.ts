import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { canonicalJson, canonicalJsonReference } from "../src/internal/journal.js"

/** Values JSON.stringify treats specially, mixed into arbitrary JSON-like trees. */
const special = fc.constantFrom<unknown>(
  undefined,
  null,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  1e21,
  5e-7,
  () => 1,
  Symbol("s"),
  new Date(0),
  { toJSON: () => undefined },
  { toJSON: () => ({ b: 1, a: [undefined] }) },
  '\u2028"\\\n\u0000é😀',
  "lone \ud800 surrogates \udc00",
  "plain text",
  // Not plain objects: the reference copies them into plain objects (JSON.stringify alone would unbox the boxed ones)
  new String(""),
  new String("ab"),
  new Number(2),
  new Boolean(false),
  Object.assign(Object.create(null), { b: 1, a: 2 }),
  Object.assign(Object.create({ inherited: 1 }), { b: 1, a: 2 }),
  new (class Point {
    y = 1
    x = 2
  })(),
  new Map([["a", 1]]),
  // Plain objects already in order, and in order but for an index key or an own `__proto__`
  { a: 1, b: { c: [1, { d: 2, e: null }] } },
  { 10: "x", 2: "y", a: 1, b: 2 },
  JSON.parse('{"__proto__":1,"a":2}'),
  { "": 1, a: { "": 2 } }
)

const tree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.jsonValue(),
    fc.string({ unit: "binary" }),
    special,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("__proto__", "constructor", "10", "2", "a b")),
      tie("value"),
      {
        maxKeys: 5
      }
    ),
    // Objects built with their keys in sorted order (what the engine writes: the path that copies nothing), some
    // with index keys or with two keys swapped
    fc
      .tuple(
        fc.uniqueArray(fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("10", "2", "_tag", "a", "b")), {
          maxLength: 5
        }),
        fc.array(tie("value"), { minLength: 5, maxLength: 5 }),
        fc.boolean()
      )
      .map(([keys, values, swap]) => {
        const sorted = [...keys].sort()
        if (swap && sorted.length > 1) [sorted[0], sorted[1]] = [sorted[1], sorted[0]]
        const out: Record<string, unknown> = {}
        for (let i = 0; i < sorted.length; i++) out[sorted[i]] = values[i]
        return out
      })
  )
})).value

describe("canonical JSON of journal entries", () => {
  it("the fast writer gives the same text as JSON.stringify with sorted keys, for any value", () => {
    fc.assert(
      fc.property(tree, (value) => {
        assert.strictEqual(canonicalJson(value), canonicalJsonReference(value))
      }),
      { numRuns: 2_000 }
    )
  })

  it("an enumerable key given to Object.prototype is left out, as the reference leaves it out", () => {
    const values = [{ a: 1, b: { c: 2 } }, { b: 1, a: [{ d: 1 }] }, [{ a: undefined }]]
    const expected = values.map(canonicalJsonReference)
    const proto = Object.prototype as Record<string, unknown>
    // A value whose own objects would need a copy (here the inherited one's): the copy must not take it in.
    proto.polluted = { z: 1, y: 2 }
    try {
      assert.deepStrictEqual(values.map(canonicalJson), expected)
    } finally {
      delete proto.polluted
    }
    assert.deepStrictEqual(expected, ['{"a":1,"b":{"c":2}}', '{"a":[{"d":1}],"b":1}', "[{}]"])
  })

  it("sorts keys at every level and leaves array order alone", () => {
    assert.strictEqual(
      canonicalJson({ b: [{ z: 1, a: undefined, m: [3, 1] }], a: "x" }),
      '{"a":"x","b":[{"m":[3,1],"z":1}]}'
    )
  })

  it("a cycle or a bigint fails as the reference does", () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    for (const value of [cyclic, { n: 1n }]) {
      const reference = (() => {
        try {
          return canonicalJsonReference(value)
        } catch (error) {
          return error
        }
      })()
      assert.instanceOf(reference, Error)
      assert.throws(() => canonicalJson(value), (reference as Error).constructor as ErrorConstructor)
    }
  })
})
