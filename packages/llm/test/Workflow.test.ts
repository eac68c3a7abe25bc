import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  type RunHandle,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowCancelledError,
  WorkflowTimeoutError
} from "@eventflow/core"
import { AnthropicLLM, LLM, LLMError, OpenAILLM } from "@eventflow/llm"
import { Chunk, type Duration, Effect, Exit, Queue, Schema, Scope, Stream, TestClock } from "effect"
import type * as http from "node:http"
import {
  anthropicDelta,
  anthropicHead,
  anthropicMessage,
  anthropicTail,
  json,
  openAIChunk,
  openAIChunkOf,
  openAIHead,
  serve,
  type TestServer
} from "./server.js"

// -----------------------------------------------------------------------------
// Wire protocol helpers
// -----------------------------------------------------------------------------

const openAIDelta = (res: http.ServerResponse, text: string) => openAIChunk(res, openAIChunkOf(text))
const openAITail = (res: http.ServerResponse) => {
  openAIChunk(res, openAIChunkOf(undefined, "stop"))
  res.write("data: [DONE]\n\n")
  res.end()
}

const errorBody = (type: string, message: string) => ({ type: "error", error: { type, message } })

interface Provider {
  readonly name: string
  readonly layer: (url: string) => ReturnType<typeof AnthropicLLM.layer>
  readonly head: (res: http.ServerResponse) => void
  readonly delta: (res: http.ServerResponse, text: string) => void
  readonly tail: (res: http.ServerResponse) => void
}

const anthropic: Provider = {
  name: "Anthropic",
  layer: (url) => AnthropicLLM.layer({ model: "claude-test-1", apiKey: "sk-ant-test", baseURL: url, maxTokens: 64 }),
  head: anthropicHead,
  delta: anthropicDelta,
  tail: anthropicTail
}

const openAI: Provider = {
  name: "OpenAI",
  layer: (url) =>
    OpenAILLM.layer({ model: "gpt-test-1", apiKey: "sk-openai-test", baseURL: `${url}/v1`, maxTokens: 64 }),
  head: openAIHead,
  delta: openAIDelta,
  tail: openAITail
}

// -----------------------------------------------------------------------------
// Test helpers
// -----------------------------------------------------------------------------

/**
 * A server whose streamed response the test drives: the handler sends the stream's head and hands the response
 * over; the test writes each delta (and the end) when it chooses.
 */
const heldStream = (provider: Provider) =>
  Effect.gen(function* () {
    let hand!: (res: http.ServerResponse) => void
    const response = new Promise<http.ServerResponse>((resolve) => {
      hand = resolve
    })
    const server = yield* serve((_, res) => {
      provider.head(res)
      hand(res)
    })
    const res = Effect.promise(() => response)
    return { server, res }
  })

/** Follows `handle.events()` into a queue, so the test can take the events one by one as they are published. */
const follow = (handle: Pick<RunHandle, "events">, options?: { readonly internal?: boolean }) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Event.AnyEvent>()
    yield* Effect.forkScoped(Stream.runForEach(handle.events(options), (event) => Queue.offer(queue, event)))
    return queue
  })

/** Whether the server saw a client close a connection before its response was finished, within a bounded wait. */
const serverSawClose = (server: TestServer, millis = 5000) =>
  Effect.promise(
    () =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), millis)
        void server.clientClosed.then(() => {
          clearTimeout(timer)
          resolve(true)
        })
      })
  )

/** Whether the server has seen a connection close by now (without waiting). */
const closedYet = (server: TestServer) =>
  Effect.promise(() => Promise.race([server.clientClosed.then(() => true), Promise.resolve(false)]))

const streaming = (name: string) =>
  defineWorkflow({ name, output: Schema.String }).step(
    StartEvent,
    (_, ctx) => Effect.map(LLM.streamTo(ctx, "Tell me a story"), (text) => StopEvent.make({ result: text })),
    { name: "generate", emits: [StopEvent] }
  )

const completing = (name: string) =>
  defineWorkflow({ name, output: Schema.String }).step(
    StartEvent,
    () => Effect.map(LLM.complete("Tell me a story"), (completion) => StopEvent.make({ result: completion.text })),
    { name: "generate", emits: [StopEvent] }
  )

const takeTokenDelta = (queue: Queue.Queue<Event.AnyEvent>) =>
  Effect.map(Queue.take(queue), (event) => {
    assert.strictEqual(event._tag, "TokenDelta")
    return (event as LLM.TokenDelta).text
  })

// -----------------------------------------------------------------------------
// Tests
// -----------------------------------------------------------------------------

