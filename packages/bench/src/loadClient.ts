/**
 * The load generator of the server load test, run as its own process so that it does not share the server's event
 * loop: `node loadClient.js <baseUrl> <runs> <clients> <first>`. `clients` concurrent clients, over a keep-alive pool
 * of exactly `clients` connections, start runs `first .. first + runs - 1` of the `double` workflow with
 * `POST /workflows/double/runs?wait=true` and check every answer (status `completed`, result `2 n`). Prints one JSON
 * line: `{ completed, latencies, failures, elapsedMs }` (latencies in milliseconds, in completion order).
 *
 * A keep-alive pool sized to the clients, opened before the clock starts, is what a real load generator (wrk, k6)
 * uses. `fetch`'s pool opens a new connection whenever a request is issued before the previous response's connection
 * is released, and on a server at full CPU a connection opened in the middle of the load can wait up to a second to be
 * served (seen in the server's accept times): that put connection set-up into the measured tail.
 */
import { Agent, request } from "node:http"

export interface LoadClientOutput {
  /** Runs answered `completed` with the expected result. */
  readonly completed: number
  readonly latencies: ReadonlyArray<number>
  readonly failures: ReadonlyArray<string>
  readonly elapsedMs: number
}

const send = (agent: Agent, url: string, body?: string) =>
  new Promise<{ readonly status: number; readonly text: string }>((resolve, reject) => {
    const req = request(
      url,
      body === undefined
        ? { method: "GET", agent }
        : {
            method: "POST",
            agent,
            headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
          },
      (response) => {
        let text = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          text += chunk
        })
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
        response.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(body)
  })

export const load = async (base: string, runs: number, clients: number, first: number): Promise<LoadClientOutput> => {
  const agent = new Agent({ keepAlive: true, maxSockets: clients })
  const latencies: Array<number> = []
  const failures: Array<string> = []
  let completed = 0
  let next = first
  const end = first + runs
  const client = async () => {
    while (next < end) {
      const n = next++
      const started = performance.now()
      try {
        const { status, text } = await send(agent, `${base}/workflows/double/runs?wait=true`, JSON.stringify({ n }))
        latencies.push(performance.now() - started)
        const body = JSON.parse(text) as { readonly status?: unknown; readonly result?: unknown }
        if (status !== 200 || body.status !== "completed" || body.result !== n * 2) {
          failures.push(`run ${n}: HTTP ${status} ${text}`)
        } else {
          completed++
        }
      } catch (error) {
        failures.push(`run ${n}: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
  }
  // Every client's connection is opened (one `GET /health` each, all at once) before the clock starts: the test
  // measures runs on open connections, as wrk and k6 do, not connection set-up.
  await Promise.all(Array.from({ length: clients }, () => send(agent, `${base}/health`)))
  const started = performance.now()
  await Promise.all(Array.from({ length: clients }, client))
  const elapsedMs = performance.now() - started
  agent.destroy()
  return { completed, latencies, failures, elapsedMs }
}

const [base, runs, clients, first] = process.argv.slice(2)
if (base !== undefined && runs !== undefined && clients !== undefined) {
  load(base, Number(runs), Number(clients), Number(first ?? 0)).then(
    (output) => process.stdout.write(`${JSON.stringify(output)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
      process.exitCode = 1
    }
  )
}
