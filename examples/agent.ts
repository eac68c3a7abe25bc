/**
 * An agent as a workflow: a model that calls tools in a loop, durably.
 *
 * - the `model` step streams the model's answer (its tokens are `LLM.TokenDelta` events) with typed tools
 *   (`Tool.make`: parameters and results are Schemas); when it asks for tools, it fans out one `ToolRequest` per
 *   call (parallel calls included);
 * - the `tool` step runs each call (`workers: 2` at most at once, `retry` per call: the weather service fails its
 *   first attempt); a tool's typed error (an unknown city) goes back to the model as an error result;
 * - the dangerous tool, `send_email`, asks a person first with `ctx.waitFor` (the run waits durably, no worker
 *   held); a "no" goes back to the model as an error result;
 * - the `gather` step fans the results in (`ctx.collect`) and loops back to the model, until it answers.
 *
 * Runs offline by default: without `ANTHROPIC_API_KEY` / `OPENAI_API_KEY` a local model issues the tool calls
 * deterministically (and says on stderr that its answers are simulated); with a key the real model decides. The run
 * is checkpointed in SQLite (`AGENT_DB`, default `agent.db`): stop it while it waits and run again to resume.
 *
 *   node --conditions=source --import tsx examples/agent.ts ["your task"]      (or `pnpm agent`)
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"
import { defineWorkflow, Event, HumanResponse, InputRequired, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { LLM, Tool } from "@eventflow/llm"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Config, Console, Data, Effect, Layer, Option, Ref, Schedule, Schema, Stream } from "effect"

// -----------------------------------------------------------------------------
// The tools
// -----------------------------------------------------------------------------

export class UnknownCity extends Schema.TaggedError<UnknownCity>()("UnknownCity", { city: Schema.String }) {}

const WEATHER: Record<string, { readonly celsius: number; readonly sky: string }> = {
  paris: { celsius: 18, sky: "sunny" },
  oslo: { celsius: 4, sky: "snowing" },
  lisbon: { celsius: 22, sky: "clear" }
}

export const getWeather = Tool.make("get_weather", {
  description: "The current weather of a city: temperature in degrees Celsius and the sky.",
  parameters: Schema.Struct({ city: Schema.String.annotations({ description: "The city, e.g. Paris" }) }),
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number, sky: Schema.String }),
  failure: UnknownCity,
  handler: ({ city }) => {
    const weather = WEATHER[city.toLowerCase()]
    return weather === undefined ? Effect.fail(new UnknownCity({ city })) : Effect.succeed({ city, ...weather })
  }
})

const corpusDir = fileURLToPath(new URL("./corpus/", import.meta.url))
const docs = readdirSync(corpusDir)
  .filter((name) => name.endsWith(".md"))
  .sort()
  .map((name) => ({ name, text: readFileSync(join(corpusDir, name), "utf8") }))

export const searchDocs = Tool.make("search_docs", {
  description: "Searches the Eventflow documentation; returns the names and first lines of the matching pages.",
  parameters: Schema.Struct({ query: Schema.String.annotations({ description: "One or two keywords" }) }),
  success: Schema.Struct({ hits: Schema.Array(Schema.Struct({ name: Schema.String, excerpt: Schema.String })) }),
  handler: ({ query }) => {
    const words = query
      .toLowerCase()
      .split(/\W+/)
      .filter((w) => w.length > 2)
    const hits = docs
      .filter((doc) => words.some((w) => doc.text.toLowerCase().includes(w)))
      .map((doc) => ({ name: doc.name, excerpt: doc.text.split("\n").slice(2, 3).join(" ").slice(0, 160) }))
      .slice(0, 3)
    return Effect.succeed({ hits })
  }
})

export const sendEmail = Tool.make("send_email", {
  description: "Sends an email. A person approves every email before it is sent.",
  parameters: Schema.Struct({ to: Schema.String, subject: Schema.String, body: Schema.String }),
  success: Schema.Struct({ sent: Schema.Boolean, to: Schema.String }),
  handler: ({ to }) => Effect.succeed({ sent: true, to })
})

export const TOOLS = [getWeather, searchDocs, sendEmail]
/** The tools a person approves before they run. */
export const DANGEROUS = new Set(["send_email"])

// -----------------------------------------------------------------------------
// The workflow
// -----------------------------------------------------------------------------

export const SYSTEM =
  "You are an assistant with tools. Use them to do the task; call independent tools in parallel. " +
  "When the task asks for an email, send it with send_email (a person approves it). " +
  "When you are done, answer in two or three sentences."
export const MAX_TURNS = 6

export const ModelTurn = Event.define("ModelTurn", { turn: Schema.Number })
export const ToolRequest = Event.define("ToolRequest", { call: Tool.ToolCall, turn: Schema.Number, of: Schema.Number })
export const ToolDone = Event.define("ToolDone", { result: Tool.ToolResult, turn: Schema.Number, of: Schema.Number })
/** Progress for the terminal: a tool call and its outcome. */
export const Progress = Event.define("Progress", { message: Schema.String })

