/**
 * @since 0.1.0
 */

/**
 * A `JournalStore` on PostgreSQL, with fencing and journal following from any process.
 *
 * @since 0.1.0
 */
export * as PgJournalStore from "./PgJournalStore.js"

/**
 * A `RunStore` on PostgreSQL.
 *
 * @since 0.1.0
 */
export * as PgRunStore from "./PgRunStore.js"

/**
 * A throwaway PostgreSQL server for tests and benchmarks.
 *
 * @since 0.1.0
 */
export * as PgTestServer from "./PgTestServer.js"
