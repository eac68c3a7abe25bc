/**
 * examples/chat.ts: in process (each turn continues the last), as the program `pnpm chat` runs (a real child process
 * on a SQLite file, started twice: the conversation survives), and continued over HTTP (the workflow served by
 * `WorkflowServer` on 127.0.0.1, turns started with `continueFrom` by the typed client).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { LLM } from "@eventflow/llm"
import { WorkflowServer } from "@eventflow/server"
import { TypedClient, WorkflowClient } from "@eventflow/server/client"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Context, Effect, Layer, Option, TestClock } from "effect"
import * as HttpServer from "@effect/platform/HttpServer"
import { chat, lastTurn, offline, turn } from "../chat.js"
import { runProgram } from "./program.js"

const DEADLINE_MS = 30_000
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-chat-"))

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const offlineModel = LLM.layerLocal({ model: "local-chat", respond: offline })

describe("examples/chat (in process)", () => {
  it.effect("each turn continues the last: the model is given the whole history kept in the typed state", () =>
    Effect.gen(function* () {
      const first = yield* turn("my name is Ada", Option.none())
      assert.strictEqual(first.reply, "Nice to meet you, Ada.")
      const second = yield* turn("what is my name?", Option.some(first.runId))
      assert.strictEqual(second.reply, "Your name is Ada.")
      // A turn that does not continue starts a new conversation, which knows nothing. (A second later: the newest
      // conversation is told by its start time, which is the test clock's.)
      yield* TestClock.adjust("1 second")
      const fresh = yield* turn("what is my name?", Option.none())
      assert.strictEqual(fresh.reply, "You have not told me your name yet.")
      const store = yield* RunStore.RunStore
      assert.sameMembers(
        (yield* store.list({ conversation: first.runId })).map((r) => r.runId),
        [first.runId, second.runId]
      )
      // The tip of the newest conversation is the fresh run (nothing continues it).
      assert.deepStrictEqual(yield* lastTurn, Option.some(fresh.runId))
    }).pipe(Effect.provide(Layer.merge(offlineModel, RunStore.layerMemory)))
  )
})

describe("examples/chat (pnpm chat, child processes)", () => {
  it.live(
    "remembers within a session and across a restart of the program (durable in its SQLite file)",
    () =>
      Effect.promise(async () => {
        // Offline: no key reaches the program.
        const { ANTHROPIC_API_KEY: _a, OPENAI_API_KEY: _o, ...rest } = process.env
        const env: NodeJS.ProcessEnv = { ...rest, CHAT_DB: path.join(dir, "chat.db") }
        const first = await runProgram("examples/chat.ts", {
          env,
          input: "my name is Ada\nI like green tea\nwhat is my name?\n",
          deadlineMs: DEADLINE_MS
        })
        assert.strictEqual(first.code, 0, first.stderr)
        assert.deepStrictEqual(first.stdout.trim().split("\n"), [
          "assistant: Nice to meet you, Ada.",
          "assistant: Noted: you like green tea.",
          "assistant: Your name is Ada."
        ])
        // Offline by default, and it says so.
        assert.include(first.stderr, "offline local model")
        const second = await runProgram("examples/chat.ts", {
          env,
          input: "what do I like?\n",
          deadlineMs: DEADLINE_MS
        })
        assert.strictEqual(second.code, 0, second.stderr)
        const out = second.stdout.trim().split("\n")
        assert.match(out[0], /^\(continuing the conversation of run .+\)$/)
        assert.strictEqual(out[1], "assistant: You like green tea.")
      }),
    DEADLINE_MS * 3
  )
})

describe("examples/chat (over HTTP)", () => {
  it.scoped("a conversation is continued over HTTP with continueFrom and listed by its id", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(
        WorkflowServer.layer({ workflows: [chat], port: 0, filename: path.join(dir, "server.db") }).pipe(
          Layer.provide(offlineModel)
        )
      )
      const address = Context.unsafeGet(context, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") return assert.fail("not a TCP address")
      const client = yield* WorkflowClient.make({ baseUrl: `http://127.0.0.1:${address.port}` })
      const runs = TypedClient.make(client, [chat])
      const first = yield* runs.chat.start({ message: "my name is Grace" }, { wait: true })
      assert.deepStrictEqual(Option.getOrThrow(first.result), { reply: "Nice to meet you, Grace.", turn: 1 })
      const second = yield* runs.chat.start({ message: "what is my name?" }, { wait: true, continueFrom: first.runId })
      assert.deepStrictEqual(Option.getOrThrow(second.result), { reply: "Your name is Grace.", turn: 2 })
      assert.deepStrictEqual(second.conversation, { id: first.runId, previous: first.runId })
      const third = yield* runs.chat.start({ message: "I like proofs" }, { wait: true, continueFrom: second.runId })
      assert.strictEqual(Option.getOrThrow(third.result).turn, 3)
      const listed = yield* runs.chat.conversation(first.runId)
      assert.sameMembers(
        listed.map((r) => r.runId),
        [first.runId, second.runId, third.runId]
      )
      // The store behind the server is the SQLite file.
      const stored = yield* Effect.provide(
        Effect.flatMap(RunStore.RunStore, (store) => store.list({ conversation: first.runId })),
        SqliteRunStore.layer({ filename: path.join(dir, "server.db") })
      )
      assert.strictEqual(stored.length, 3)
    }).pipe(Effect.provide(NodeHttpClient.layer))
  )
})
