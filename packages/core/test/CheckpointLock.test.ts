import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  type Journal,
  JournalConflictError,
  JournalStore,
  JournalStoreError,
  RunEngine,
  RunStore,
  StartEvent,
  StopEvent,
  Workflow,
  WorkflowCancelledError
} from "@eventflow/core"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Option, Schema, Scope, TestClock } from "effect"

const A = Event.define("A", { n: Schema.Number })
const B = Event.define("B", { n: Schema.Number })

/** What a durable run needs (a run store and the journal store it appends to), over `journal`. */
const storesOver = (journal: JournalStore.Service) =>
  Effect.map(RunStore.makeMemory, (runs) =>
    Context.make(RunStore.RunStore, RunStore.withJournal(runs, journal)).pipe(
      Context.add(JournalStore.JournalStore, journal)
    )
  )

/** A journal store in memory whose appends fail ("disk full") while `failing.on`, counting the failures. */
const failingStore = Effect.map(JournalStore.makeMemory, (journal) => {
  const failing = { on: false, failed: 0 }
  const flaky: JournalStore.Service = {
    ...journal,
    append: (runId, entries, options) =>
      Effect.suspend(() => {
        if (!failing.on) return journal.append(runId, entries, options)
        failing.failed++
        return Effect.fail(new JournalStoreError({ operation: "append", runId, cause: new Error("disk full") }))
      })
  }
  return { journal, failing, flaky }
})

/**
 * A journal store in memory whose appends take a few turns of the scheduler (as a real store's I/O does), counting
 * how many are in flight at once; `hold` makes the next appends wait for a gate (interruptibly).
 */
const slowStores = Effect.gen(function* () {
  const journal = yield* JournalStore.makeMemory
  const seen = { inFlight: 0, max: 0, appends: 0 }
  const hold: { gate: Deferred.Deferred<void> | undefined } = { gate: undefined }
  const slow: JournalStore.Service = {
    ...journal,
    append: (runId, entries, options) =>
      Effect.suspend(() => {
        seen.inFlight++
        seen.appends++
        seen.max = Math.max(seen.max, seen.inFlight)
        const gate = hold.gate
        return Effect.zipRight(
          Effect.zipRight(
            gate === undefined ? Effect.void : Deferred.await(gate),
            Effect.repeatN(Effect.yieldNow(), 5)
          ),
          journal.append(runId, entries, options)
        ).pipe(Effect.ensuring(Effect.sync(() => seen.inFlight--)))
      })
  }
  const context = yield* storesOver(slow)
  return { journal, seen, hold, context }
})

/** The published log in the journal is whole (every chunk starts where the one before ended) and past its start. */
const assertLogWhole = (entries: ReadonlyArray<Journal.Entry>) => {
  let logged = 0
  for (const e of entries) {
    const log = e._tag === "Published" ? e : e._tag === "InvocationCompleted" ? e.log : undefined
    if (log === undefined) continue
    assert.strictEqual(log.from, logged)
    logged += log.events.length
  }
  assert.isAbove(logged, 3)
}

