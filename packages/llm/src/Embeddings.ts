/**
 * The `Embeddings` service: text to vectors, for retrieval. OpenAI's embeddings API through the official SDK, or an
 * offline deterministic embedder (hashed words: it finds shared words, not meaning; it is no language model).
 * Anthropic has no embeddings API.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import OpenAI from "openai"
import { fromSdkError } from "./internal/errors.js"
import { LLMError } from "./LLMError.js"

/**
 * The service.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** `"openai"` or `"local"`. */
  readonly provider: string
  readonly model: string
  /** The length of every vector. */
  readonly dimensions: number
  /** One vector per text, in order. Runs in a span `embeddings <model>` (OpenTelemetry GenAI conventions). */
  embed(texts: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, LLMError>
}

/**
 * The `Embeddings` service tag.
 *
 * @since 0.1.0
 * @category Models
 */
export class Embeddings extends Context.Tag("@eventflow/llm/Embeddings")<Embeddings, Service>() {}

/**
 * Embeds texts with the current `Embeddings` service.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const embed = (
  texts: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, LLMError, Embeddings> =>
  Effect.flatMap(Embeddings, (service) => service.embed(texts))

const withSpan =
  (provider: string, model: string) =>
  <A>(effect: Effect.Effect<A, LLMError>, count: number) =>
    effect.pipe(
      Effect.withSpan(`embeddings ${model}`, {
        kind: "client",
        attributes: {
          "gen_ai.operation.name": "embeddings",
          "gen_ai.provider.name": provider,
          "gen_ai.request.model": model,
          "eventflow.embeddings.count": count
        }
      })
    )

// -----------------------------------------------------------------------------
// Local
// -----------------------------------------------------------------------------

/** FNV-1a, 32 bits. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** English words too common to tell texts apart. */
const STOPWORDS = new Set(
  (
    "a about all an and any are as at be been but by can could did do does for from had has have how i if in into " +
    "is it its me my no not of on or our should so than that the their them then there these they this those to " +
    "too us was we were what when where which while who why will with would you your"
  ).split(" ")
)

/** A crude English suffix stripper, so that "retries", "retried" and "retry" share a bucket. */
const stem = (word: string): string => word.replace(/(ies|ied|ing|ed|es|s)$/, "").replace(/y$/, "")

/**
 * The offline embedder's vector of a text: its words (lower-cased, two letters or more, common English words left
 * out, crudely stemmed) hashed into
 * `dimensions` buckets with a hashed sign, then normalised to length 1. Deterministic and free; texts that share
 * words are close, synonyms are not. A stand-in for tests and offline runs, not a semantic model.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const localVector = (text: string, dimensions: number): Array<number> => {
  const vector = new Array<number>(dimensions).fill(0)
  for (const word of text.toLowerCase().match(/[a-z0-9]{2,}/g) ?? []) {
    if (STOPWORDS.has(word)) continue
    const h = hash(stem(word))
    vector[h % dimensions]! += h >>> 31 === 1 ? -1 : 1
  }
  const norm = Math.hypot(...vector)
  return norm === 0 ? vector : vector.map((x) => x / norm)
}

/**
 * The offline deterministic embedder (see {@link localVector}); 256 dimensions by default.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerLocal = (options?: { readonly dimensions?: number | undefined }): Layer.Layer<Embeddings> => {
  const dimensions = options?.dimensions ?? 256
  const span = withSpan("local", "local-hash")
  return Layer.succeed(Embeddings, {
    provider: "local",
    model: "local-hash",
    dimensions,
    embed: (texts) =>
      span(
        Effect.sync(() => texts.map((text) => localVector(text, dimensions))),
        texts.length
      )
  })
}

// -----------------------------------------------------------------------------
// OpenAI
// -----------------------------------------------------------------------------

/**
 * The default OpenAI embeddings model.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultOpenAIModel = "text-embedding-3-small"

/**
 * Options of {@link layerOpenAI}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface OpenAIOptions {
  /** Default {@link defaultOpenAIModel}. */
  readonly model?: string | undefined
  /** The API key; read from the `OPENAI_API_KEY` config (environment) when omitted. */
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
  readonly baseURL?: string | undefined
  /** The vector length (default: the model's, 1536 for `text-embedding-3-small`). */
  readonly dimensions?: number | undefined
  /** The deadline of a call (default 10 minutes); expiry is an `LLMError` with reason `Timeout`. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Builds the service on an OpenAI SDK client (set `maxRetries: 0` on it: retry with `LLM.retrySchedule`).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromOpenAIClient = (
  client: OpenAI,
  options?: Pick<OpenAIOptions, "model" | "dimensions" | "timeout">
): Service => {
  const model = options?.model ?? defaultOpenAIModel
  const timeout = Duration.decode(options?.timeout ?? "10 minutes")
  const mapError = fromSdkError("openai", OpenAI)
  const span = withSpan("openai", model)
  return {
    provider: "openai",
    model,
    dimensions: options?.dimensions ?? 1536,
    embed: (texts) =>
      texts.length === 0
        ? Effect.succeed([])
        : span(
            Effect.tryPromise({
              try: (signal) =>
                client.embeddings.create(
                  {
                    model,
                    input: [...texts],
                    ...(options?.dimensions === undefined ? {} : { dimensions: options.dimensions })
                  },
                  { signal }
                ),
              catch: mapError
            }).pipe(
              Effect.flatMap((response) => {
                const vectors = [...response.data].sort((a, b) => a.index - b.index).map((d) => Array.from(d.embedding))
                return vectors.length === texts.length
                  ? Effect.succeed(vectors)
                  : Effect.fail(
                      new LLMError({
                        reason: "InvalidOutput",
                        provider: "openai",
                        detail: `asked for ${texts.length} embeddings, got ${vectors.length}`
                      })
                    )
              }),
              Effect.timeoutFail({
                duration: timeout,
                onTimeout: () =>
                  new LLMError({
                    reason: "Timeout",
                    provider: "openai",
                    detail: `no embeddings within ${Duration.format(timeout)} (the call's timeout)`
                  })
              })
            ),
            texts.length
          )
  }
}

/**
 * OpenAI embeddings (`/v1/embeddings`) through the official SDK.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerOpenAI = (options?: OpenAIOptions): Layer.Layer<Embeddings, ConfigError.ConfigError> =>
  Layer.effect(
    Embeddings,
    Effect.gen(function* () {
      const apiKey =
        options?.apiKey === undefined
          ? yield* Config.redacted("OPENAI_API_KEY")
          : Redacted.isRedacted(options.apiKey)
            ? options.apiKey
            : Redacted.make(options.apiKey)
      const client = new OpenAI({
        apiKey: Redacted.value(apiKey),
        maxRetries: 0,
        ...(options?.baseURL === undefined ? {} : { baseURL: options.baseURL })
      })
      return fromOpenAIClient(client, options)
    })
  )

/**
 * OpenAI embeddings when `OPENAI_API_KEY` is set (`OPENAI_EMBEDDING_MODEL`, default {@link defaultOpenAIModel};
 * `OPENAI_BASE_URL`), else the offline deterministic embedder.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFromEnv: Layer.Layer<Embeddings, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const key = yield* Config.option(Config.redacted("OPENAI_API_KEY"))
    if (Option.isNone(key)) return layerLocal()
    const optional = (name: string) => Config.option(Config.string(name)).pipe(Effect.map(Option.getOrUndefined))
    return layerOpenAI({
      apiKey: key.value,
      model: yield* optional("OPENAI_EMBEDDING_MODEL"),
      baseURL: yield* optional("OPENAI_BASE_URL")
    })
  })
)
