/**
 * @since 0.1.0
 */

/**
 * The `LLM` service on Anthropic's official SDK.
 *
 * @since 0.1.0
 */
export * as AnthropicLLM from "./AnthropicLLM.js"

/**
 * The `LLM` service: calls, layers, retries and streaming into a run.
 *
 * @since 0.1.0
 */
export * as LLM from "./LLM.js"

/**
 * Errors.
 *
 * @since 0.1.0
 */
export * as LLMError from "./LLMError.js"

/**
 * The `LLM` service on OpenAI's official SDK.
 *
 * @since 0.1.0
 */
export * as OpenAILLM from "./OpenAILLM.js"

/**
 * Typed tools a model can call.
 *
 * @since 0.1.0
 */
export * as Tool from "./Tool.js"

/**
 * Embeddings: OpenAI's, or an offline deterministic embedder.
 *
 * @since 0.1.0
 */
export * as Embeddings from "./Embeddings.js"
