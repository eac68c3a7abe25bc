/**
 * Helpers of the server tests: a real server on a free port of 127.0.0.1, and a real HTTP client (`fetch`).
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { assert } from "@effect/vitest"
import { RunStore, type Workflow } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Context, Effect, Layer } from "effect"

/** Builds a server layer in the test's scope; returns its base URL (checking that it listens on 127.0.0.1). */
export const listen = <ROut, E, R>(layer: Layer.Layer<ROut, E, R>) =>
  Effect.map(Layer.build(layer), (context) => {
    const address = Context.unsafeGet(context, HttpServer.HttpServer).address
    assert.strictEqual(address._tag, "TcpAddress")
    if (address._tag !== "TcpAddress") return assert.fail("not a TCP address")
    assert.strictEqual(address.hostname, "127.0.0.1")
    return `http://127.0.0.1:${address.port}`
  })

/** The workflows served on a free port, their runs in `store`. */
export const serveWithStore = (workflows: ReadonlyArray<Workflow.AnyWith<never>>, store: RunStore.Service) =>
  listen(
    WorkflowServer.layerWithStore({ workflows, port: 0 }).pipe(Layer.provide(Layer.succeed(RunStore.RunStore, store)))
  )

export interface Reply {
  readonly status: number
  readonly headers: Headers
  /** The body parsed as JSON; the text when it is not JSON (e.g. an event stream); `undefined` when empty. */
  readonly body: any
}

/** A request; `body` is sent as JSON, `raw` as it is (with a JSON content type). */
export const request = (
  url: string,
  init: {
    readonly method?: string
    readonly body?: unknown
    readonly raw?: string
    readonly headers?: Record<string, string>
  } = {}
) =>
  Effect.promise(async (): Promise<Reply> => {
    const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body))
    const response = await fetch(url, {
      method: init.method ?? "GET",
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
      ...(body === undefined ? {} : { body })
    })
    const text = await response.text()
    let parsed: unknown = text === "" ? undefined : text
    try {
      parsed = text === "" ? undefined : JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed }
  })

/** Polls `GET /runs/{id}` until the run has the status (the run progresses on real I/O, not on the clock). */
export const awaitStatus = (base: string, runId: string, status: string, headers?: Record<string, string>) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 500; attempt++) {
      const response = yield* request(`${base}/runs/${runId}`, headers === undefined ? {} : { headers })
      if (response.body?.status === status) return response
      yield* Effect.yieldNow()
    }
    return assert.fail(`run ${runId} never reached status ${status}`)
  })

/** An open Server-Sent Events response, read chunk by chunk: `readUntil` a text (or the end), `readAll` to the end. */
export const openSse = (url: string, headers?: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(url, headers === undefined ? {} : { headers })
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ""
    /** Reads until `text` holds `needle` (or the stream ends); returns everything read so far. */
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { done, value } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
      }
      return text
    }
    const readAll = async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return text
        text += decoder.decode(value, { stream: true })
      }
    }
    return { status: response.status, readUntil, readAll }
  })
