import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Event, HumanResponse, InputRequired, type Run, Workflow } from "@eventflow/core"
import { LLM } from "@eventflow/llm"
import { Chunk, Effect, Fiber, Ref, Stream, TestClock } from "effect"
import { agent, DEFAULT_TASK, Progress, SYSTEM, simulatedAgent, TOOLS } from "../agent.js"
import { runProgram } from "./program.js"

const DEADLINE_MS = 30_000

/** Answers each open prompt of the run with the next of `answers`, as a person at the terminal would. */
const answerPrompts = (handle: Run.RunHandle, answers: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const next = yield* Ref.make(0)
    yield* handle.events().pipe(
      Stream.filter(Event.is(InputRequired)),
      Stream.runForEach((prompt) =>
        Effect.gen(function* () {
          const pending = yield* handle.pending
          if (!pending.some((p) => (p.prompt as InputRequired).requestId === prompt.requestId)) return
          const k = yield* Ref.getAndUpdate(next, (n) => n + 1)
          yield* handle.send(HumanResponse.make({ response: answers[k] ?? "no", requestId: prompt.requestId }))
        })
      )
    )
  })

/** Runs the agent in process on the TestClock with the offline model; answers the approval prompts. */
const runAgent = (task: string, answers: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const handle = yield* Workflow.start(agent, { task })
    const trace = yield* Effect.fork(Stream.runCollect(handle.events({ internal: true })))
    yield* Effect.fork(answerPrompts(handle, answers))
    // The tool step's retry backoff is an Effect.sleep: drive it with the TestClock.
    for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
    const result = yield* handle.result
    return { result, trace: Chunk.toReadonlyArray(yield* Fiber.join(trace)) }
  }).pipe(Effect.provide(LLM.layerLocal({ model: "local-agent", respond: simulatedAgent })))

describe("examples/agent (in process)", () => {
  it.scoped("the model's parallel tool calls fan out, run (retried, at most two at once), fan in, and loop back", () =>
    Effect.gen(function* () {
      const { result, trace } = yield* runAgent(DEFAULT_TASK, ["yes"])
      assert.deepStrictEqual(result, {
        answer: "Paris: 18°C, sunny. Docs on retry: [retries.md]. Emailed ada@example.com.",
        turns: 3
      })
      // Tokens streamed as TokenDeltas of the model step, one invocation per turn.
      const deltas = trace.filter(Event.is(LLM.TokenDelta))
      assert.deepStrictEqual(
        [...deltas.reduce(LLM.foldTokens, new Map() as LLM.TokenTexts).values()].map((t) => t.text),
        ['I will look up the weather in Paris and search the docs for "retry".', "Sending the summary.", result.answer]
      )
      // The first turn's two calls ran as two invocations of the tool step; get_weather was retried once.
      const started = trace.filter(Event.is(Event.StepStarted)).filter((e) => e.step === "tool")
      const attemptsOf = (eventId: string) => started.filter((e) => e.eventId === eventId).map((e) => e.attempt)
      const ids = [...new Set(started.map((e) => e.eventId))]
      assert.strictEqual(ids.length, 3)
      assert.deepStrictEqual(
        ids.map((id) => attemptsOf(id)),
        [[1, 2], [1], [1]]
      )
      let running = 0
      let most = 0
      const seen = new Set<string>()
      for (const event of trace) {
        if (Event.is(Event.StepStarted)(event) && event.step === "tool" && !seen.has(event.eventId)) {
          seen.add(event.eventId)
          most = Math.max(most, ++running)
        } else if (Event.is(Event.StepCompleted)(event) && event.step === "tool") running--
      }
      assert.isAtMost(most, 2)
      // The gather step fans in: it emits nothing until both results of the first turn are in.
      const gathers = trace.filter(Event.is(Event.StepCompleted)).filter((e) => e.step === "gather")
      assert.deepStrictEqual(
        gathers.map((e) => e.emitted.length),
        [0, 1, 1]
      )
      // The person was asked once, for the email.
      const prompts = trace.filter(Event.is(InputRequired))
      assert.strictEqual(prompts.length, 1)
      assert.include(prompts[0]!.prompt, "send_email")
      assert.include(
        trace
          .filter(Event.is(Progress))
          .map((p) => p.message)
          .join("\n"),
        'send_email -> {"sent":true,"to":"ada@example.com"}'
      )
    })
  )

  it.scoped("a person who says no: the email is not sent and the model is told so (an error result)", () =>
    Effect.gen(function* () {
      const { result, trace } = yield* runAgent(DEFAULT_TASK, ["no"])
      assert.strictEqual(
        result.answer,
        "Paris: 18°C, sunny. Docs on retry: [retries.md]. The email to ada@example.com was not sent."
      )
      const messages = trace.filter(Event.is(Progress)).map((p) => p.message)
      assert.include(messages, "send_email declined by a person")
      assert.isFalse(messages.some((m) => m.startsWith("send_email ->")))
    })
  )

  it.scoped("a tool's typed error (an unknown city) goes back to the model, which answers with it", () =>
    Effect.gen(function* () {
      const { result, trace } = yield* runAgent("What is the weather in Atlantis, and how do steps retry?", [])
      assert.strictEqual(result.answer, "No weather for Atlantis. Docs on retry: [retries.md].")
      assert.include(
        trace.filter(Event.is(Progress)).map((p) => p.message),
        'get_weather -> error {"error":{"city":"Atlantis","_tag":"UnknownCity"}}'
      )
    })
  )

  it.effect("the model step sends the tools with their JSON Schemas and the tool results in order", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(agent, { task: "Weather in Paris?" })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* handle.result, { answer: "It is 18°C in Paris.", turns: 2 })
      const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (s) => s.requests)
      assert.strictEqual(requests[0]!.system, SYSTEM)
      assert.deepStrictEqual(
        requests[0]!.tools.map((t) => t.name),
        TOOLS.map((t) => t.name)
      )
      assert.deepStrictEqual(requests[1]!.messages.slice(1), [
        {
          role: "assistant",
          content: "",
          toolCalls: [
            { id: "a", name: "get_weather", input: { city: "Paris" } },
            { id: "b", name: "get_weather", input: { city: "Oslo" } }
          ]
        },
        {
          role: "tool",
          results: [
            { id: "a", name: "get_weather", content: '{"city":"Paris","celsius":18,"sky":"sunny"}', isError: false },
            { id: "b", name: "get_weather", content: '{"city":"Oslo","celsius":4,"sky":"snowing"}', isError: false }
          ]
        }
      ])
    }).pipe(
      Effect.scoped,
      Effect.provide(
        LLM.layerScripted([
          {
            text: "",
            toolCalls: [
              { id: "a", name: "get_weather", input: { city: "Paris" } },
              { id: "b", name: "get_weather", input: { city: "Oslo" } }
            ]
          },
          "It is 18°C in Paris."
        ])
      )
    )
  )
})

