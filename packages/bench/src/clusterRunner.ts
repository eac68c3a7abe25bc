/**
 * A runner process of the cluster bench: `node dist/clusterRunner.js <postgres url> <port>`; prints `ready` once it
 * hosts runs, then runs until killed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ClusterEngine } from "@eventflow/cluster"
import { Effect } from "effect"
import { hops, three } from "./clusterWorkflows.js"

const [url = "", port = "0"] = process.argv.slice(2)

Effect.sync(() => console.log("ready")).pipe(
  Effect.zipRight(Effect.never),
  Effect.provide(ClusterEngine.layer({ workflows: [three, hops], postgres: { url }, runner: { port: Number(port) } })),
  NodeRuntime.runMain
)
