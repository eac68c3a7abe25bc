import * as Effect from "effect/Effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A request the test server received. */
export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: any
}

export interface TestServer {
  readonly url: string
  readonly requests: Array<Recorded>
  /** Resolves when a client closes a connection before its response was finished. */
  readonly clientClosed: Promise<void>
  /** Resolves when the first request has arrived. */
  readonly firstRequest: Promise<void>
}

export type Handler = (request: Recorded, res: http.ServerResponse, index: number) => void

/** A local HTTP server on 127.0.0.1 (port 0) for the life of the scope. */
export const serve = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; testServer: TestServer }>((resume) => {
      const requests: Array<Recorded> = []
      let onClientClosed!: () => void
      const clientClosed = new Promise<void>((resolve) => {
        onClientClosed = resolve
      })
      let onFirstRequest!: () => void
      const firstRequest = new Promise<void>((resolve) => {
        onFirstRequest = resolve
      })
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let body: unknown = text
          try {
            body = JSON.parse(text)
          } catch {}
          const recorded: Recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body }
          requests.push(recorded)
          res.on("close", () => {
            if (!res.writableFinished) onClientClosed()
          })
          handler(recorded, res, requests.length - 1)
          onFirstRequest()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(
          Effect.succeed({
            server,
            testServer: { url: `http://127.0.0.1:${port}`, requests, clientClosed, firstRequest }
          })
        )
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ testServer }) => testServer))

/** A port nothing listens on (a server was bound to it and closed). */
export const closedPort = Effect.async<number>((resume) => {
  const server = http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

export const sseHead = (res: http.ServerResponse) =>
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })

/** Anthropic's SSE framing: `event: <type>` and `data: <json>`. */
export const anthropicEvent = (res: http.ServerResponse, data: { readonly type: string }) =>
  res.write(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`)

/** OpenAI's SSE framing: `data: <json>` and a final `data: [DONE]`. */
export const openAIChunk = (res: http.ServerResponse, data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`)
