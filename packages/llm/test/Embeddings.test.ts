import { assert, describe, it } from "@effect/vitest"
import { Embeddings, LLM, LLMError } from "@eventflow/llm"
import { ConfigProvider, Effect, Layer } from "effect"
import { json, serve } from "./server.js"

/** The SDK asks for base64 (little-endian float32) unless told otherwise; the fake answers in kind. */
const base64Of = (vector: ReadonlyArray<number>) => Buffer.from(new Float32Array(vector).buffer).toString("base64")

describe("Embeddings", () => {
  it.scoped("OpenAI: LLM.embed posts /v1/embeddings through the SDK and decodes the vectors, in input order", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) =>
        json(res, 200, {
          object: "list",
          model: "text-embedding-3-small",
          // Out of order on purpose: `index` says which input each vector belongs to.
          data: [
            { object: "embedding", index: 1, embedding: base64Of([0, 1, 0.5]) },
            { object: "embedding", index: 0, embedding: base64Of([1, 0, 0.25]) }
          ],
          usage: { prompt_tokens: 4, total_tokens: 4 }
        })
      )
      const vectors = yield* LLM.embed(["first text", "second text"]).pipe(
        Effect.provide(Embeddings.layerOpenAI({ apiKey: "sk-test", baseURL: `${server.url}/v1`, dimensions: 3 }))
      )
      assert.deepStrictEqual(vectors, [
        [1, 0, 0.25],
        [0, 1, 0.5]
      ])
      const request = server.requests[0]!
      assert.strictEqual(request.url, "/v1/embeddings")
      assert.strictEqual(request.headers.authorization, "Bearer sk-test")
      assert.deepStrictEqual(request.body, {
        model: "text-embedding-3-small",
        input: ["first text", "second text"],
        dimensions: 3,
        encoding_format: "base64"
      })
    })
  )

  it.scoped("OpenAI: an error is an LLMError (insufficient_quota is QuotaExceeded)", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) =>
        json(res, 429, {
          error: { message: "quota", type: "insufficient_quota", param: null, code: "insufficient_quota" }
        })
      )
      const error = yield* Effect.flip(
        LLM.embed(["x"]).pipe(Effect.provide(Embeddings.layerOpenAI({ apiKey: "k", baseURL: `${server.url}/v1` })))
      )
      assert.isTrue(LLMError.isLLMError(error) && error.reason === "QuotaExceeded")
    })
  )

  it.effect("local: deterministic, unit length, and texts sharing words are closer than unrelated ones", () =>
    Effect.gen(function* () {
      const [a, b, c, a2] = yield* LLM.embed([
        "How does a step retry?",
        "Steps are retried with a Schedule",
        "Zebras graze on savannah grass",
        "How does a step retry?"
      ])
      const dot = (x: ReadonlyArray<number>, y: ReadonlyArray<number>) => x.reduce((s, v, i) => s + v * y[i]!, 0)
      assert.deepStrictEqual(a, a2)
      assert.strictEqual(a!.length, 64)
      assert.closeTo(dot(a!, a!), 1, 1e-9)
      assert.isAbove(dot(a!, b!), dot(a!, c!))
    }).pipe(Effect.provide(Embeddings.layerLocal({ dimensions: 64 })))
  )

  it.effect("layerFromEnv: OpenAI with OPENAI_API_KEY, else the local embedder", () =>
    Effect.gen(function* () {
      const pick = (env: Record<string, string>) =>
        Effect.map(Embeddings.Embeddings, (e) => [e.provider, e.model]).pipe(
          Effect.provide(Layer.provide(Embeddings.layerFromEnv, Layer.setConfigProvider(ConfigProvider.fromJson(env))))
        )
      assert.deepStrictEqual(yield* pick({}), ["local", "local-hash"])
      assert.deepStrictEqual(yield* pick({ OPENAI_API_KEY: "k" }), ["openai", Embeddings.defaultOpenAIModel])
    })
  )
})