describe("LLM in workflows (real SDKs against a local server)", () => {
  for (const provider of [anthropic, openAI]) {
    it.scoped(`${provider.name}: streamTo publishes each token delta as it arrives, then the StopEvent`, () =>
      Effect.gen(function* () {
        const { server, res: awaitRes } = yield* heldStream(provider)
        const handle = yield* Workflow.start(streaming("stream-tokens")).pipe(
          Effect.provide(provider.layer(server.url))
        )
        const events = yield* follow(handle)
        const res = yield* awaitRes

        // Each delta is observed on the run's stream before the server sends the next one.
        for (const text of ["Once", " upon", " a time"]) {
          provider.delta(res, text)
          assert.strictEqual(yield* takeTokenDelta(events), text)
          assert.strictEqual(yield* Queue.size(events), 0, "nothing else was published before the next delta")
          assert.strictEqual(yield* handle.status, "running")
        }

        provider.tail(res)
        const stop = yield* Queue.take(events)
        assert.strictEqual(stop._tag, "StopEvent")
        assert.strictEqual((stop as StopEvent<string>).result, "Once upon a time")
        assert.strictEqual(yield* handle.result, "Once upon a time")
        assert.strictEqual(server.requests.length, 1)
        assert.strictEqual(server.requests[0]!.body.stream, true)
        assert.strictEqual(server.requests[0]!.body.messages.at(-1).content, "Tell me a story")

        // A late subscriber replays the same published events.
        const replay = Chunk.toArray(yield* Stream.runCollect(handle.events()))
        assert.deepStrictEqual(
          replay.map((e) => e._tag),
          ["TokenDelta", "TokenDelta", "TokenDelta", "StopEvent"]
        )
      })
    )
  }

  type Ending = {
    readonly name: string
    readonly options: { readonly timeout?: Duration.DurationInput }
    readonly end: (handle: RunHandle, scope: Scope.CloseableScope) => Effect.Effect<void>
    readonly error: "WorkflowCancelledError" | "WorkflowTimeoutError"
    readonly terminal: "WorkflowCancelled" | "WorkflowTimedOut"
  }
  const endings: ReadonlyArray<Ending> = [
    {
      name: "handle.cancel",
      options: {},
      end: (handle) => handle.cancel,
      error: "WorkflowCancelledError",
      terminal: "WorkflowCancelled"
    },
    {
      name: "closing the scope of Workflow.start",
      options: {},
      end: (_, scope) => Scope.close(scope, Exit.void),
      error: "WorkflowCancelledError",
      terminal: "WorkflowCancelled"
    },
    {
      name: "the run timeout (TestClock)",
      options: { timeout: "30 seconds" },
      end: () => TestClock.adjust("30 seconds"),
      error: "WorkflowTimeoutError",
      terminal: "WorkflowTimedOut"
    }
  ]

  const checkEnded = (handle: RunHandle, ending: Ending, events: Queue.Queue<Event.AnyEvent>, server: TestServer) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(handle.result)
      assert.strictEqual((error as { _tag: string })._tag, ending.error)
      if (ending.error === "WorkflowCancelledError") assert.instanceOf(error, WorkflowCancelledError)
      else {
        assert.instanceOf(error, WorkflowTimeoutError)
        assert.deepStrictEqual((error as WorkflowTimeoutError).activeSteps, ["generate"])
      }
      const terminal = yield* Queue.take(events)
      assert.strictEqual(terminal._tag, ending.terminal)
      assert.isTrue(yield* serverSawClose(server), "the server saw the HTTP connection close")
      assert.strictEqual(server.requests.length, 1)
    })

  for (const provider of [anthropic, openAI]) {
    for (const ending of endings) {
      it.scoped(`${provider.name}: ${ending.name} during a held stream aborts the HTTP request`, () =>
        Effect.gen(function* () {
          const { server, res: awaitRes } = yield* heldStream(provider)
          const scope = yield* Scope.make()
          const handle: RunHandle = yield* Workflow.start(streaming("stream-cancel"), undefined, ending.options).pipe(
            Effect.provide(provider.layer(server.url)),
            Scope.extend(scope)
          )
          const events = yield* follow(handle)
          const res = yield* awaitRes
          provider.delta(res, "first")
          // The step is inside the stream: its first delta was published and the response is still open.
          assert.strictEqual(yield* takeTokenDelta(events), "first")
          assert.isFalse(yield* closedYet(server))
          assert.isFalse(res.writableEnded)

          yield* ending.end(handle, scope)
          yield* checkEnded(handle, ending, events, server)
          yield* Scope.close(scope, Exit.void)
        })
      )

      it.scoped(`${provider.name}: ${ending.name} during a held complete aborts the HTTP request`, () =>
        Effect.gen(function* () {
          const server = yield* serve(() => {
            // never answers
          })
          const scope = yield* Scope.make()
          const handle: RunHandle = yield* Workflow.start(
            completing("complete-cancel"),
            undefined,
            ending.options
          ).pipe(Effect.provide(provider.layer(server.url)), Scope.extend(scope))
          const events = yield* follow(handle)
          yield* Effect.promise(() => server.firstRequest)
          assert.isFalse(yield* closedYet(server))
          assert.strictEqual(yield* handle.status, "running")

          yield* ending.end(handle, scope)
          yield* checkEnded(handle, ending, events, server)
          yield* Scope.close(scope, Exit.void)
        })
      )
    }
  }

  it.scoped("a step retried with LLM.retrySchedule gets past a 429 (retry-after: 0) and completes the run", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res, index) =>
        index === 0
          ? json(res, 429, errorBody("rate_limit_error", "slow down"), { "retry-after": "0" })
          : json(res, 200, anthropicMessage("finally"))
      )
      const wf = defineWorkflow({ name: "retry-429", output: Schema.String }).step(
        StartEvent,
        () => Effect.map(LLM.complete("hi"), (completion) => StopEvent.make({ result: completion.text })),
        { name: "ask", emits: [StopEvent], retry: LLM.retrySchedule({ times: 3 }) }
      )
      const handle = yield* Workflow.start(wf).pipe(Effect.provide(anthropic.layer(server.url)))
      assert.strictEqual(yield* handle.result, "finally")
      assert.strictEqual(server.requests.length, 2)

      const internal = Chunk.toArray(yield* Stream.runCollect(handle.events({ internal: true })))
      const failed = internal.filter(Event.is(Event.StepFailedAttempt))
      assert.strictEqual(failed.length, 1)
      assert.strictEqual(failed[0]!.step, "ask")
      assert.strictEqual(failed[0]!.attempt, 1)
      const error = failed[0]!.error
      assert.isTrue(LLMError.isLLMError(error), "the attempt's error is the LLMError")
      assert.strictEqual((error as LLMError.LLMError).reason, "RateLimited")
      assert.strictEqual((error as LLMError.LLMError).status, 429)
      const started = internal.filter(Event.is(Event.StepStarted)).filter((e) => e.step === "ask")
      assert.deepStrictEqual(
        started.map((e) => e.attempt),
        [1, 2]
      )
      assert.strictEqual(internal.at(-1)?._tag, "StopEvent")
    })
  )

  it.scoped("a step retried with LLM.retrySchedule does not retry a 401: the run fails with Authentication", () =>
    Effect.gen(function* () {
      const server = yield* serve((_, res) => json(res, 401, errorBody("authentication_error", "invalid x-api-key")))
      const wf = defineWorkflow({ name: "retry-401", output: Schema.String }).step(
        StartEvent,
        () => Effect.map(LLM.complete("hi"), (completion) => StopEvent.make({ result: completion.text })),
        { name: "ask", emits: [StopEvent], retry: LLM.retrySchedule({ times: 3 }) }
      )
      const handle = yield* Workflow.start(wf).pipe(Effect.provide(anthropic.layer(server.url)))
      const error = yield* Effect.flip(handle.result)
      assert.isTrue(LLMError.isLLMError(error))
      assert.strictEqual((error as LLMError.LLMError).reason, "Authentication")
      assert.strictEqual(server.requests.length, 1)
    })
  )
})

