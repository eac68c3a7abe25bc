import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  Follower,
  HumanResponse,
  InputRequired,
  type Run,
  RunEngine,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Chunk, Context, Effect, Fiber, Option, Ref, Schema, Stream } from "effect"
import { approval, Draft, Shown } from "../approval.js"
import { runProgram } from "./program.js"

const DEADLINE_MS = 20_000

// --- in-process ---

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
          yield* handle.send(HumanResponse.make({ response: answers[k], requestId: prompt.requestId }))
        })
      )
    )
  })

describe("examples/approval (in process)", () => {
  it.scoped("feedback loops back into a revision; yes approves it; the durable run ends completed in the store", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(approval, { topic: "reviews" }, { durable: true })
      yield* Effect.fork(answerPrompts(handle, ["add an example", "yes"]))
      const result = yield* handle.result
      assert.deepStrictEqual(result, { text: "Eventflow makes reviews simple. (add an example)", revisions: 1 })

      const published = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events()))
      assert.deepStrictEqual(published.filter(Event.is(Shown)), [
        Shown.make({ text: "Eventflow makes reviews simple.", revision: 0 }),
        Shown.make({ text: "Eventflow makes reviews simple. (add an example)", revision: 1 })
      ])
      assert.strictEqual(published.filter(Event.is(InputRequired)).length, 2)

      const stored = yield* Effect.flatMap(RunStore.RunStore, (store) => store.load(handle.runId))
      assert.strictEqual(Option.getOrThrow(stored).status, "completed")
      assert.deepStrictEqual(Option.getOrThrow(stored).result, result)
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  it.effect("closing the scope of a waiting durable run detaches it; resuming by run id and answering approves", () =>
    Effect.gen(function* () {
      const store = yield* RunStore.RunStore
      const runId = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.start(approval, { topic: "restarts" }, { durable: true })
          yield* handle.events().pipe(Stream.filter(Event.is(InputRequired)), Stream.runHead)
          return handle.runId
        })
      )
      // The scope is closed, as when the process stops: the run is not cancelled, it waits in the store.
      const listed = yield* store.list({ status: RunStore.unfinished })
      assert.deepStrictEqual(
        listed.map((run) => [run.runId, run.status]),
        [[runId, "waiting"]]
      )

      const result = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* Workflow.resume(approval, runId)
          const pending = yield* handle.pending
          assert.strictEqual(pending.length, 1)
          yield* handle.send(HumanResponse.make({ response: "yes" }))
          const result = yield* handle.result
          // The log of both parts of the run, each event once.
          const published = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events()))
          assert.deepStrictEqual(published.filter(Event.is(Shown)), [
            Shown.make({ text: "Eventflow makes restarts simple.", revision: 0 })
          ])
          assert.strictEqual(published.filter(Event.is(InputRequired)).length, 1)
          return result
        })
      )
      assert.deepStrictEqual(result, { text: "Eventflow makes restarts simple.", revisions: 0 })
      assert.deepStrictEqual(yield* store.list({ status: RunStore.unfinished }), [])
    }).pipe(Effect.provide(RunStore.layerMemory))
  )

  // The idempotent step of the README's "Durable runs".
  class Mailer extends Context.Tag("Mailer")<
    Mailer,
    { readonly send: (message: { readonly idempotencyKey: string; readonly text: string }) => Effect.Effect<void> }
  >() {}

  /** A mail service that, like most payment and mail APIs, ignores a second request with the same idempotency key. */
  const makeMailer = Effect.gen(function* () {
    const delivered = yield* Ref.make(new Map<string, string>())
    const requests = yield* Ref.make(0)
    const mailer = Mailer.of({
      send: (message) =>
        Effect.zipRight(
          Ref.update(requests, (n) => n + 1),
          Ref.update(delivered, (m) =>
            m.has(message.idempotencyKey) ? m : new Map(m).set(message.idempotencyKey, message.text)
          )
        )
    })
    return { mailer, delivered, requests }
  })

  it.scoped(
    "a side effect before a wait runs again after a resume; its idempotency key keeps it from happening twice",
    () =>
      Effect.gen(function* () {
        const { mailer, delivered, requests } = yield* makeMailer
        const reviewWithMail = defineWorkflow({ name: "review-with-mail", output: Schema.String })
          .step(StartEvent, () => Effect.succeed(Draft.make({ text: "Hello" })), { emits: [Draft] })
          .step(
            Draft,
            (draft, ctx) =>
              Effect.gen(function* () {
                const mailer = yield* Mailer
                // Runs again if the run resumes while waiting below: the key makes the second call a no-op.
                yield* mailer.send({ idempotencyKey: `${ctx.runId}/${ctx.eventId}`, text: draft.text })
                const answer = yield* ctx.waitFor(HumanResponse, {
                  prompt: InputRequired.make({ prompt: `Approve "${draft.text}"?` })
                })
                return StopEvent.make({ result: answer.response })
              }),
            { name: "review", emits: [StopEvent] }
          )
        const program = Effect.gen(function* () {
          const snapshot = yield* Effect.scoped(
            Effect.gen(function* () {
              const handle = yield* Workflow.start(reviewWithMail)
              yield* handle.events().pipe(Stream.filter(Event.is(InputRequired)), Stream.runHead)
              return yield* handle.snapshot
            })
          )
          const handle = yield* Workflow.resume(reviewWithMail, snapshot)
          const resumed = yield* Effect.fork(handle.result)
          yield* handle.send(HumanResponse.make({ response: "approved" }))
          return yield* Fiber.join(resumed)
        })
        const result = yield* Effect.provideService(program, Mailer, mailer)
        assert.strictEqual(result, "approved")
        // The step ran twice (before the snapshot and after the resume) and asked twice; one mail went out.
        assert.strictEqual(yield* Ref.get(requests), 2)
        assert.strictEqual((yield* Ref.get(delivered)).size, 1)
      })
  )
})

