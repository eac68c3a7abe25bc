import { describe, expect, it } from "@effect/vitest"
import { runProgram } from "./program.js"

describe("examples/postgres", () => {
  it("runs as a program on a throwaway PostgreSQL: the run resumes on another pool, the first writer is fenced, the follower sees every entry, a run's events are followed from another pool", async () => {
    const { code, stdout, stderr } = await runProgram("examples/postgres.ts", {
      env: { ...process.env, DATABASE_URL: "" },
      input: "",
      deadlineMs: 90_000
    })
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" })
    const lines = stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^run [0-9a-f-]+ waits for an answer; its pool is closed$/)
    expect(lines[1]).toBe('resumed on another pool: {"text":"About Postgres","answer":"yes"}')
    // The follower prints as entries commit, so its lines interleave with the writers' in any order.
    expect(lines.filter((line) => line.startsWith("followed "))).toEqual([
      "followed 0 RunStarted start",
      "followed 1 InvocationCompleted done:first@x/0",
      "followed 2 InvocationCompleted done:second@x/0",
      "followed 3 RunEnded end"
    ])
    expect(lines.filter((line) => line.startsWith("first writer"))).toEqual([
      "first writer (epoch 1): JournalFencedError"
    ])
    // A run hosted on one pool, its published events followed from another (RunEvents.follow), to its end.
    expect(lines.filter((line) => line.startsWith("another process saw "))).toEqual([
      "another process saw InputRequired",
      "another process saw StopEvent"
    ])
    expect(lines).toHaveLength(9)
  }, 120_000)
})
