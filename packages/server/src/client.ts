/**
 * `@eventflow/server/client`: the typed client and the API it is derived from, without the server (no Node HTTP
 * server, no SQLite): what a program that only calls a workflow server imports.
 *
 * @since 0.1.0
 */

/**
 * The HTTP API of the workflow server.
 *
 * @since 0.1.0
 */
export * as WorkflowApi from "./WorkflowApi.js"

/**
 * A typed client of the server, with the run's events as a reconnecting `Stream`.
 *
 * @since 0.1.0
 */
export * as WorkflowClient from "./WorkflowClient.js"

/**
 * A client typed per workflow: inputs checked at compile time, results and events decoded with the workflow's schemas.
 *
 * @since 0.1.0
 */
export * as TypedClient from "./TypedClient.js"