// --- as a program, with piped input ---

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const tempDb = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-approval-"))
  dirs.push(dir)
  return path.join(dir, "approval.db")
}

/** Runs `examples/approval.ts` with `input` piped to its stdin; resolves with its exit code and output. */
const runExample = (db: string, input: string) =>
  runProgram("examples/approval.ts", { env: { ...process.env, APPROVAL_DB: db }, input, deadlineMs: DEADLINE_MS })

const count = (text: string, part: string) => text.split(part).length - 1

const unfinishedRuns = (db: string) =>
  Effect.runPromise(
    Effect.flatMap(RunStore.RunStore, (store) => store.list({ status: RunStore.unfinished })).pipe(
      Effect.provide(SqliteRunStore.layer({ filename: db }))
    )
  )

describe("examples/approval on a RunEngine", () => {
  it.effect("the README's run engine snippet: settled, list and send address the run by id", () =>
    Effect.gen(function* () {
      const listed: Array<ReadonlyArray<RunEngine.RunInfo>> = []
      const program = Effect.gen(function* () {
        const handle = yield* Workflow.start(approval, { topic: "engines" })
        const engine = yield* RunEngine.RunEngine
        yield* engine.settled(handle.runId) // "waiting"
        yield* engine.list() // [{ runId, workflow: "content-approval", status: "waiting" }]
        yield* engine.send(handle.runId, { _tag: "HumanResponse", response: "yes" })
        return yield* handle.result
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
      assert.deepStrictEqual(yield* program, { text: "Eventflow makes engines simple.", revisions: 0 })
      // The same calls, checked.
      yield* Effect.gen(function* () {
        const handle = yield* Workflow.start(approval, { topic: "engines" })
        const engine = yield* RunEngine.RunEngine
        assert.strictEqual(yield* engine.settled(handle.runId), "waiting")
        listed.push(yield* engine.list())
        assert.deepStrictEqual(listed[0], [{ runId: handle.runId, workflow: "content-approval", status: "waiting" }])
      }).pipe(Effect.scoped, Effect.provide(RunEngine.layerLocal))
    })
  )
})

describe("examples/approval followed", () => {
  it.scoped("the README's follow snippet: handle.follow for one run, one Follower for many", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const log = (line: string) => Effect.sync(() => lines.push(line))
      const program = Effect.gen(function* () {
        // One run: a callback per published event, with its offset (resume with `from: offset + 1`).
        const one = yield* Workflow.start(approval, { topic: "callbacks" })
        const follower1 = yield* Effect.fork(one.follow((event, offset) => log(`${offset} ${event._tag}`)))
        // Many runs: one fiber follows them all, one event at a time, in order within each run.
        const follower = yield* Follower.make((event, { runId }) =>
          Event.is(InputRequired)(event) ? log(`${runId} asks: ${event.prompt}`) : Effect.void
        )
        for (const topic of ["a", "b", "c"]) yield* follower.follow(yield* Workflow.start(approval, { topic }))
        yield* one.send(HumanResponse.make({ response: "yes" }))
        yield* Fiber.join(follower1)
      })
      yield* program
      yield* Effect.gen(function* () {
        for (let i = 0; i < 1_000 && lines.filter((l) => l.includes("asks")).length < 3; i++) yield* Effect.yieldNow()
      })
      const visible = lines.filter((l) => /^\d+ /.test(l)).map((l) => l.split(" ")[1])
      assert.deepStrictEqual(visible, ["Shown", "InputRequired", "StopEvent"])
      assert.strictEqual(lines.filter((l) => l.endsWith("asks: Approve? Type yes, or feedback:")).length, 3)
    })
  )
})

