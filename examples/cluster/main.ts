/**
 * Scaling out: two nodes (each a runner of the cluster and an HTTP server, `node.ts`) on one PostgreSQL. Runs are
 * started through node A and wait for a person; node A is killed (`kill -9`); every run is answered through node B
 * (the answers to A's runs wait in PostgreSQL until B takes A's shards) and completes on B.
 *
 *   node --conditions=source --import tsx examples/cluster/main.ts
 *
 * Uses the database of `DATABASE_URL` when it is set; otherwise starts a throwaway local server (`PgTestServer`,
 * which needs PostgreSQL's server binaries: `apt-get install -y postgresql-15`) and deletes it at the end.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { pathToFileURL } from "node:url"
import { PgTestServer } from "@eventflow/postgres"
import { Console, Effect } from "effect"

const RUNS = 10

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

/** Starts a node; resolves once it listens. Killed with the scope. */
const startNode = (url: string) =>
  Effect.gen(function* () {
    const [runnerPort, httpPort] = [yield* freePort, yield* freePort]
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          process.execPath,
          [
            "--conditions=source",
            "--import",
            "tsx",
            "examples/cluster/node.ts",
            url,
            String(runnerPort),
            String(httpPort)
          ],
          { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, EFFECT_LOG_LEVEL: "Warning" } }
        )
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    yield* Effect.async<void, Error>((resume) => {
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8")
        if (out.includes("listening on")) resume(Effect.void)
      })
      child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
      child.once("exit", (code) => resume(Effect.fail(new Error(`node exited with ${code}: ${out}`))))
    })
    return { child, base: `http://127.0.0.1:${httpPort}` }
  })

const kill = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

const http = <A>(url: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return (await response.json()) as A
  })

interface RunInfo {
  readonly runId: string
  readonly status: string
  readonly pending: ReadonlyArray<{ readonly requestId: string }>
  readonly result?: { readonly answer: string }
}

export const main = (url: string) =>
  Effect.gen(function* () {
    const a = yield* startNode(url)
    const b = yield* startNode(url)
    yield* Console.log("two nodes started")
    // Started through node A; each answers once it waits for a person (its prompt in `pending`).
    const runs = yield* Effect.forEach(
      Array.from({ length: RUNS }, (_, i) => i),
      (i) => http<RunInfo>(`${a.base}/workflows/cluster-review/runs?wait=true`, { topic: `topic ${i}` }),
      { concurrency: RUNS }
    )
    yield* Console.log(`${runs.filter((r) => r.status === "waiting").length} runs wait for a person`)
    yield* kill(a.child)
    const killedAt = Date.now()
    yield* Console.log("node A killed (kill -9)")
    // Answered through node B: the answers to the runs A hosted wait in PostgreSQL until B takes A's shards.
    yield* Effect.forEach(
      runs,
      (run) =>
        http(`${b.base}/runs/${run.runId}/events`, {
          type: "HumanResponse",
          data: { response: "publish", requestId: run.pending[0]!.requestId }
        }),
      { concurrency: RUNS }
    )
    const seconds = ((Date.now() - killedAt) / 1000).toFixed(1)
    const done = yield* Effect.forEach(runs, (run) => http<RunInfo>(`${b.base}/runs/${run.runId}`))
    const completed = done.filter((r) => r.status === "completed" && r.result?.answer === "publish").length
    yield* Console.log(`${completed} runs completed through node B`)
    yield* Console.error(`(every answer delivered ${seconds} s after the kill)`)
  }).pipe(Effect.scoped)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const program =
    process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== ""
      ? main(process.env.DATABASE_URL)
      : Effect.scoped(Effect.flatMap(PgTestServer.make(), (server) => main(server.url)))
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
