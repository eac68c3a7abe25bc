import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createServer } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Event, Testing, Workflow } from "@eventflow/core"
import { Embeddings, LLM, LLMError } from "@eventflow/llm"
import { Chunk, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import {
  ANSWER_SYSTEM,
  CorpusIndex,
  citationsOf,
  corpus,
  indexLayer,
  NOTHING_FOUND,
  DEFAULT_QUESTION,
  REWRITE_SYSTEM,
  Retrieved,
  rag,
  render,
  Status,
  TOP_K
} from "../rag.js"

/** The corpus index on the offline deterministic embedder. */
const localIndex = Layer.provide(indexLayer(corpus), Embeddings.layerLocal())
const scripted = (replies: ReadonlyArray<LLM.ScriptedReply>) => Layer.merge(LLM.layerScripted(replies), localIndex)

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const question = "My model calls fail with 429 errors. What should my step do?"
const QUERY = "retry rate limit schedule retry-after"
const ANSWER = "Give the step retry: LLM.retrySchedule() [retries.md]; it waits as the provider asks."

/** Runs `examples/rag.ts` as a child process with no API key in its environment (plus `extra`). */
const runExample = (extra: Record<string, string>, args: ReadonlyArray<string> = []) => {
  const env = { ...process.env, ...extra }
  delete env.ANTHROPIC_API_KEY
  delete env.OPENAI_API_KEY
  if (extra.LLM_PROVIDER === undefined) delete env.LLM_PROVIDER
  return promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", "examples/rag.ts", ...args], {
    cwd: repoRoot,
    env
  })
}

const docNamed = (name: string) => {
  const doc = corpus.find((d) => d.name === name)
  if (doc === undefined) throw new Error(`no ${name} in the corpus`)
  return doc
}

