/**
 * Vitest global setup of the server tests: builds the studio's assets from their sources once, before any server
 * starts (a server reads them when it starts), so the tests serve what is under test, not a stale build.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

export default function setup() {
  execFileSync(process.execPath, [fileURLToPath(new URL("../studio/build.mjs", import.meta.url))], { stdio: "inherit" })
}