// --- as a program ---

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const tempDb = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-agent-"))
  dirs.push(dir)
  return path.join(dir, "agent.db")
}

/** Runs `examples/agent.ts` without an API key, `input` piped to its stdin. */
const runExample = (db: string, input: string) => {
  const env: NodeJS.ProcessEnv = { ...process.env, AGENT_DB: db }
  delete env.ANTHROPIC_API_KEY
  delete env.OPENAI_API_KEY
  return runProgram("examples/agent.ts", { env, input, deadlineMs: DEADLINE_MS })
}

describe("examples/agent (as a program)", () => {
  it("offline: streams the model's turns, runs the tools, asks before the email, and answers", async () => {
    const { code, stderr, stdout } = await runExample(tempDb(), "yes\n")
    assert.strictEqual(code, 0, stderr)
    assert.match(stdout, /^Started run /)
    assert.include(stdout, '[model] I will look up the weather in Paris and search the docs for "retry".\n')
    assert.include(stdout, '[tool] get_weather -> {"city":"Paris","celsius":18,"sky":"sunny"}\n')
    assert.include(stdout, "The agent wants to call send_email")
    assert.include(
      stdout,
      "Answer after 3 model turn(s):\nParis: 18°C, sunny. Docs on retry: [retries.md]. Emailed ada@example.com."
    )
    assert.strictEqual(stderr.match(/simulated/g)?.length, 1, stderr)
  }, 40_000)

  it("durable: input that ends at the approval leaves the run waiting; the next process resumes it", async () => {
    const db = tempDb()
    const first = await runExample(db, "")
    assert.strictEqual(first.code, 0, first.stderr)
    const runId = /^Started run (\S+)/.exec(first.stdout)?.[1]
    assert.isDefined(runId, first.stdout)
    assert.include(first.stdout, `No more input: run ${runId} stays waiting in the database`)
    const second = await runExample(db, "yes\n")
    assert.strictEqual(second.code, 0, second.stderr)
    assert.match(second.stdout, new RegExp(`^Resuming run ${runId}\n`))
    assert.include(second.stdout, "Emailed ada@example.com.")
  }, 60_000)
})
