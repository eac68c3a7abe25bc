import { PgTestServer } from "@eventflow/postgres"
import type {} from "vitest"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** The URL of the throwaway server's `postgres` database (user `postgres`, no password). */
    readonly pgUrl: string
  }
}

/**
 * Starts a throwaway PostgreSQL server for the tests of this package (no server needs to run beforehand) and stops it
 * when they end. Missing binaries fail the run with a message saying how to install them: nothing is skipped.
 */
export default async function setup(project: TestProject) {
  const { server, stop } = await PgTestServer.start()
  project.provide("pgUrl", server.url)
  return stop
}
