import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Event, Workflow } from "@eventflow/core"
import { LLM } from "@eventflow/llm"
import { Chunk, Effect, Fiber, Stream, TestClock } from "effect"
import { FLAKY, parallelSearch, SOURCES, SUMMARY_SYSTEM, SourceUnavailable } from "../parallel-search.js"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const question = "what is a fiber?"
const SUMMARY = "A fiber is a lightweight virtual thread, say all four sources."

/**
 * Runs the workflow on the TestClock with a scripted model (one summary reply) and returns its answer, its trace
 * (`events({ internal: true })`) and the model requests.
 */
const runTraced = Effect.gen(function* () {
  const handle = yield* Workflow.start(parallelSearch, { question })
  const trace = yield* Effect.fork(Stream.runCollect(handle.events({ internal: true })))
  // Latencies and the retry backoff are `Effect.sleep`s: drive them with the TestClock.
  yield* TestClock.adjust("1 second")
  const answer = yield* handle.result
  const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.requests)
  return { answer, requests, trace: Chunk.toReadonlyArray(yield* Fiber.join(trace)) }
}).pipe(Effect.provide(LLM.layerScripted([SUMMARY])))

describe("examples/parallel-search", () => {
  it.scoped("fans out to every source and joins their results into one answer", () =>
    Effect.gen(function* () {
      const { answer, trace } = yield* runTraced
      const lines = answer.split("\n")
      assert.strictEqual(lines[0], "4 sources answered:")
      assert.sameMembers(
        lines.slice(1, 5),
        SOURCES.map((source) => `- ${source}: top hit for "${question}"`)
      )
      assert.strictEqual(lines[5], "calls: web=1 docs=1 papers=1 forum=2")
      assert.strictEqual(lines[6], `summary (scripted-model): ${SUMMARY}`)
      assert.strictEqual(lines.length, 7)
      // The fan-out is one invocation of "search" per source; the fan-in emits nothing until the last Result.
      const searches = trace.filter(Event.is(Event.StepCompleted)).filter((e) => e.step === "search")
      assert.strictEqual(searches.length, SOURCES.length)
      const aggregates = trace.filter(Event.is(Event.StepCompleted)).filter((e) => e.step === "aggregate")
      assert.deepStrictEqual(
        aggregates.map((e) => e.emitted.length),
        [0, 0, 0, 1]
      )
    })
  )

  it.scoped("summarises the collected hits with one model call that sees every hit and the question", () =>
    Effect.gen(function* () {
      const { requests, trace } = yield* runTraced
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(requests[0].system, SUMMARY_SYSTEM)
      const prompt = requests[0].messages.map((m) => LLM.textOf(m)).join("\n")
      for (const source of SOURCES) assert.include(prompt, `- ${source}: top hit for "${question}"`)
      assert.include(prompt, `Question: ${question}`)
      // The summary runs once, after the fan-in: the step that ends the run.
      const summarised = trace.filter(Event.is(Event.StepCompleted)).filter((e) => e.step === "summarise")
      assert.strictEqual(summarised.length, 1)
    })
  )

  it.scoped("retries the flaky source exactly once, with the step's Schedule", () =>
    Effect.gen(function* () {
      const { trace } = yield* runTraced
      const failures = trace.filter(Event.is(Event.StepFailedAttempt))
      assert.strictEqual(failures.length, 1)
      assert.strictEqual(failures[0].step, "search")
      assert.deepStrictEqual(failures[0].error, new SourceUnavailable({ source: FLAKY }))
      // Deterministic ids: the k-th Search emitted by "fan-out" for the StartEvent ("0") is "0/fan-out/k".
      const flakyId = `0/fan-out/${SOURCES.indexOf(FLAKY)}`
      const attempts = (eventId: string) =>
        trace
          .filter(Event.is(Event.StepStarted))
          .filter((e) => e.step === "search" && e.eventId === eventId)
          .map((e) => e.attempt)
      assert.deepStrictEqual(attempts(flakyId), [1, 2])
      for (const k of SOURCES.keys()) if (SOURCES[k] !== FLAKY) assert.deepStrictEqual(attempts(`0/fan-out/${k}`), [1])
    })
  )

  it.scoped("runs at most two searches at a time (workers: 2)", () =>
    Effect.gen(function* () {
      const { trace } = yield* runTraced
      let running = 0
      let most = 0
      const seen = new Set<string>()
      for (const event of trace) {
        if (Event.is(Event.StepStarted)(event) && event.step === "search" && !seen.has(event.eventId)) {
          seen.add(event.eventId)
          running++
          most = Math.max(most, running)
        } else if (Event.is(Event.StepCompleted)(event) && event.step === "search") {
          running--
        }
      }
      assert.strictEqual(seen.size, SOURCES.length)
      assert.strictEqual(most, 2)
    })
  )

  it("runs as a program without an API key: prints the joined answer and the local model's summary", async () => {
    // No API key in the environment: LLM.layerFromEnv picks the offline local model.
    const env = { ...process.env }
    delete env.ANTHROPIC_API_KEY
    delete env.OPENAI_API_KEY
    const { stderr, stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/parallel-search.ts"],
      { cwd: repoRoot, env }
    )
    assert.include(stdout, "4 sources answered:")
    for (const source of SOURCES) assert.include(stdout, `- ${source}: top hit for "how do Effect schedules retry?"`)
    assert.include(stdout, "calls: web=1 docs=1 papers=1 forum=2")
    // The simulated summary is built from the hits: it names the sources and the question, it does not echo the
    // prompt.
    assert.include(
      stdout,
      '\nsummary (local-simulated): The web, docs, papers and forum sources each returned a top hit for "how do Effect schedules retry?" (4 in all).'
    )
    assert.notInclude(stdout, "summary (local-simulated): 4 sources answered")
    // Offline honesty: one line on stderr says the answers are simulated.
    assert.strictEqual(stderr.match(/simulated/g)?.length, 1)
    assert.include(stderr, "no ANTHROPIC_API_KEY or OPENAI_API_KEY is set")
  })
})