describe("examples/approval (as a program)", () => {
  it("with piped feedback then yes: revises once and approves", async () => {
    const db = tempDb()
    const { code, stdout, stderr } = await runExample(db, "add an example\nyes\n")
    assert.strictEqual(code, 0, stderr)
    assert.match(stdout, /^Started run /)
    assert.include(stdout, "Draft (revision 0):\n  Eventflow makes approvals simple.")
    assert.include(stdout, "Draft (revision 1):\n  Eventflow makes approvals simple. (add an example)")
    assert.strictEqual(count(stdout, "Approve? Type yes, or feedback:"), 2)
    assert.include(stdout, "Approved after 1 revision(s):\n  Eventflow makes approvals simple. (add an example)")
    assert.deepStrictEqual(await unfinishedRuns(db), [])
  })

  it("input that ends while waiting leaves the run in the file; the next process resumes it and approves", async () => {
    const db = tempDb()
    const first = await runExample(db, "shorter please\n")
    assert.strictEqual(first.code, 0, first.stderr)
    const runId = /^Started run (\S+)/.exec(first.stdout)?.[1]
    assert.isDefined(runId, first.stdout)
    assert.include(first.stdout, `No more input: run ${runId} stays waiting in the database`)
    assert.notInclude(first.stdout, "Approved after")
    const waiting = await unfinishedRuns(db)
    assert.deepStrictEqual(
      waiting.map((run) => [run.runId, run.status]),
      [[runId, "waiting"]]
    )

    const second = await runExample(db, "yes\n")
    assert.strictEqual(second.code, 0, second.stderr)
    assert.match(second.stdout, new RegExp(`^Resuming run ${runId}\n`))
    // The replayed log shows both drafts; only the open prompt is asked again.
    assert.include(second.stdout, "Draft (revision 1):\n  Eventflow makes approvals simple. (shorter please)")
    assert.strictEqual(count(second.stdout, "Approve? Type yes, or feedback:"), 1)
    assert.include(second.stdout, "Approved after 1 revision(s):\n  Eventflow makes approvals simple. (shorter please)")
    assert.deepStrictEqual(await unfinishedRuns(db), [])
  })
})