describe("the checkpoint lock of a durable run", () => {
  it.scoped("serializes the appends of steps that complete side by side: never two in flight for one run", () =>
    Effect.gen(function* () {
      const { context, journal, seen } = yield* slowStores
      // Eight invocations run side by side; each completion checkpoints while the others may be appending.
      const wide = defineWorkflow({ name: "lock-wide", input: Schema.Number, output: Schema.Number })
        .step(StartEvent, (s) => Effect.succeed(Array.from({ length: 8 }, (_, i) => A.make({ n: s.input + i }))), {
          emits: [A]
        })
        .step(
          A,
          (a) =>
            Effect.as(
              Effect.repeatN(Effect.yieldNow(), a.n % 3),
              a.n === 7 ? StopEvent.make({ result: 7 }) : undefined
            ),
          { emits: [StopEvent], workers: 8 }
        )
      assert.strictEqual(yield* Effect.provide(Workflow.run(wide, 0, { durable: true, runId: "wide" }), context), 7)
      assert.isAbove(seen.appends, 2)
      assert.strictEqual(seen.max, 1, "appends of one run in flight at once")
      const entries = yield* journal.read("wide")
      assert.deepStrictEqual(
        entries.map((e) => e.offset),
        entries.map((_, i) => i)
      )
      assert.strictEqual(entries.at(-1)?.entry._tag, "RunEnded")
    })
  )

  it.scoped(
    "is released when the append holding it is interrupted: the cancelled run's final checkpoint is written",
    () =>
      Effect.gen(function* () {
        const { context, hold, journal } = yield* slowStores
        const entered = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "lock-cancel", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A] })
          .step(A, (a) => Effect.as(Deferred.succeed(entered, undefined), B.make({ n: a.n })), { emits: [B] })
          .step(B, (b) => Effect.succeed(StopEvent.make({ result: b.n })), { emits: [StopEvent] })
        const handle = yield* Effect.provide(Workflow.start(wf, 1, { durable: true, runId: "cancel" }), context)
        // Step A's completion is appended through a gate that never opens: the worker waits in the append, holding
        // the run's lock, until the cancel interrupts it.
        hold.gate = yield* Deferred.make<void>()
        yield* Deferred.await(entered)
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        hold.gate = undefined
        const cancel = yield* Effect.fork(handle.cancel)
        const exit = yield* Effect.exit(handle.result)
        yield* Fiber.join(cancel)
        assert.isTrue(
          Exit.isFailure(exit) &&
            Cause.failureOption(exit.cause).pipe(Option.exists((e) => e instanceof WorkflowCancelledError))
        )
        // Written after the interrupted append let go of the lock (were it kept, the final checkpoint would wait forever)
        const entries = (yield* journal.read("cancel")).map((e) => e.entry as Journal.Entry)
        assert.deepInclude(
          entries.find((e) => e._tag === "RunEnded"),
          { status: "cancelled" }
        )
      })
  )

  it.scoped("a run's result is delivered once its final checkpoint is stored, not before", () =>
    Effect.gen(function* () {
      const { context, hold, journal } = yield* slowStores
      const gate = yield* Deferred.make<void>()
      const wf = defineWorkflow({ name: "lock-final", input: Schema.Number, output: Schema.Number })
        .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A] })
        .step(
          A,
          (a) =>
            Effect.sync(() => {
              // The completion of this last step (with RunEnded) is appended through the gate.
              hold.gate = gate
              return StopEvent.make({ result: a.n })
            }),
          { emits: [StopEvent] }
        )
      const result = yield* Effect.fork(Effect.provide(Workflow.run(wf, 5, { durable: true, runId: "final" }), context))
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      assert.isTrue(Option.isNone(yield* Fiber.poll(result)), "no result while the final append waits")
      assert.isFalse((yield* journal.read("final")).some((e) => e.entry._tag === "RunEnded"))
      hold.gate = undefined
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(result), 5)
      assert.strictEqual((yield* journal.read("final")).at(-1)?.entry._tag, "RunEnded")
    })
  )

  it.scoped(
    "closing a run's scope while its final checkpoint waits for the store interrupts it: the result is an interruption",
    () =>
      Effect.gen(function* () {
        const { context, hold, journal } = yield* slowStores
        const gate = yield* Deferred.make<void>()
        const wf = defineWorkflow({ name: "lock-final-closed", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A] })
          .step(
            A,
            (a) =>
              Effect.sync(() => {
                hold.gate = gate
                return StopEvent.make({ result: a.n })
              }),
            { emits: [StopEvent] }
          )
        const scope = yield* Scope.make()
        const handle = yield* Effect.provide(Workflow.start(wf, 5, { durable: true, runId: "closed" }), context).pipe(
          Scope.extend(scope)
        )
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
        yield* Scope.close(scope, Exit.void)
        const exit = yield* Effect.exit(handle.result)
        assert.isTrue(Exit.isInterrupted(exit))
        // The store keeps the run's last saved checkpoint (to resume from): no RunEnded.
        assert.isFalse((yield* journal.read("closed")).some((e) => e.entry._tag === "RunEnded"))
      })
  )

  it.scoped(
    "a send whose caller is interrupted while its save is in flight: the answer is journaled once and the run goes on",
    () =>
      Effect.gen(function* () {
        const { context, hold, journal, seen } = yield* slowStores
        const wf = defineWorkflow({ name: "lock-send", input: Schema.Number, output: Schema.String })
          .step(StartEvent, () => Effect.succeed(InputRequired.make({ prompt: "approve?" })), {
            emits: [InputRequired]
          })
          .step(HumanResponse, (answer) => Effect.succeed(StopEvent.make({ result: answer.response })), {
            emits: [StopEvent]
          })
        const handle = yield* Effect.provide(Workflow.start(wf, 1, { durable: true, runId: "send" }), context)
        // Waiting, and the checkpoint that registered the prompt is stored.
        while ((yield* handle.status) !== "waiting" || seen.inFlight > 0) yield* Effect.yieldNow()
        // The answer's save waits in the store (as on a slow disk) when its caller goes away (a client disconnecting).
        const gate = yield* Deferred.make<void>()
        hold.gate = gate
        const send = yield* Effect.fork(handle.send(HumanResponse.make({ response: "yes" })))
        while (seen.inFlight === 0) yield* Effect.yieldNow()
        yield* Fiber.interrupt(send)
        hold.gate = undefined
        yield* Deferred.succeed(gate, undefined)
        // The answer was applied when it was taken: the run goes on with it (before: its step was never started and
        // the run waited for ever), and the journal holds it (before: the interrupted append's batch was dropped).
        assert.strictEqual(yield* handle.result, "yes")
        const entries = (yield* journal.read("send")).map((e) => e.entry as Journal.Entry)
        assert.strictEqual(entries.filter((e) => e._tag === "ExternalEventSent").length, 1)
        assert.strictEqual(entries.at(-1)?._tag, "RunEnded")
      })
  )

  it.scoped(
    "a hop whose append fails is retried until the store takes it: the next step waits, the journal loses nothing",
    () =>
      Effect.gen(function* () {
        const { failing, flaky, journal } = yield* failingStore
        const context = yield* storesOver(flaky)
        const release = yield* Deferred.make<void>()
        const ran: Array<string> = []
        const wf = defineWorkflow({ name: "lock-retry", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.succeed(A.make({ n: s.input })), { emits: [A] })
          .step(
            A,
            (a) =>
              Effect.sync(() => ran.push("A")).pipe(
                Effect.zipRight(Deferred.await(release)),
                Effect.as(B.make({ n: a.n + 1 }))
              ),
            { emits: [B] }
          )
          .step(
            B,
            (b) =>
              Effect.sync(() => {
                ran.push("B")
                return StopEvent.make({ result: b.n })
              }),
            { emits: [StopEvent] }
          )
        const handle = yield* Effect.provide(Workflow.start(wf, 1, { durable: true, runId: "retry" }), context)
        while (ran.length === 0) yield* Effect.yieldNow()
        failing.on = true
        yield* Deferred.succeed(release, undefined)
        // A's completion is not stored: B does not start, and the append is tried again (backoff on the clock).
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(ran, ["A"])
        assert.isAbove(failing.failed, 2, "the failed append is retried")
        assert.strictEqual(yield* handle.status, "running")
        assert.isFalse(
          (yield* journal.read("retry")).some((e) => e.entry._tag === "InvocationCompleted" && e.entry.step === "A")
        )
        // The store takes writes again: the retry stores A's completion (with the log it carries) and the run goes on.
        failing.on = false
        yield* TestClock.adjust("5 seconds")
        const result = yield* Effect.fork(handle.result)
        for (let i = 0; i < 50 && Option.isNone(yield* Fiber.poll(result)); i++) yield* Effect.yieldNow()
        assert.deepStrictEqual(yield* Fiber.poll(result), Option.some(Exit.succeed(2)))
        assert.deepStrictEqual(ran, ["A", "B"])
        const entries = (yield* journal.read("retry")).map((e) => e.entry as Journal.Entry)
        assert.deepStrictEqual(
          entries.map((e) => (e._tag === "InvocationCompleted" ? `${e._tag}:${e.step}` : e._tag)),
          [
            "RunStarted",
            "Published",
            "InvocationCompleted:StartEvent",
            "InvocationCompleted:A",
            "InvocationCompleted:B",
            "RunEnded"
          ]
        )
        assertLogWhole(entries)
      })
  )

  it.scoped(
    "cancelled while an append the store already took is in flight, the run sends it again unchanged: no conflict, it ends cancelled",
    () =>
      Effect.gen(function* () {
        const journal = yield* JournalStore.makeMemory
        const seen = { takeThenHang: false, taken: 0, conflicts: 0 }
        // A store that commits an append and then never answers (a connection lost after its COMMIT), once.
        const hanging: JournalStore.Service = {
          ...journal,
          append: (runId, entries, options) =>
            Effect.suspend(() => {
              const append = journal.append(runId, entries, options).pipe(
                Effect.tapError((error) =>
                  Effect.sync(() => {
                    if (error._tag === "JournalConflictError") seen.conflicts++
                  })
                )
              )
              if (!seen.takeThenHang) return append
              seen.takeThenHang = false
              seen.taken++
              return Effect.zipRight(append, Effect.never)
            })
        }
        const context = yield* storesOver(hanging)
        const wf = defineWorkflow({ name: "resend", input: Schema.Number, output: Schema.Number })
          .step(StartEvent, (s) => Effect.succeed([A.make({ n: s.input }), B.make({ n: s.input })]), {
            emits: [A, B]
          })
          // A's completion is the append the store takes without answering.
          .step(A, () =>
            Effect.sync(() => {
              seen.takeThenHang = true
            })
          )
          .step(B, (b) => Effect.as(Effect.never, StopEvent.make({ result: b.n })), { emits: [StopEvent] })
        const handle = yield* Effect.provide(Workflow.start(wf, 1, { durable: true, runId: "resend" }), context)
        for (let i = 0; i < 50 && seen.taken === 0; i++) yield* Effect.yieldNow()
        assert.strictEqual(seen.taken, 1)
        // The cancel interrupts that append and ends the run: the log grows past what A's entry carries.
        const cancel = yield* Effect.fork(handle.cancel)
        const result = yield* Effect.fork(Effect.exit(handle.result))
        for (let i = 0; i < 20 && Option.isNone(yield* Fiber.poll(result)); i++) {
          yield* TestClock.adjust("5 seconds")
          for (let j = 0; j < 20; j++) yield* Effect.yieldNow()
        }
        const exit = yield* Fiber.poll(result)
        assert.isTrue(Option.isSome(exit), "the run ended")
        assert.strictEqual(seen.conflicts, 0, "the entry the store took was sent again as it was")
        assert.isTrue(Option.isSome(yield* Fiber.poll(cancel)), "the cancel returned")
        assert.strictEqual(yield* handle.status, "cancelled")
        const entries = (yield* journal.read("resend")).map((e) => e.entry as Journal.Entry)
        assert.strictEqual(entries.filter((e) => e.id === "done:A@0/StartEvent/0").length, 1)
        assert.deepStrictEqual(
          entries.flatMap((e) => (e._tag === "RunEnded" ? [e.status] : [])),
          ["cancelled"]
        )
        assertLogWhole(entries)
      })
  )

  it.scoped("a checkpoint that keeps failing is retried interruptibly: closing the run's scope ends the run", () =>
    Effect.gen(function* () {
      const { failing, flaky } = yield* failingStore
      const context = yield* storesOver(flaky)
      const release = yield* Deferred.make<void>()
      const wf = defineWorkflow({ name: "lock-retry-closed", input: Schema.Number, output: Schema.Number })
        .step(StartEvent, (s) => Effect.as(Deferred.await(release), A.make({ n: s.input })), { emits: [A] })
        .step(A, (a) => Effect.succeed(StopEvent.make({ result: a.n })), { emits: [StopEvent] })
      const scope = yield* Scope.make()
      const handle = yield* Effect.provide(
        Workflow.start(wf, 1, { durable: true, runId: "retry-closed" }),
        context
      ).pipe(Scope.extend(scope))
      // The start is stored; from here every append fails: the first step's checkpoint is retried on the clock.
      failing.on = true
      yield* Deferred.succeed(release, undefined)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("1 minute")
      assert.isAbove(failing.failed, 2, "the checkpoint is being retried")
      // Closing the scope interrupts the worker in its retries (were they uninterruptible, this would never end).
      const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
      for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(closed)); i++) yield* Effect.yieldNow()
      assert.isTrue(Option.isSome(yield* Fiber.poll(closed)), "the scope closed")
      const result = yield* Effect.fork(handle.result)
      for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(result)); i++) yield* Effect.yieldNow()
      const exit = yield* Fiber.poll(result)
      assert.isTrue(Option.isSome(exit) && Exit.isInterrupted(exit.value))
    })
  )
})

