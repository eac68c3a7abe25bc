import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Event, StopEvent, Testing, Workflow } from "@eventflow/core"
import { LLM, LLMError } from "@eventflow/llm"
import { Chunk, Duration, Effect, Fiber, Stream, TestClock } from "effect"
import {
  Answer,
  BUDGET,
  CRITIQUE_SYSTEM,
  Critiqued,
  critiquePrompt,
  DRAFT_SYSTEM,
  PASS_SCORE,
  Progress,
  REVISE_SYSTEM,
  refine,
  revisePrompt
} from "../refine.js"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const question = "What is a fiber?"
const requestsMade = Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.requests)
const lastMessage = (request: LLM.Request) => LLM.textOf(request.messages[request.messages.length - 1])

describe("examples/refine", () => {
  it.effect("draft -> critique -> revise -> critique: stops as soon as the score passes", () =>
    Effect.gen(function* () {
      const result = yield* Workflow.run(refine, { question })
      assert.deepStrictEqual(result, {
        answer: "A fiber is a lightweight thread.",
        score: 9,
        attempts: 2,
        passed: true
      })

      const requests = yield* requestsMade
      assert.deepStrictEqual(
        requests.map((r) => (r.json === undefined ? r.system : "structured")),
        [DRAFT_SYSTEM, "structured", REVISE_SYSTEM, "structured"]
      )
      assert.deepStrictEqual(requests[0].messages, [{ role: "user", content: question }])
      // The critic sees the answer; its instructions are followed by the JSON Schema of the score.
      assert.strictEqual(lastMessage(requests[1]), critiquePrompt(question, "A fiber."))
      assert.isTrue(requests[1].system?.startsWith(CRITIQUE_SYSTEM))
      // The reviser sees the answer and the critic's feedback.
      assert.strictEqual(lastMessage(requests[2]), revisePrompt(question, "A fiber.", "Say what kind of thing."))
      assert.strictEqual(lastMessage(requests[3]), critiquePrompt(question, "A fiber is a lightweight thread."))
      // No more calls after the passing score: the whole script was used, nothing else was asked.
      assert.deepStrictEqual(yield* Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.remaining), [])
    }).pipe(
      Effect.provide(
        LLM.layerScripted([
          "A fiber.",
          { json: { score: 4, feedback: "Say what kind of thing." } },
          "A fiber is a lightweight thread.",
          { json: { score: PASS_SCORE + 1, feedback: "Good." } }
        ])
      )
    )
  )

  it.effect("stops at the budget when the score never passes, returning the last answer unpassed", () =>
    Effect.gen(function* () {
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(Workflow.stream(refine, { question })))
      const stop = events[events.length - 1]
      assert.deepStrictEqual(
        stop,
        StopEvent.make({ result: { answer: "v3", score: PASS_SCORE - 1, attempts: BUDGET, passed: false } })
      )
      assert.deepStrictEqual(
        events.filter(Event.is(Progress)).map((p) => `${p.step}: ${p.message}`),
        [
          "draft: v1",
          "critique: 2/10: more",
          "revise: v2",
          "critique: 5/10: more",
          "revise: v3",
          `critique: ${PASS_SCORE - 1}/10: more`
        ]
      )
      // BUDGET answers (1 draft + 2 revisions), each critiqued once: 2 * BUDGET calls, no more.
      assert.lengthOf(yield* requestsMade, 2 * BUDGET)
    }).pipe(
      Effect.provide(
        LLM.layerScripted([
          "v1",
          { json: { score: 2, feedback: "more" } },
          "v2",
          { json: { score: 5, feedback: "more" } },
          "v3",
          { json: { score: PASS_SCORE - 1, feedback: "more" } }
        ])
      )
    )
  )

  // The snippet of the README's "Calling models": unit-testing a step that calls a model.
  it.effect("critique loops back with the feedback below the threshold, and tracks the score in state", () =>
    Effect.gen(function* () {
      const answer = Answer.make({ question: "What is a fiber?", text: "A fiber." })
      const step = yield* Testing.runStep(refine, "critique", answer, { state: { attempts: 1, scores: [] } })
      assert.deepStrictEqual(step.output, [
        Critiqued.make({ question: answer.question, text: answer.text, feedback: "Say what it is." })
      ])
      assert.deepStrictEqual(step.state, { attempts: 1, scores: [3] })

      const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.requests)
      assert.strictEqual(LLM.textOf(requests[0].messages[0]), "Question: What is a fiber?\n\nAnswer:\nA fiber.")
    }).pipe(Effect.provide(LLM.layerScripted([{ json: { score: 3, feedback: "Say what it is." } }])))
  )

  it.effect("critique ends the run when the budget is spent, even with a failing score", () =>
    Effect.gen(function* () {
      const answer = Answer.make({ question, text: "A fiber." })
      const step = yield* Testing.runStep(refine, "critique", answer, { state: { attempts: BUDGET, scores: [1, 2] } })
      assert.deepStrictEqual(step.output, [
        StopEvent.make({ result: { answer: "A fiber.", score: 3, attempts: BUDGET, passed: false } })
      ])
      assert.deepStrictEqual(step.state, { attempts: BUDGET, scores: [1, 2, 3] })
    }).pipe(Effect.provide(LLM.layerScripted([{ json: { score: 3, feedback: "Say what it is." } }])))
  )

  it.effect("a critique that does not decode (score out of 0-10) fails the step with InvalidOutput", () =>
    Effect.gen(function* () {
      const answer = Answer.make({ question, text: "A fiber." })
      const error = yield* Effect.flip(Testing.runStep(refine, "critique", answer))
      assert.instanceOf(error, LLMError.LLMError)
      assert.strictEqual((error as LLMError.LLMError).reason, "InvalidOutput")
    }).pipe(Effect.provide(LLM.layerScripted([{ json: { score: 42, feedback: "?" } }])))
  )

  it.scoped("a rate-limited critique is retried after the provider's retry-after", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(refine, { question })
      const result = yield* Effect.fork(handle.result)
      const calls = Effect.map(requestsMade, (requests) => requests.length)
      yield* Effect.zipRight(Effect.yieldNow(), calls).pipe(Effect.repeat({ until: (n) => n >= 2 }))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      // The critique was rate-limited with retry-after 3 seconds: no new call before that.
      yield* TestClock.adjust("2999 millis")
      assert.strictEqual(yield* calls, 2)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Fiber.join(result), { answer: "A fiber.", score: 10, attempts: 1, passed: true })
      assert.strictEqual(yield* calls, 3)
    }).pipe(
      Effect.provide(
        LLM.layerScripted([
          "A fiber.",
          new LLMError.LLMError({
            reason: "RateLimited",
            provider: "scripted",
            detail: "slow down",
            retryAfter: Duration.seconds(3)
          }),
          { json: { score: 10, feedback: "Good." } }
        ])
      )
    )
  )

  it("runs as a program without an API key: the simulated critic passes the third answer", async () => {
    const env = { ...process.env }
    delete env.ANTHROPIC_API_KEY
    delete env.OPENAI_API_KEY
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/refine.ts"],
      { cwd: repoRoot, env }
    )
    const lines = stdout.split("\n").filter((line) => line.startsWith("["))
    assert.deepStrictEqual(
      lines.map((line) => line.slice(0, line.indexOf("]") + 1)),
      ["[draft]", "[critique]", "[revise]", "[critique]", "[revise]", "[critique]"]
    )
    assert.include(stdout, "[critique] 3/10: ")
    assert.include(stdout, "[critique] 6/10: ")
    assert.include(stdout, "[critique] 9/10: ")
    assert.include(stdout, "Passed after 3 attempts (score 9/10):")
  })
})
