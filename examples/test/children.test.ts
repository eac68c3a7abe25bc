import { assert, describe, it } from "@effect/vitest"
import { Child, Event, HumanResponse, Workflow } from "@eventflow/core"
import { Chunk, Effect, Stream } from "effect"
import { main, purchase } from "../children.js"
import { runProgram } from "./program.js"

describe("examples/children (in process)", () => {
  it.effect("the children's quotes add up, and the approval child is answered through the parent", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* main("yes"), { total: 70, approved: true })
      assert.deepStrictEqual(yield* main("no"), { total: 70, approved: false })
    })
  )

  it.scoped("the parent's stream has every child's events, named by the child runs", () =>
    Effect.gen(function* () {
      const handle = yield* Workflow.start(purchase, { items: ["tea"] }, { runId: "buy-1" })
      yield* handle.settled
      const [prompt] = yield* handle.pending
      assert.strictEqual(prompt.runId, "buy-1/buy@0/c1")
      yield* handle.send(HumanResponse.make({ response: "yes", requestId: prompt.requestId }))
      yield* handle.result
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events()))
      assert.deepStrictEqual(
        events.filter(Event.is(Child.ChildEvent)).map((e) => [e.runId, (e.event as { _tag: string })._tag]),
        [
          ["buy-1/buy@0/c0", "Quoted"],
          ["buy-1/buy@0/c0", "StopEvent"],
          ["buy-1/buy@0/c1", "InputRequired"],
          ["buy-1/buy@0/c1", "StopEvent"]
        ]
      )
    })
  )
})

describe("examples/children (program)", () => {
  it.live("prints the result and draws the children as subgraphs", () =>
    Effect.promise(async () => {
      const { code, stdout, stderr } = await runProgram("examples/children.ts", {
        env: { ...process.env, ANSWER: "yes" },
        input: "",
        deadlineMs: 30_000
      })
      assert.strictEqual(code, 0, stderr)
      assert.include(stdout, "total 70: approved")
      assert.include(stdout, `subgraph c0["child workflow: quote"]`)
      assert.include(stdout, `subgraph c1["child workflow: approve"]`)
      assert.include(stdout, "s0 -. runs .-> c1")
    })
  )
})
