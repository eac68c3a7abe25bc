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

/** A complete Anthropic Messages API reply with `text`. */
export const anthropicMessage = (text: string) => ({
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-test-1",
  content: [{ type: "text", text }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 3 }
})

/** The start of an Anthropic stream: headers, `message_start`, `content_block_start`. */
export const anthropicHead = (res: http.ServerResponse) => {
  sseHead(res)
  anthropicEvent(res, {
    type: "message_start",
    message: { ...anthropicMessage(""), content: [], stop_reason: null, usage: { input_tokens: 12, output_tokens: 1 } }
  } as any)
  anthropicEvent(res, { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } as any)
}

/** One text delta of an Anthropic stream. */
export const anthropicDelta = (res: http.ServerResponse, text: string) =>
  anthropicEvent(res, { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } } as any)

/** The end of an Anthropic stream: `content_block_stop`, `message_delta`, `message_stop`. */
export const anthropicTail = (res: http.ServerResponse) => {
  anthropicEvent(res, { type: "content_block_stop", index: 0 } as any)
  anthropicEvent(res, {
    type: "message_delta",
    delta: { stop_reason: "end_turn", stop_sequence: null },
    usage: { output_tokens: 3 }
  } as any)
  anthropicEvent(res, { type: "message_stop" })
  res.end()
}

/** One OpenAI Chat Completions stream chunk. */
export const openAIChunkOf = (content: string | undefined, finish: string | null = null) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1,
  model: "gpt-test-1",
  choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }]
})

/** The start of an OpenAI stream: headers and the assistant-role chunk. */
export const openAIHead = (res: http.ServerResponse) => {
  sseHead(res)
  openAIChunk(res, {
    ...openAIChunkOf(""),
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]
  })
}