describe("examples/rag", () => {
  it("ships a corpus of markdown docs with titles and text", () => {
    assert.isAtLeast(corpus.length, 8)
    for (const doc of corpus) {
      assert.match(doc.name, /\.md$/)
      assert.isAbove(doc.title.length, 0)
      assert.isAbove(doc.text.length, 100)
    }
  })

  it.effect(
    "the Orama index ranks the document about the query first (stemmed words), and finds nothing for nonsense",
    () =>
      Effect.gen(function* () {
        const index = yield* CorpusIndex
        const top = (query: string) => Effect.map(index.search(query, 3), (hits) => hits[0]?.doc.name)
        assert.strictEqual(yield* top("schedule retry-after rate limits"), "retries.md")
        // Stemming: "collecting" and "worker" find "collect" and "workers".
        assert.strictEqual(yield* top("collecting worker fanning"), "fan-out.md")
        assert.strictEqual(yield* top("waitFor person prompt"), "human-in-the-loop.md")
        assert.deepStrictEqual(yield* index.search("zebra quantum", 3), [])
        const hits = yield* index.search("step events state", 5)
        assert.isAtMost(hits.length, 5)
        for (let i = 1; i < hits.length; i++) assert.isAtLeast(hits[i - 1].score, hits[i].score)
      }).pipe(Effect.provide(localIndex))
  )

  for (const [plain, file] of [
    ["How do I stream tokens?", "streaming.md"],
    ["What happens when the model is rate limited?", "retries.md"],
    ["How does a workflow wait for a person to answer?", "human-in-the-loop.md"],
    ["How do I run several searches at once and combine the results?", "fan-out.md"],
    ["How do I test a single step?", "testing.md"],
    ["How do steps share state?", "state.md"]
  ] as const) {
    it.effect(`a plain-English question finds and cites its document: "${plain}" -> ${file}`, () =>
      Effect.gen(function* () {
        const result = yield* Workflow.run(rag, { question: plain })
        assert.deepStrictEqual(result.citations, [file])
        assert.include(result.answer, `[${file}]`)
      }).pipe(Effect.provide(Layer.merge(LLM.layerLocal(), localIndex)))
    )
  }

  it.scoped(
    "rewrites the query, retrieves with it, streams the synthesis from the retrieved docs, and cites them",
    () =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(rag, { question })
        const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events()))
        const result = yield* handle.result
        const requests = yield* Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.requests)
        assert.strictEqual(requests.length, 2)

        // 1. Query rewriting: the question goes to the model with the rewrite instructions.
        assert.strictEqual(requests[0].system, REWRITE_SYSTEM)
        assert.deepStrictEqual(requests[0].messages, [{ role: "user", content: question }])
        const statuses = events.filter(Event.is(Status)).map((s) => `${s.step}: ${s.message}`)
        assert.strictEqual(statuses[0], `rewrite: ${QUERY}`)

        // 2. Retrieval uses the rewritten query: the top hits of the index's search for it.
        const index = yield* CorpusIndex
        const expected = yield* index.search(QUERY, TOP_K)
        assert.strictEqual(expected[0].doc.name, "retries.md")
        // (The original question would retrieve other documents: this checks the rewritten query was used.)
        const names = (hits: ReadonlyArray<{ readonly doc: { readonly name: string } }>) => hits.map((h) => h.doc.name)
        assert.notDeepEqual(names(yield* index.search(question, TOP_K)), names(expected))
        assert.isTrue(statuses[1].startsWith(`retrieve: ${expected[0].doc.name} (`))

        // 3. Synthesis: the retrieved documents' text is in the prompt, with the question.
        assert.strictEqual(requests[1].system, ANSWER_SYSTEM)
        const prompt = LLM.textOf(requests[1].messages[0])
        for (const hit of expected) assert.include(prompt, `[${hit.doc.name}] ${hit.doc.text}`)
        assert.include(prompt, `Question: ${question}`)
        for (const doc of corpus) {
          if (!expected.some((hit) => hit.doc.name === doc.name)) assert.notInclude(prompt, doc.text)
        }

        // The answer's tokens were published as TokenDelta events, in order, and add up to the answer.
        const deltas = events.filter(Event.is(LLM.TokenDelta))
        assert.isAbove(deltas.length, 1)
        assert.strictEqual(deltas.map((d) => d.text).join(""), ANSWER)

        // 4. Citations: the documents the answer cites.
        assert.deepStrictEqual(result, { answer: ANSWER, citations: ["retries.md"] })
      }).pipe(Effect.provide(scripted([QUERY, ANSWER])))
  )

  it("cites the documents named in the answer, or every retrieved one when it names none", () => {
    const docs = [docNamed("retries.md"), docNamed("state.md"), docNamed("steps.md")]
    assert.deepStrictEqual(citationsOf("See [state.md] and [steps.md].", docs), ["state.md", "steps.md"])
    assert.deepStrictEqual(citationsOf("[events.md] is not retrieved.", docs), ["retries.md", "state.md", "steps.md"])
  })

  it.effect("retrieval ends the run with no citations when no document matches the query", () =>
    Effect.gen(function* () {
      const result = yield* Workflow.run(rag, { question: "zebra quantum" })
      assert.deepStrictEqual(result, { answer: NOTHING_FOUND, citations: [] })
      // Only the rewrite called the model: nothing was synthesised.
      assert.lengthOf(yield* Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.requests), 1)
    }).pipe(Effect.provide(scripted(["zebra quantum"])))
  )

  it.effect("the synthesis step, unit-tested: streams its answer into TokenDelta events and cites its sources", () =>
    Effect.gen(function* () {
      const docs = [docNamed("streaming.md"), docNamed("testing.md")]
      const step = yield* Testing.runStep(
        rag,
        "synthesise",
        Retrieved.make({ question: "How are tokens shown?", docs })
      )
      assert.deepStrictEqual(
        step.output.map((e) => e._tag),
        ["StopEvent"]
      )
      assert.deepStrictEqual(step.written, [
        LLM.TokenDelta.make({ text: "Each ", step: "synthesise", eventId: "0", attempt: 1 }),
        LLM.TokenDelta.make({ text: "token ", step: "synthesise", eventId: "0", attempt: 1 }),
        LLM.TokenDelta.make({ text: "is ", step: "synthesise", eventId: "0", attempt: 1 }),
        LLM.TokenDelta.make({ text: "a ", step: "synthesise", eventId: "0", attempt: 1 }),
        LLM.TokenDelta.make({ text: "TokenDelta ", step: "synthesise", eventId: "0", attempt: 1 }),
        LLM.TokenDelta.make({ text: "[streaming.md].", step: "synthesise", eventId: "0", attempt: 1 })
      ])
    }).pipe(Effect.provide(scripted(["Each token is a TokenDelta [streaming.md]."])))
  )

  it.effect("a transient model failure (Overloaded) is retried with LLM.retrySchedule, after its delay", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(rag, { question })
      const result = yield* Effect.fork(handle.result)
      const calls = Effect.map(
        Effect.flatMap(LLM.ScriptedLLM, (scripted) => scripted.requests),
        (requests) => requests.length
      )
      yield* Effect.zipRight(Effect.yieldNow(), calls).pipe(Effect.repeat({ until: (n) => n >= 1 }))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      // The first call failed: the retry waits the schedule's first delay (500 millis) before calling again.
      assert.strictEqual(yield* calls, 1)
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual(yield* Fiber.join(result), { answer: ANSWER, citations: ["retries.md"] })
      const trace = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events({ internal: true })))
      const failed = trace.filter(Event.is(Event.StepFailedAttempt))
      assert.deepStrictEqual(
        failed.map((e) => e.step),
        ["rewrite"]
      )
      assert.strictEqual(yield* calls, 3)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        scripted([new LLMError.LLMError({ reason: "Overloaded", provider: "scripted", detail: "busy" }), QUERY, ANSWER])
      )
    )
  )

  it.effect("a synthesis stream cut midway and retried: the printed output marks the discarded attempt", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(rag, { question })
      const events = yield* Effect.fork(Stream.runCollect(handle.events()))
      yield* TestClock.adjust("500 millis")
      const result = yield* handle.result
      assert.strictEqual(result.answer, ANSWER, "the answer is the final attempt's text only")
      let texts: LLM.TokenTexts = new Map()
      let output = ""
      for (const event of Chunk.toReadonlyArray(yield* Fiber.join(events))) {
        const next = render(texts, event)
        texts = next.texts
        output += next.output
      }
      assert.include(
        output,
        `Give the step retry:\n[synthesise] attempt 1 failed; the text above is discarded. Attempt 2:\n${ANSWER}`
      )
      assert.deepStrictEqual(
        [...texts.values()].map((t) => t.text),
        [ANSWER]
      )
    }).pipe(
      Effect.scoped,
      Effect.provide(
        scripted([
          QUERY,
          {
            text: "Give the step retry:",
            thenFail: new LLMError.LLMError({ reason: "Network", provider: "scripted", detail: "cut" })
          },
          ANSWER
        ])
      )
    )
  )

  it("runs as a program without an API key: prints the progress, the streamed answer and its sources", async () => {
    const { stdout } = await runExample({})
    // The local model echoes the question as the query, and answers with the first sentence of the top document.
    assert.include(stdout, `[rewrite] ${DEFAULT_QUESTION}\n`)
    assert.include(stdout, "[retrieve] retries.md (")
    const firstSentence = /^.*?\.(?=\s|$)/.exec(docNamed("retries.md").text)?.[0]
    assert.include(stdout, `\n[retries.md] ${firstSentence}\n\nSources: retries.md`)
  })
  it("a question the corpus cannot answer: the program prints an answer that says so, and no sources", async () => {
    const { stderr, stdout } = await runExample({}, ["Who won the football world cup in 1998?"])
    assert.include(stdout, "[retrieve] no match\n")
    assert.include(stdout, `${NOTHING_FOUND}\n`)
    assert.include(stdout, "Sources: none")
    assert.strictEqual(stderr.match(/simulated/g)?.length, 1, "offline honesty: one line on stderr")
  })

  it("LLM_PROVIDER switches the provider: the local model runs, Anthropic without a key fails naming the key", async () => {
    const local = await runExample({ LLM_PROVIDER: "local" })
    assert.include(local.stdout, "Sources: retries.md")
    const anthropic = await runExample({ LLM_PROVIDER: "anthropic" }).then(
      () => assert.fail("expected the run to fail without ANTHROPIC_API_KEY"),
      (error: { code: number; stdout: string; stderr: string }) => error
    )
    assert.notStrictEqual(anthropic.code, 0)
    assert.include(anthropic.stderr, "ANTHROPIC_API_KEY")
    assert.notInclude(anthropic.stdout, "[rewrite]")
  })

  it("over HTTP (examples/server.ts), the SSE stream's TokenDelta events carry the step, the event and the attempt", async () => {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer()
      probe.once("error", reject)
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address()
        probe.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(address)))
      })
    })
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-rag-sse-"))
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "examples/server.ts"], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), SERVER_DB: path.join(dir, "server.db"), LLM_PROVIDER: "local" }
    })
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let output = ""
        const timer = setTimeout(() => reject(new Error(`no URL in time\n${output}`)), 30_000)
        const onData = (chunk: Buffer) => {
          output += chunk
          const match = /listening on (http:\/\/\S+)/.exec(output)
          if (match !== null) {
            clearTimeout(timer)
            resolve(match[1]!)
          }
        }
        child.stdout.on("data", onData)
        child.stderr.on("data", onData)
      })
      const started = await fetch(`${base}/workflows/rag/runs`, {
        method: "POST",
        body: JSON.stringify({ question: "How do I stream tokens?" }),
        headers: { "content-type": "application/json" }
      })
      const { runId } = (await started.json()) as { runId: string }
      const sse = await (await fetch(`${base}/runs/${runId}/events`)).text()
      const deltas = [...sse.matchAll(/event: TokenDelta\n(?:[a-z]+: .*\n)*?data: (.*)\n/g)].map((m) =>
        JSON.parse(m[1]!)
      )
      assert.isAbove(deltas.length, 1, sse)
      for (const delta of deltas) {
        assert.strictEqual(delta.step, "synthesise")
        assert.strictEqual(delta.attempt, 1)
        assert.isString(delta.eventId)
      }
      // A client applies the rule of TokenDelta with LLM.foldTokens.
      const texts = deltas.reduce(LLM.foldTokens, new Map() as LLM.TokenTexts)
      assert.include([...texts.values()][0]!.text, "[streaming.md]")
    } finally {
      child.kill("SIGKILL")
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
