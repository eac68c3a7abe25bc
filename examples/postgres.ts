/**
 * Durable runs on PostgreSQL (`@eventflow/postgres`): a run that waits for a person is started on one pool and
 * answered from another (as another process would), a journal is written by a fenced writer (a second owner
 * fences the first), and the journal is followed as it grows; a run's published events are followed from a pool
 * that does not host it.
 *
 *   node --conditions=source --import tsx examples/postgres.ts
 *
 * Uses the database of `DATABASE_URL` when it is set; otherwise starts a throwaway local server (`PgTestServer`,
 * which needs PostgreSQL's server binaries: `apt-get install -y postgresql-15`) and deletes it at the end.
 */
import { pathToFileURL } from "node:url"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  Journal,
  JournalStore,
  RunEvents,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { PgJournalStore, PgRunStore, PgTestServer } from "@eventflow/postgres"
import { Console, Effect, Fiber, Layer, Schema, Stream } from "effect"

export const Draft = Event.define("Draft", { text: Schema.String })

/** A draft, then a review that waits for a person. */
export const review = defineWorkflow({
  name: "pg-review",
  input: Schema.Struct({ topic: Schema.String }),
  output: Schema.Struct({ text: Schema.String, answer: Schema.String })
})
  .step(StartEvent, (start) => Effect.succeed(Draft.make({ text: `About ${start.input.topic}` })), {
    name: "draft",
    emits: [Draft]
  })
  .step(
    Draft,
    (draft, ctx) =>
      Effect.map(
        ctx.waitFor(HumanResponse, { prompt: InputRequired.make({ prompt: "Publish?", requestId: "publish" }) }),
        (answer) => StopEvent.make({ result: { text: draft.text, answer: answer.response } })
      ),
    { name: "review", emits: [StopEvent] }
  )

/** Starts a run on one pool and leaves it waiting; resumes and answers it on another. */
const durableRun = (url: string) =>
  Effect.gen(function* () {
    const runId = yield* Effect.gen(function* () {
      const handle = yield* Workflow.start(review, { topic: "Postgres" }, { durable: true })
      yield* handle.events().pipe(Stream.filter(Event.is(InputRequired)), Stream.take(1), Stream.runDrain)
      return handle.runId
    }).pipe(Effect.scoped, Effect.provide(PgRunStore.layer({ url })))
    yield* Console.log(`run ${runId} waits for an answer; its pool is closed`)
    const result = yield* Effect.gen(function* () {
      const handle = yield* Workflow.resume(review, runId)
      yield* handle.send(HumanResponse.make({ response: "yes", requestId: "publish" }))
      return yield* handle.result
    }).pipe(Effect.scoped, Effect.provide(PgRunStore.layer({ url })))
    yield* Console.log(`resumed on another pool: ${JSON.stringify(result)}`)
  })

const started = (runId: string): Journal.Entry => ({
  _tag: "RunStarted",
  id: Journal.ids.runStarted,
  version: Journal.version,
  runId,
  workflow: "pg-review",
  signature: "example",
  input: { topic: "Postgres" },
  state: {},
  options: { trace: false }
})

const hop = (step: string, n: number): Journal.Entry => ({
  _tag: "InvocationCompleted",
  id: Journal.ids.invocationCompleted(step, `x/${n}`),
  step,
  eventId: `x/${n}`,
  tag: "Draft",
  attempts: 1,
  events: [],
  sends: [],
  writes: [],
  state: {}
})

/** Two writers claim one run: the first is fenced once the second has claimed. A follower sees every entry. */
const fencedJournal = (url: string) =>
  Effect.gen(function* () {
    const store = yield* JournalStore.JournalStore
    const runId = `journal-${Date.now()}`
    const follower = yield* PgJournalStore.follow(runId, { fromOffset: 0 }).pipe(
      Stream.runForEach((stored) => Console.log(`followed ${stored.offset} ${stored.entry._tag} ${stored.entry.id}`)),
      Effect.fork
    )
    const first = yield* JournalStore.claimWriter(store, runId)
    yield* first.append([started(runId), hop("first", 0)])
    const writer = yield* JournalStore.claimWriter(store, runId) // epoch 1, 2, 3, … per run
    yield* writer.append([hop("second", 0)]) // JournalFencedError once another writer claims
    const refused = yield* Effect.flip(first.append([hop("first", 1)]))
    yield* Console.log(`first writer (epoch ${first.epoch}): ${refused._tag}`)
    yield* writer.append([{ _tag: "RunEnded", id: Journal.ids.runEnded, status: "completed" }])
    yield* Fiber.join(follower)
  }).pipe(Effect.provide(PgJournalStore.layerFromClient()), Effect.provide(PgJournalStore.clientLayer({ url })))

/**
 * A run hosted on one pool is followed from another, as another process would (a server process that does not
 * host the run serves its SSE this way): its published events come from its journal, with the offsets the hosting
 * process's `handle.events()` gives them, until the run ends.
 */
const eventsFromAnyProcess = (url: string) =>
  Effect.gen(function* () {
    const hosting = yield* Layer.build(PgRunStore.layerWithJournal({ url }))
    const handle = yield* Workflow.start(review, { topic: "events" }, { durable: true }).pipe(Effect.provide(hosting))
    const runId = handle.runId
    const elsewhere = yield* Layer.build(PgJournalStore.layer({ url }))
    const followed = yield* Effect.gen(function* () {
      const store = yield* JournalStore.JournalStore
      return yield* RunEvents.follow(store, runId).pipe(
        Stream.runForEach((event) => Console.log(`another process saw ${event._tag}`)),
        Effect.fork
      )
    }).pipe(Effect.provide(elsewhere))
    yield* handle.settled
    yield* handle.send(HumanResponse.make({ response: "yes", requestId: "publish" }))
    yield* Fiber.join(followed)
  })

export const main = Effect.scoped(
  Effect.gen(function* () {
    const url = process.env.DATABASE_URL || (yield* PgTestServer.make()).url
    yield* durableRun(url)
    yield* fencedJournal(url)
    yield* eventsFromAnyProcess(url)
  })
)

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  Effect.runPromise(main).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
