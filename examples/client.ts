/**
 * The typed client of `@eventflow/server`: starts a content-approval run on a running server, follows its events
 * over Server-Sent Events, answers the approval prompt over HTTP and prints the result.
 *
 *   pnpm serve &          (the server of examples/server.ts)
 *   pnpm client           (EVENTFLOW_URL=http://127.0.0.1:3000 by default; EVENTFLOW_TOKEN if the server has one;
 *                          ANSWER=yes by default: anything else is feedback and asks for a revision)
 */
import { pathToFileURL } from "node:url"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { InputRequired } from "@eventflow/core"
import { WorkflowClient } from "@eventflow/server/client"
import { Config, Console, Effect, Schema, Stream } from "effect"

/** Runs one approval over HTTP: the answers are taken from `answers` in order (the last one repeats). */
export const approveOverHttp = (options: {
  readonly baseUrl: string
  readonly token?: string | undefined
  readonly topic: string
  readonly answers: ReadonlyArray<string>
}) =>
  Effect.gen(function* () {
    const client = yield* WorkflowClient.make({ baseUrl: options.baseUrl, token: options.token })
    const { runId } = yield* client.eventflow.startRun({
      path: { name: "content-approval" },
      payload: { topic: options.topic },
      urlParams: {}
    })
    let asked = 0
    yield* client.events(runId).pipe(
      Stream.runForEach((event) =>
        Effect.gen(function* () {
          yield* Console.log(`#${event.id} ${event.type}`)
          if (event.type !== "InputRequired") return
          const prompt = yield* Schema.decodeUnknown(InputRequired)(event.data)
          const response = options.answers[Math.min(asked++, options.answers.length - 1)]
          yield* Console.log(`${prompt.prompt} ${response}`)
          yield* client.eventflow.sendEvent({
            path: { id: runId },
            payload: { type: "HumanResponse", data: { response, requestId: prompt.requestId } }
          })
        })
      )
    )
    return yield* client.eventflow.getRun({ path: { id: runId } })
  })

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.gen(function* () {
    const baseUrl = yield* Config.string("EVENTFLOW_URL").pipe(Config.withDefault("http://127.0.0.1:3000"))
    const token = yield* Config.string("EVENTFLOW_TOKEN").pipe(Config.option)
    const answer = yield* Config.string("ANSWER").pipe(Config.withDefault("yes"))
    const run = yield* approveOverHttp({
      baseUrl,
      token: token._tag === "Some" ? token.value : undefined,
      topic: "typed clients",
      answers: [answer, "yes"]
    })
    yield* Console.log(`Run ${run.runId}: ${run.status}`, run.result)
  }).pipe(Effect.provide(NodeHttpClient.layer), NodeRuntime.runMain)
}