const retriedStream = defineWorkflow({ name: "retried-stream-http" }).step(
  StartEvent,
  (_, ctx) => Effect.map(LLM.streamTo(ctx, "Explain retries"), (text) => StopEvent.make({ result: text })),
  { name: "answer", emits: [StopEvent], retry: LLM.retrySchedule({ base: "1 millis" }) }
)

describe("retried streams against the real SDKs (TokenDelta carries the attempt)", () => {
  for (const provider of [anthropic, openAI]) {
    it.scopedLive(
      `${provider.name}: a stream cut midway and retried; the run's TokenDeltas tell the attempts apart`,
      () =>
        Effect.gen(function* () {
          const server = yield* serve((_, res, index) => {
            provider.head(res)
            provider.delta(res, "A step ")
            if (index === 0) {
              provider.delta(res, "retr")
              setTimeout(() => res.socket?.destroy(), 20)
              return
            }
            provider.delta(res, "retries.")
            provider.tail(res)
          })
          const handle = yield* Workflow.start(retriedStream).pipe(Effect.provide(provider.layer(server.url)))
          const result = yield* handle.result
          assert.strictEqual(result, "A step retries.")
          assert.strictEqual(server.requests.length, 2)
          const deltas = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events())).filter(
            Event.is(LLM.TokenDelta)
          )
          assert.deepStrictEqual(
            deltas.map((d) => [d.attempt, d.text]),
            [
              [1, "A step "],
              [1, "retr"],
              [2, "A step "],
              [2, "retries."]
            ]
          )
          const texts = deltas.reduce(LLM.foldTokens, new Map() as LLM.TokenTexts)
          assert.deepStrictEqual([...texts.values()], [{ attempt: 2, text: "A step retries." }])
        })
    )
  }
})
