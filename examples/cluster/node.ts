/**
 * One node of the cluster example: a runner of the cluster (it hosts runs) that also serves them over HTTP.
 *
 *   node --conditions=source --import tsx examples/cluster/node.ts <postgres url> <runner port> <http port>
 */
import { NodeRuntime } from "@effect/platform-node"
import { ClusterEngine } from "@eventflow/cluster"
import { WorkflowServer } from "@eventflow/server"
import { Console, Effect, Layer } from "effect"
import { review } from "./workflow.js"

const [url = "", runnerPort = "34431", httpPort = "3000"] = process.argv.slice(2)

// The server serves runs of the cluster: started, answered and followed through any node.
const node = WorkflowServer.layerWithStore({ workflows: [review], port: Number(httpPort), studio: false }).pipe(
  Layer.provide(ClusterEngine.layer({ workflows: [review], postgres: { url }, runner: { port: Number(runnerPort) } }))
)

Console.log(`node ${process.pid} listening on http://127.0.0.1:${httpPort}`).pipe(
  Effect.zipRight(Effect.never),
  Effect.provide(node),
  NodeRuntime.runMain
)
