/**
 * Serves the approval and RAG workflows over HTTP with `@eventflow/server`, runs kept in a SQLite file (unfinished
 * runs resume when the server starts again). No API key needed: the RAG workflow falls back to the local model.
 *
 *   pnpm serve            (PORT=3000 and SERVER_DB=eventflow-server.db by default)
 *
 * It runs with `NodeRuntime.runMain`: SIGTERM or SIGINT interrupts the program, which closes the server layer (it
 * stops accepting requests; the runs are interrupted and keep their last checkpoint) and the process exits with 0.
 */
import { pathToFileURL } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { WorkflowServer } from "@eventflow/server"
import { Console, Effect, Layer } from "effect"
import { approval } from "./approval.js"
import { appLayer, rag } from "./rag.js"

export const serve = (options: { readonly port: number; readonly filename: string }) =>
  Effect.gen(function* () {
    yield* Layer.build(WorkflowServer.layer({ workflows: [approval, rag], ...options }).pipe(Layer.provide(appLayer)))
    yield* Console.log(`Eventflow server listening on http://127.0.0.1:${options.port}`)
    return yield* Effect.never
  }).pipe(Effect.scoped)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const filename = process.env.SERVER_DB ?? "eventflow-server.db"
  NodeRuntime.runMain(serve({ port, filename }))
}
