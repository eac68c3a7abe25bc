/**
 * Child workflows: a purchase asks for a quote per item (child runs side by side, `ctx.start`), then runs an
 * approval (a child that waits for a person, `ctx.run`) whose prompt is answered through the PARENT's handle.
 * The children's progress arrives in the parent's stream as `ChildEvent`s; `toMermaid` draws them as subgraphs.
 *
 *   node --conditions=source --import tsx examples/children.ts      (ANSWER=yes by default)
 */
import { pathToFileURL } from "node:url"
import {
  Child,
  defineWorkflow,
  Event,
  HumanResponse,
  InputRequired,
  StartEvent,
  StopEvent,
  Workflow
} from "@eventflow/core"
import { Config, Console, Effect, Schema, Stream } from "effect"

export const Quoted = Event.define("Quoted", { item: Schema.String, price: Schema.Number })

/** A quote for one item (a deterministic price). */
export const quote = defineWorkflow({
  name: "quote",
  input: Schema.Struct({ item: Schema.String }),
  output: Schema.Struct({ item: Schema.String, price: Schema.Number })
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const price = 10 * start.input.item.length
      yield* ctx.write(Quoted.make({ item: start.input.item, price }))
      return StopEvent.make({ result: { item: start.input.item, price } })
    }),
  { name: "price", emits: [StopEvent] }
)

/** Asks a person to approve a total. */
export const approve = defineWorkflow({
  name: "approve",
  input: Schema.Struct({ total: Schema.Number }),
  output: Schema.Boolean
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      const answer = yield* ctx.waitFor(HumanResponse, {
        prompt: InputRequired.make({ prompt: `Approve a total of ${start.input.total}?`, requestId: "total" })
      })
      return StopEvent.make({ result: answer.response.trim().toLowerCase() === "yes" })
    }),
  { name: "ask", emits: [StopEvent] }
)

export const purchase = defineWorkflow({
  name: "purchase",
  input: Schema.Struct({ items: Schema.Array(Schema.String) }),
  output: Schema.Struct({ total: Schema.Number, approved: Schema.Boolean })
}).step(
  StartEvent,
  (start, ctx) =>
    Effect.gen(function* () {
      // Side by side: one child run per item, each with its handle.
      const quotes = yield* Effect.forEach(start.input.items, (item) => ctx.start(quote, { item }))
      const prices = yield* Effect.forEach(quotes, (handle) => handle.result)
      const total = prices.reduce((sum, q) => sum + q.price, 0)
      // One child at a time: its result is typed (boolean), its prompt is answered through this run.
      const approved = yield* ctx.run(approve, { total })
      return StopEvent.make({ result: { total, approved } })
    }),
  { name: "buy", emits: [StopEvent], children: [quote, approve] }
)

export const main = (answer: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* Workflow.start(purchase, { items: ["tea", "cake"] })
      yield* handle.events().pipe(
        Stream.filter(Event.is(Child.ChildEvent)),
        Stream.runForEach((e) => Console.log(`[${e.workflow}] ${JSON.stringify(e.event)}`)),
        Effect.fork
      )
      // The parent waits for the person its child waits for; the child's prompt is in the parent's `pending`.
      yield* handle.settled
      for (const prompt of yield* handle.pending) {
        yield* Console.log(`${(prompt.prompt as InputRequired).prompt} ${answer}`)
        yield* handle.send(HumanResponse.make({ response: answer, requestId: prompt.requestId }))
      }
      const result = yield* handle.result
      yield* Console.log(`total ${result.total}: ${result.approved ? "approved" : "refused"}`)
      return result
    })
  )

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(
    Effect.flatMap(Config.string("ANSWER").pipe(Config.withDefault("yes")), (answer) =>
      Effect.zipRight(main(answer), Console.log(`\n${Workflow.toMermaid(purchase)}`))
    )
  )
}