/** A transient failure of the (simulated) weather service: its first attempt fails, the step's retry recovers. */
export class ServiceUnavailable extends Data.TaggedError("ServiceUnavailable")<{ readonly tool: string }> {}

export const agent = defineWorkflow({
  name: "agent",
  input: Schema.Struct({ task: Schema.String }),
  output: Schema.Struct({ answer: Schema.String, turns: Schema.Number }),
  // The conversation is the run's durable state: it is checkpointed with the run.
  state: Schema.Struct({ messages: Schema.Array(LLM.Message) }),
  initialState: { messages: [] }
})
  .step(
    StartEvent,
    (start, ctx) =>
      Effect.as(
        Ref.set(ctx.state, { messages: [{ role: "user", content: start.input.task }] }),
        ModelTurn.make({ turn: 1 })
      ),
    { name: "start", emits: [ModelTurn] }
  )
  .step(
    ModelTurn,
    (event, ctx) =>
      Effect.gen(function* () {
        const { messages } = yield* Ref.get(ctx.state)
        if (event.turn > MAX_TURNS) {
          return [StopEvent.make({ result: { answer: `Gave up after ${MAX_TURNS} turns.`, turns: MAX_TURNS } })]
        }
        // The model's tokens stream into the run; its tool calls come back checked against the tools' schemas.
        const completion = yield* LLM.streamToCompletion(ctx, messages, { system: SYSTEM, tools: TOOLS })
        yield* Ref.set(ctx.state, {
          messages: [...messages, { role: "assistant", content: completion.text, toolCalls: completion.toolCalls }]
        })
        if (completion.toolCalls.length === 0) {
          return [StopEvent.make({ result: { answer: completion.text, turns: event.turn } })]
        }
        // Fan out: one ToolRequest per call.
        return completion.toolCalls.map((call) =>
          ToolRequest.make({ call, turn: event.turn, of: completion.toolCalls.length })
        )
      }),
    { name: "model", emits: [ToolRequest, StopEvent], retry: LLM.retrySchedule() }
  )
  .step(
    ToolRequest,
    (request, ctx) =>
      Effect.gen(function* () {
        const { call } = request
        yield* ctx.write(Progress.make({ message: `${call.name} ${JSON.stringify(call.input)}` }))
        if (call.name === "get_weather" && ctx.attempt === 1) {
          return yield* new ServiceUnavailable({ tool: call.name })
        }
        if (DANGEROUS.has(call.name)) {
          // A person approves first; the run waits durably (no worker slot held).
          const answer = yield* ctx.waitFor(HumanResponse, {
            prompt: InputRequired.make({
              prompt: `The agent wants to call ${call.name} ${JSON.stringify(call.input)}. Allow? (yes/no)`,
              requestId: ctx.eventId
            })
          })
          if (answer.response.trim().toLowerCase() !== "yes") {
            const result: Tool.ToolResult = {
              id: call.id,
              name: call.name,
              content: JSON.stringify({ error: "A person declined this call; do not retry it." }),
              isError: true
            }
            yield* ctx.write(Progress.make({ message: `${call.name} declined by a person` }))
            return ToolDone.make({ result, turn: request.turn, of: request.of })
          }
        }
        const result = yield* Tool.run(TOOLS, call)
        yield* ctx.write(
          Progress.make({ message: `${call.name} -> ${result.isError ? "error " : ""}${result.content}` })
        )
        return ToolDone.make({ result, turn: request.turn, of: request.of })
      }),
    {
      name: "tool",
      emits: [ToolDone],
      workers: 2,
      retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
    }
  )
  .step(
    ToolDone,
    (done, ctx) =>
      Effect.gen(function* () {
        // Fan in: nothing until every call of this turn is done.
        const all = yield* ctx.collect(done, ToolDone, done.of)
        if (Option.isNone(all)) return
        const { messages } = yield* Ref.get(ctx.state)
        const last = messages[messages.length - 1]
        const order = last?.role === "assistant" ? (last.toolCalls ?? []).map((c) => c.id) : []
        const results = all.value.map((d) => d.result).sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))
        yield* Ref.set(ctx.state, { messages: [...messages, { role: "tool", results }] })
        return ModelTurn.make({ turn: done.turn + 1 })
      }),
    { name: "gather", emits: [ModelTurn] }
  )

// -----------------------------------------------------------------------------
// Offline: a local model that calls the tools deterministically
// -----------------------------------------------------------------------------

/**
 * The local model's `respond` for this agent (simulated, not a language model): first it calls `get_weather` and
 * `search_docs` in parallel (the city and the topic taken from the task), then `send_email` with a summary to the
 * address in the task, then it answers from the tool results.
 */
