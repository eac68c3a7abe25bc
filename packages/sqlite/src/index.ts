/**
 * @since 0.1.0
 */

/**
 * A `RunStore` on a SQLite file.
 *
 * @since 0.1.0
 */
export * as SqliteRunStore from "./SqliteRunStore.js"

/**
 * A `JournalStore` on a SQLite file.
 *
 * @since 0.1.0
 */
export * as SqliteJournalStore from "./SqliteJournalStore.js"
