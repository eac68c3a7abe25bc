import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@eventflow/server/client"

const src = fileURLToPath(new URL("../src/", import.meta.url))

/** The packages the modules reachable from `entry` import (following relative imports, type-only ones included). */
const externalImports = (entry: string): Set<string> => {
  const seen = new Set<string>()
  const external = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, "utf8")
    for (const match of text.matchAll(/(?:import|export)\s[^"']*?from\s+["']([^"']+)["']/g)) {
      const specifier = match[1]
      if (specifier.startsWith(".")) visit(join(dirname(file), specifier.replace(/\.js$/, ".ts")))
      else
        external.add(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0])
    }
  }
  visit(join(src, entry))
  return external
}

describe("@eventflow/server/client", () => {
  it("exports the typed client and the API", () => {
    assert.isFunction(Client.WorkflowClient.make)
    assert.isDefined(Client.WorkflowApi.WorkflowApi)
  })

  it("does not load the server: no Node HTTP server, no platform-node, no SQLite", () => {
    const packages = [...externalImports("client.ts")].sort()
    assert.deepStrictEqual(packages, ["@effect/platform", "@eventflow/core", "effect"])
    // The check itself sees the server's dependencies from the main entry.
    const all = externalImports("index.ts")
    assert.isTrue(all.has("@eventflow/sqlite") && all.has("@effect/platform-node") && all.has("node:http"))
  })
})
