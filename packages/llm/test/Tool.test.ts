import { assert, describe, it } from "@effect/vitest"
import { Tool } from "@eventflow/llm"
import { Effect, Schema } from "effect"
import { remind, weather } from "./tools.js"

describe("Tool", () => {
  it.effect("run: decodes the input with the parameters (a Date from an ISO string) and encodes the success", () =>
    Effect.gen(function* () {
      const result = yield* Tool.run([weather, remind], {
        id: "1",
        name: "remind",
        input: { text: "tea", at: "2026-01-01T00:00:00.000Z" }
      })
      assert.deepStrictEqual(result, {
        id: "1",
        name: "remind",
        content: '"tea at 2026-01-01T00:00:00.000Z"',
        isError: false
      })
    })
  )

  it.effect("run: a typed failure is encoded with the failure schema as an error result", () =>
    Effect.gen(function* () {
      const result = yield* Tool.run([weather], { id: "2", name: "get_weather", input: { city: "Oslo" } })
      assert.deepStrictEqual(result, {
        id: "2",
        name: "get_weather",
        content: '{"error":{"_tag":"UnknownCity","city":"Oslo"}}',
        isError: true
      })
    })
  )

  it.effect("run: bad arguments and unknown tools are error results that say what is wrong", () =>
    Effect.gen(function* () {
      const bad = yield* Tool.run([weather], { id: "3", name: "get_weather", input: { town: "Oslo" } })
      assert.isTrue(bad.isError)
      assert.include(bad.content, "do not match its parameters")
      assert.include(bad.content, "city")
      const unknown = yield* Tool.run([weather], { id: "4", name: "launch_rocket", input: {} })
      assert.isTrue(unknown.isError)
      assert.include(unknown.content, 'unknown tool \\"launch_rocket\\"')
      assert.include(unknown.content, "get_weather")
    })
  )

  it("parametersJsonSchema: an object schema as is, without $schema; a non-object wrapped in { value }", () => {
    assert.deepStrictEqual(Tool.parametersJsonSchema(weather), {
      type: "object",
      required: ["city"],
      properties: { city: { type: "string" } },
      additionalProperties: false
    })
    const wrapped = Tool.objectJsonSchema(Schema.Array(Schema.Number))
    assert.isTrue(wrapped.wrapped)
    assert.deepStrictEqual(wrapped.jsonSchema, {
      type: "object",
      properties: { value: { type: "array", items: { type: "number" } } },
      required: ["value"],
      additionalProperties: false
    })
  })
})
