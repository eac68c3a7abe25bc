import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  RunStore,
  type Snapshot,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { Context, Deferred, Effect, Layer, Option, Schema, Stream } from "effect"

const RUNS = 200

const Part = Event.define("Part", { index: Schema.Number })
const PartDone = Event.define("PartDone", { value: Schema.Number })
const Summary = Event.define("Summary", { total: Schema.Number })
const Approved = Event.define("Approved", { total: Schema.Number, response: Schema.String })

/** begin (fan-out of 3) -> work -> join (collect 3) -> approve (waits for a person) -> finish. */
const workflow = defineWorkflow({
  name: "many-durable",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Struct({ total: Schema.Number, response: Schema.String })
})
  .step(StartEvent, (start) => Effect.succeed([0, 1, 2].map((k) => Part.make({ index: start.input.n * 10 + k }))), {
    name: "begin",
    emits: [Part]
  })
  .step(Part, (part) => Effect.succeed(PartDone.make({ value: part.index })), {
    name: "work",
    emits: [PartDone]
  })
  .step(
    PartDone,
    (done, ctx) =>
      Effect.map(ctx.collect(done, PartDone, 3), (all) =>
        Option.isNone(all) ? undefined : Summary.make({ total: all.value.reduce((sum, p) => sum + p.value, 0) })
      ),
    { name: "join", emits: [Summary] }
  )
  .step(
    Summary,
    (summary, ctx) =>
      Effect.map(
        ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: `total ${summary.total}?` }) }),
        (answer) => Approved.make({ total: summary.total, response: answer.response })
      ),
    { name: "approve", emits: [Approved] }
  )
  .step(
    Approved,
    (approved) => Effect.succeed(StopEvent.make({ result: { total: approved.total, response: approved.response } })),
    { name: "finish", emits: [StopEvent] }
  )

const expectedResult = (n: number) => ({ total: 30 * n + 3, response: `yes ${n}` })

/** Step completions (9: begin, 3 work, 3 join, approve, finish) + one waitFor registration + one send. */
const MIN_CHECKPOINTS_PER_RUN = 11

interface Saves {
  readonly count: Map<string, number>
  readonly last: Map<string, Snapshot.Snapshot>
  failures: number
}

/** The store of one connection to `filename`, whose `save` is counted (per run) in `saves`. */
const countingStore = (filename: string, saves: Saves, onSave: (snapshot: Snapshot.Snapshot) => void) =>
  Layer.effect(
    RunStore.RunStore,
    Effect.map(RunStore.RunStore, (inner) =>
      RunStore.RunStore.of({
        ...inner,
        save: (snapshot) =>
          inner.save(snapshot).pipe(
            Effect.tap(() =>
              Effect.sync(() => {
                saves.count.set(snapshot.runId, (saves.count.get(snapshot.runId) ?? 0) + 1)
                saves.last.set(snapshot.runId, snapshot)
                onSave(snapshot)
              })
            ),
            Effect.tapError(() =>
              Effect.sync(() => {
                saves.failures++
              })
            )
          )
      })
    )
  ).pipe(Layer.provide(SqliteRunStore.layer({ filename })))

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-concurrency-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => path.join(dir, "runs.db")
)

const manyRuns = (connections: number) =>
  Effect.gen(function* () {
    const filename = yield* tempFile
    const saves: Saves = { count: new Map(), last: new Map(), failures: 0 }
    const waiting = new Set<string>()
    const allWaiting = yield* Deferred.make<void>()
    const answer = yield* Deferred.make<void>()
    const onSave = (snapshot: Snapshot.Snapshot) => {
      if (snapshot.status === "waiting") waiting.add(snapshot.runId)
      if (waiting.size === RUNS) Deferred.unsafeDone(allWaiting, Effect.void)
    }
    const stores = yield* Effect.forEach(Array.from({ length: connections }), () =>
      Layer.build(countingStore(filename, saves, onSave))
    )

    const drive = (n: number) =>
      Effect.gen(function* () {
        const handle = yield* Workflow.start(workflow, { n }, { durable: true, runId: `run-${n}` })
        const prompt = yield* handle.events().pipe(Stream.filter(Event.is(InputRequired)), Stream.runHead)
        assert.isTrue(Option.isSome(prompt))
        // Nobody answers until all runs wait at the same time.
        yield* Deferred.await(answer)
        yield* handle.send(HumanResponse.make({ response: `yes ${n}` }))
        return yield* handle.result
      }).pipe(Effect.provide(stores[n % connections]))

    const runs = yield* Effect.fork(
      Effect.forEach(
        Array.from({ length: RUNS }, (_, n) => n),
        drive,
        { concurrency: "unbounded" }
      )
    )
    yield* Deferred.await(allWaiting)
    const store = Context.get(stores[0], RunStore.RunStore)
    const waitingInStore = yield* store.list({ workflow: workflow.name, status: ["waiting"] })
    assert.strictEqual(waitingInStore.length, RUNS)
    yield* Deferred.succeed(answer, undefined)

    const results = yield* runs.await.pipe(Effect.flatten)
    assert.strictEqual(results.length, RUNS)
    for (let n = 0; n < RUNS; n++) assert.deepStrictEqual(results[n], expectedResult(n))

    // Every checkpoint succeeded, every run was checkpointed at least after each step completion, wait and send,
    // and its last checkpoint is the completed run.
    assert.strictEqual(saves.failures, 0)
    assert.strictEqual(saves.count.size, RUNS)
    for (const [runId, count] of saves.count) {
      assert.isAtLeast(count, MIN_CHECKPOINTS_PER_RUN, runId)
      assert.strictEqual(saves.last.get(runId)?.status, "completed", runId)
    }

    // What is in the file: all runs, completed, each with its result, its one prompt and its StopEvent.
    const listed = yield* store.list({ workflow: workflow.name })
    assert.strictEqual(listed.length, RUNS)
    assert.isTrue(listed.every((run) => run.status === "completed"))
    assert.deepStrictEqual(yield* store.list({ status: RunStore.unfinished }), [])
    for (let n = 0; n < RUNS; n++) {
      const snapshot = Option.getOrThrow(yield* store.load(`run-${n}`))
      assert.deepStrictEqual(snapshot.result, expectedResult(n))
      const published = (snapshot.published as ReadonlyArray<Event.AnyEvent>).filter((e) => !Event.isInternal(e))
      assert.deepStrictEqual(
        published.map((e) => e._tag),
        ["InputRequired", "StopEvent"]
      )
    }
  })

describe("200 durable runs at once against one SQLite file", () => {
  it.scoped("through one store: every checkpoint and every result is in the file", () => manyRuns(1))

  it.scoped("through four connections to the same file: nothing is lost either", () => manyRuns(4))
})