export const simulatedAgent = (request: LLM.Request) => {
  const task = request.messages.find((m) => m.role === "user")
  const text = task === undefined ? "" : LLM.textOf(task)
  const results = request.messages.flatMap((m) => (m.role === "tool" ? m.results : []))
  const calls = request.messages.flatMap((m) => (m.role === "assistant" ? (m.toolCalls ?? []) : []))
  const city = /weather in ([A-Z][a-z]+)/.exec(text)?.[1] ?? "Paris"
  const topic = /how do (?:eventflow )?(?:steps? )?(\w+)/i.exec(text)?.[1] ?? "retry"
  const to = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/.exec(text)?.[0]
  const resultOf = (name: string) => results.find((r) => r.name === name)
  if (resultOf("get_weather") === undefined) {
    return {
      text: `I will look up the weather in ${city} and search the docs for "${topic}".`,
      toolCalls: [
        { id: `call_${calls.length + 1}`, name: "get_weather", input: { city } },
        { id: `call_${calls.length + 2}`, name: "search_docs", input: { query: topic } }
      ]
    }
  }
  const weather = resultOf("get_weather")!
  const w = JSON.parse(weather.content) as { celsius?: number; sky?: string }
  const hits = (JSON.parse(resultOf("search_docs")?.content ?? "{}") as { hits?: Array<{ name: string }> }).hits ?? []
  const summary = `${weather.isError ? `No weather for ${city}.` : `${city}: ${w.celsius}°C, ${w.sky}.`} Docs on ${topic}: ${
    hits.map((h) => `[${h.name}]`).join(" ") || "none found"
  }.`
  const email = resultOf("send_email")
  if (to !== undefined && email === undefined) {
    return {
      text: "Sending the summary.",
      toolCalls: [
        { id: `call_${calls.length + 1}`, name: "send_email", input: { to, subject: "Your summary", body: summary } }
      ]
    }
  }
  const outcome = email === undefined ? "" : email.isError ? ` The email to ${to} was not sent.` : ` Emailed ${to}.`
  return { text: `${summary}${outcome}` }
}

/** `LLM.layerFromEnv` when an API key is set, else the local model with the simulated agent. */
export const llmLayer = Layer.unwrapEffect(
  Effect.map(
    Config.all([Config.option(Config.redacted("ANTHROPIC_API_KEY")), Config.option(Config.redacted("OPENAI_API_KEY"))]),
    ([anthropic, openai]) =>
      Option.isSome(anthropic) || Option.isSome(openai)
        ? LLM.layerFromEnv
        : LLM.layerLocal({ model: "local-agent", respond: simulatedAgent, announce: true })
  )
)

// -----------------------------------------------------------------------------
// The program
// -----------------------------------------------------------------------------

export const DEFAULT_TASK =
  "What is the weather in Paris, and how do Eventflow steps retry? Email a short summary to ada@example.com."

/** Lines typed in the terminal (or piped in); `None` at the end of the input. */
const makeLines = Effect.sync(() => {
  const rl = createInterface({ input: process.stdin })
  const iterator = rl[Symbol.asyncIterator]()
  return {
    next: Effect.promise(() => iterator.next()).pipe(
      Effect.map((r) => (r.done === true ? Option.none<string>() : Option.some(r.value)))
    ),
    close: Effect.sync(() => rl.close())
  }
})

export const run = (task: string) =>
  Effect.gen(function* () {
    const lines = yield* Effect.acquireRelease(makeLines, (l) => l.close)
    const [resumed] = yield* Workflow.resumeAll(agent)
    const handle = resumed ?? (yield* Workflow.start(agent, { task }, { durable: true }))
    yield* Console.log(resumed ? `Resuming run ${handle.runId}` : `Started run ${handle.runId}`)
    let texts: LLM.TokenTexts = new Map()
    // Tokens are written without newlines; a line printed after them starts on a new line.
    let midLine = false
    const line = (text: string) =>
      Effect.sync(() => {
        process.stdout.write(`${midLine ? "\n" : ""}${text}\n`)
        midLine = false
      })
    const outcome = yield* handle.events().pipe(
      Stream.runForEach((event) =>
        Effect.gen(function* () {
          if (Event.is(LLM.TokenDelta)(event)) {
            // The rule of TokenDelta: a retried model step streams again; say that the text above is discarded.
            if (LLM.isRetryOf(texts, event)) {
              yield* line(`[model] attempt ${event.attempt - 1} failed; the text above is discarded.`)
            }
            if (!midLine) process.stdout.write("[model] ")
            texts = LLM.foldTokens(texts, event)
            process.stdout.write(event.text)
            midLine = true
          } else if (Event.is(Progress)(event)) {
            yield* line(`[tool] ${event.message}`)
          } else if (Event.is(InputRequired)(event)) {
            const pending = yield* handle.pending
            if (!pending.some((p) => (p.prompt as InputRequired).requestId === event.requestId)) return
            yield* line(event.prompt)
            const typed = yield* lines.next
            if (Option.isNone(typed)) return yield* Effect.fail("no more input" as const)
            yield* handle.send(HumanResponse.make({ response: typed.value, requestId: event.requestId }))
          }
        })
      ),
      Effect.either
    )
    if (outcome._tag === "Left") {
      yield* line(`No more input: run ${handle.runId} stays waiting in the database; run again to resume.`)
      return
    }
    const result = yield* handle.result
    yield* line(`\nAnswer after ${result.turns} model turn(s):\n${result.answer}`)
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(llmLayer, SqliteRunStore.layer({ filename: process.env.AGENT_DB ?? "agent.db" })))
  )

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(run(process.argv[2] ?? DEFAULT_TASK)).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
