import { describe, expect, it } from "@effect/vitest"
import { runProgram } from "./program.js"

describe("examples/cluster", () => {
  it("runs as a program on a throwaway PostgreSQL: runs started through node A, A killed, every run answered through node B and completed", async () => {
    const { code, stdout, stderr } = await runProgram("examples/cluster/main.ts", {
      env: { ...process.env, DATABASE_URL: "" },
      input: "",
      deadlineMs: 240_000
    })
    expect({ code, stderr: stderr.replace(/\(every answer delivered [0-9.]+ s after the kill\)\n/, "") }).toEqual({
      code: 0,
      stderr: ""
    })
    expect(stdout.trim().split("\n")).toEqual([
      "two nodes started",
      "10 runs wait for a person",
      "node A killed (kill -9)",
      "10 runs completed through node B"
    ])
  }, 300_000)
})
