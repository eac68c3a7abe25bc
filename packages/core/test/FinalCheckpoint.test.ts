import { assert, describe, it } from "@effect/vitest"
import { defineWorkflow, Event, RunStore, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { Data, Effect, Exit, Option, Schema } from "effect"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly card: string }> {
  override get message() {
    return `the payment service declined card ${this.card}`
  }
}

const Charge = Event.define("Charge", { card: Schema.String })

const payment = defineWorkflow({
  name: "payment",
  input: Schema.Struct({ card: Schema.String }),
  output: Schema.String
})
  .step(StartEvent, (start) => Effect.succeed(Charge.make({ card: start.input.card })), { emits: [Charge] })
  .step(Charge, (charge) => Effect.fail(new CardDeclined({ card: charge.card })), { emits: [StopEvent] })

describe("the final checkpoint of a durable run", () => {
  it.scoped("of a failed run records its error (what a server shows once the run has left memory)", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(payment, { card: "4242" }, { durable: true })
      const exit = yield* Effect.exit(handle.result)
      assert.isTrue(Exit.isFailure(exit))
      const stored = yield* RunStore.RunStore.pipe(Effect.flatMap((store) => store.load(handle.runId)))
      assert.isTrue(Option.isSome(stored))
      const snapshot = Option.getOrThrow(stored)
      assert.strictEqual(snapshot.status, "failed")
      assert.deepStrictEqual(snapshot.error, {
        _tag: "CardDeclined",
        message: "the payment service declined card 4242",
        // Its own fields too (a parent whose step runs this run as a child gets the error back from them).
        fields: { card: "4242" }
      })
    }).pipe(Effect.provide(RunStore.layerMemory))
  )
})
