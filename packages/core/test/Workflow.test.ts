import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { defineWorkflow, Event, StartEvent, StopEvent, Workflow } from "@eventflow/core"

const Query = Event.define("Query", { text: Schema.String })

describe("Workflow", () => {
  it.effect("runs a linear chain to its StopEvent result", () =>
    Effect.gen(function* () {
      const wf = defineWorkflow({ name: "chain", input: Schema.String, output: Schema.String })
        .step(StartEvent, (start) => Effect.succeed(Query.make({ text: start.input })), { emits: [Query] })
        .step(Query, (q) => Effect.succeed(StopEvent.make({ result: q.text.toUpperCase() })), { emits: [StopEvent] })
      assert.strictEqual(yield* Workflow.run(wf, "hello"), "HELLO")
    })
  )
})
