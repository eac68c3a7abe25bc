import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inMemory } from "../telemetry.js"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

const expected = [
  "invoke_workflow blog-post",
  "  step draft",
  "  step review",
  "  step revise",
  "  step review",
  "  step revise",
  "  step review",
  "  step publish"
].join("\n")

describe("examples/telemetry", () => {
  it.effect("the run is one trace: invoke_workflow with a step span per step execution under it", () =>
    Effect.map(inMemory, (tree) => assert.strictEqual(tree, expected))
  )

  it("runs as a program: prints the span tree", async () => {
    const env = { ...process.env }
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/telemetry.ts"],
      { cwd: repoRoot, env }
    )
    assert.include(stdout, expected)
  })
})