describe("a checkpoint the journal refuses as a conflict", () => {
  // B's first append fails ("disk full") when `bFailsFirst`: retried, then refused as a conflict, it stops as well.
  const twoWriters = (bFailsFirst: boolean) =>
    Effect.gen(function* () {
      const { failing, flaky, journal } = yield* failingStore
      const stores = yield* storesOver(journal)
      const bStores = yield* storesOver(flaky)
      // Each execution of the step waits for its own gate and returns which execution it was: the two processes'
      // completions of the same invocation differ.
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      let executions = 0
      const wf = defineWorkflow({ name: "conflict", input: Schema.Number, output: Schema.Number }).step(
        StartEvent,
        () =>
          Effect.suspend(() => {
            const n = executions++
            return Effect.as(Deferred.await(gates[n]!), StopEvent.make({ result: n }))
          }),
        { emits: [StopEvent] }
      )
      // Two in-process engines stand for two processes sharing the store: A starts the run, B resumes it.
      const onEngine = <A, E, R>(effect: Effect.Effect<A, E, R>, context = stores) =>
        Effect.provide(effect, Context.add(context, RunEngine.RunEngine, RunEngine.makeLocal()))
      const a = yield* onEngine(Workflow.start(wf, 1, { durable: true, runId: "two" }))
      const b = yield* onEngine(Workflow.resume(wf, "two"), bStores)
      while (executions < 2) yield* Effect.yieldNow()
      yield* Deferred.succeed(gates[0]!, undefined)
      assert.strictEqual(yield* a.result, 0)
      const written = (yield* journal.read("two")).length
      const bResult = yield* Effect.fork(b.result)
      failing.on = bFailsFirst
      yield* Deferred.succeed(gates[1]!, undefined)
      for (let i = 0; i < 50 && failing.failed === 0 && bFailsFirst; i++) yield* Effect.yieldNow()
      failing.on = false
      assert.strictEqual(failing.failed > 0, bFailsFirst)
      // Retried, B's append would be refused forever (with the clock moved on, its result would still not be there).
      yield* TestClock.adjust("10 minutes")
      const exit = yield* Fiber.poll(bResult)
      assert.isTrue(Option.isSome(exit), "B's result is delivered: its checkpoint is not retried")
      const died = Option.getOrThrow(exit).pipe(Exit.causeOption, Option.flatMap(Cause.dieOption))
      assert.isTrue(
        Option.exists(died, (defect) => defect instanceof JournalConflictError && defect.runId === "two"),
        `B's result dies with the conflict, got ${JSON.stringify(died)}`
      )
      // The journal is A's: B wrote nothing, and A's completion stands.
      const entries = yield* journal.read("two")
      assert.strictEqual(entries.length, written)
      assert.deepInclude(entries.at(-1)!.entry as Journal.Entry, { _tag: "RunEnded", status: "completed" })
      assert.strictEqual(yield* onEngine(Effect.flatMap(Workflow.resume(wf, "two"), (run) => run.result)), 0)
    })

  it.scoped(
    "two processes drive one run without fencing: the later completion conflicts, is not retried, and its run stops there",
    () => twoWriters(false)
  )

  it.scoped("an append that failed, retried and then refused as a conflict stops the run the same way", () =>
    twoWriters(true)
  )
})
