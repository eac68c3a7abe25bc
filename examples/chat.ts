/**
 * A multi-turn chat with memory: each message is one run of the `chat` workflow, and each run continues the
 * conversation of the one before (`Workflow.start(chat, input, { continue: previous })`), starting from its final
 * state: the history of messages, kept in the workflow's typed state. The runs are durable in a SQLite file, so the
 * conversation goes on after the program is started again.
 *
 *   pnpm chat              (CHAT_DB=chat.db by default; type a message per line, an empty line or Ctrl-D ends)
 *
 * With `ANTHROPIC_API_KEY` or `OPENAI_API_KEY` set it talks to that provider (`LLM.layerFromEnv`); otherwise to an
 * offline, deterministic local model that remembers what you told it (your name, what you like) from the history
 * it is given: no key and no network needed.
 */
import * as readline from "node:readline"
import { pathToFileURL } from "node:url"
import { defineWorkflow, RunStore, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { LLM } from "@eventflow/llm"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Config, Console, Effect, Layer, Option, Schema, SynchronizedRef } from "effect"

export const SYSTEM = "You are a friendly assistant. Answer in one short sentence."

/** One turn: the user's message in, the assistant's reply out; the history is the run's typed state. */
export const chat = defineWorkflow({
  name: "chat",
  description: "A multi-turn chat; continue a conversation with continueFrom",
  input: Schema.Struct({ message: Schema.String.pipe(Schema.minLength(1)) }),
  output: Schema.Struct({ reply: Schema.String, turn: Schema.Number }),
  state: Schema.Struct({ history: Schema.Array(LLM.Message) }),
  initialState: { history: [] }
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const { history } = yield* SynchronizedRef.get(ctx.state)
      const messages: ReadonlyArray<LLM.Message> = [...history, { role: "user", content: start.input.message }]
      const completion = yield* LLM.complete(messages, { system: SYSTEM })
      const reply = completion.text.trim()
      yield* SynchronizedRef.set(ctx.state, { history: [...messages, { role: "assistant", content: reply }] })
      return StopEvent.make({ result: { reply, turn: messages.filter((m) => m.role === "user").length } })
    }),
  { name: "reply", emits: [StopEvent], retry: LLM.retrySchedule() }
)

/**
 * The offline model: deterministic, and it answers from the whole history it is given (so it shows what the
 * conversation remembers): "my name is X", "I like X", "what is my name?", "what do I like?", else an echo.
 */
export const offline = (request: LLM.Request): string => {
  const said = request.messages.flatMap((m) => (m.role === "user" ? [m.content] : []))
  const last = said.at(-1) ?? ""
  const recall = (pattern: RegExp): string | undefined => {
    for (let i = said.length - 2; i >= 0; i--) {
      const found = pattern.exec(said[i])
      if (found) return found[1].replace(/[.!?]+$/, "")
    }
    return undefined
  }
  const name = /my name is (.+)/i.exec(last)
  if (name) return `Nice to meet you, ${name[1].replace(/[.!?]+$/, "")}.`
  const likes = /i like (.+)/i.exec(last)
  if (likes) return `Noted: you like ${likes[1].replace(/[.!?]+$/, "")}.`
  if (/what is my name/i.test(last)) {
    const known = recall(/my name is (.+)/i)
    return known === undefined ? "You have not told me your name yet." : `Your name is ${known}.`
  }
  if (/what do i like/i.test(last)) {
    const known = recall(/i like (.+)/i)
    return known === undefined ? "You have not told me what you like yet." : `You like ${known}.`
  }
  return `You said "${last}" (message ${said.length} of this conversation).`
}

/** `LLM.layerFromEnv` when an API key is set, else the offline model (which says on stderr that it is simulated). */
export const llmLayer = Layer.unwrapEffect(
  Effect.map(
    Config.all([Config.option(Config.redacted("ANTHROPIC_API_KEY")), Config.option(Config.redacted("OPENAI_API_KEY"))]),
    ([anthropic, openai]) =>
      Option.isSome(anthropic) || Option.isSome(openai)
        ? LLM.layerFromEnv
        : LLM.layerLocal({ model: "local-chat", respond: offline, announce: true })
  )
)

/**
 * The last turn in the store, to go on from: the newest completed run of `chat` that no other run continues (two
 * turns can start within the same millisecond, so the newest alone could be an earlier turn).
 */
export const lastTurn = Effect.gen(function* () {
  // The runs are kept on their journals, and loading one replays it with its definition: validating `chat` makes
  // the definition known in this process (a new program has not run it yet).
  yield* Effect.orDie(Workflow.validate(chat))
  const store = yield* RunStore.RunStore
  const runs = yield* store.list({ workflow: chat.name, status: ["completed"] })
  const continued = new Set<string>()
  for (const run of runs) {
    const saved = yield* store.load(run.runId)
    if (Option.isSome(saved) && saved.value.conversation !== undefined) continued.add(saved.value.conversation.previous)
  }
  return Option.fromNullable(runs.find((run) => !continued.has(run.runId))?.runId)
})

/** One turn: a durable run that continues the previous one (if any); returns its run id and reply. */
export const turn = (message: string, previous: Option.Option<string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* Workflow.start(
        chat,
        { message },
        { durable: true, ...(Option.isSome(previous) ? { continue: previous.value } : {}) }
      )
      const { reply } = yield* handle.result
      return { runId: handle.runId, reply }
    })
  )

/** Reads lines until an empty one or the end of the input. */
const lines = (): Effect.Effect<AsyncIterator<string>> =>
  Effect.sync(() => readline.createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]())

export const main = Effect.gen(function* () {
  let previous = yield* lastTurn
  if (Option.isSome(previous)) yield* Console.log(`(continuing the conversation of run ${previous.value})`)
  const input = yield* lines()
  while (true) {
    const next = yield* Effect.promise(() => input.next())
    if (next.done === true || next.value.trim() === "") break
    const { reply, runId } = yield* turn(next.value.trim(), previous)
    yield* Console.log(`assistant: ${reply}`)
    previous = Option.some(runId)
  }
}).pipe(Effect.provide(Layer.merge(llmLayer, SqliteRunStore.layer({ filename: process.env.CHAT_DB ?? "chat.db" }))))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
