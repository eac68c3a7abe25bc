/**
 * Server-Sent Events of a run, written with backpressure: one event per write, the next one only once the client
 * has taken the previous ones (so a client that does not read holds at most a socket buffer, not the run's log), and
 * a client whose buffer stays full past the write timeout is dropped.
 *
 * @internal
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ServerResponse } from "node:http"

const encoder = new TextEncoder()

const heartbeatChunk = encoder.encode(": heartbeat\n\n")

/** @internal */
export interface Options {
  /** The interval of the `: heartbeat` comments on idle streams. */
  readonly heartbeat: Duration.Duration
  /** How long the client's buffer may stay full before the connection is closed. */
  readonly writeTimeout: Duration.Duration
  /** Ends the stream when it completes (the server shuts down). */
  readonly stop: Effect.Effect<void>
}

/**
 * Closes `response`'s connection when its buffer has stayed full (Node waits for `drain`) for `timeout`: the client
 * does not read. Checked a few times per `timeout`.
 */
const watchdog = (response: ServerResponse, timeout: Duration.Duration): void => {
  const limit = Duration.toMillis(timeout)
  // The last moment the client took data: a `drain` (its buffer emptied), or a check that found the buffer not full.
  let progress = Date.now()
  const onDrain = () => {
    progress = Date.now()
  }
  const timer = setInterval(
    () => {
      const now = Date.now()
      if (!response.writableNeedDrain) progress = now
      if (now - progress < limit) return
      stop()
      Effect.runFork(
        Effect.logWarning(
          `eventflow server: closing an event stream whose client has read nothing for ${Duration.format(timeout)} ` +
            `(${response.writableLength} bytes waiting)`
        )
      )
      response.destroy()
    },
    Math.max(1, Math.floor(limit / 4))
  )
  timer.unref()
  const stop = () => {
    clearInterval(timer)
    response.off("drain", onDrain)
    response.off("close", stop)
  }
  response.on("drain", onDrain)
  response.once("close", stop)
}

/**
 * Published events as Server-Sent Events: `id:` is the event's offset in the published log (replayed from the
 * start), so a client that reconnects with `Last-Event-ID: n` gets the events after `n`; a `: heartbeat` comment
 * every `heartbeat` keeps idle connections open.
 *
 * @internal
 */
export const eventStream = (
  events: Stream.Stream<unknown>,
  lastEventId: number | undefined,
  response: ServerResponse | undefined,
  options: Options
): HttpServerResponse.HttpServerResponse => {
  const encoded = events.pipe(
    // One event per chunk: the platform waits for `drain` after a chunk the socket did not take, so events are
    // encoded and written only as fast as the client reads (a replay is never encoded or buffered whole).
    Stream.rechunk(1),
    Stream.zipWithIndex,
    Stream.drop(lastEventId === undefined ? 0 : lastEventId + 1),
    Stream.map(([event, offset]) =>
      encoder.encode(
        `id: ${offset}\nevent: ${(event as { readonly _tag: string })._tag}\ndata: ${JSON.stringify(event)}\n\n`
      )
    )
  )
  const body = Stream.merge(
    encoded,
    Stream.tick(options.heartbeat).pipe(
      Stream.drop(1),
      Stream.map(() => heartbeatChunk)
    ),
    { haltStrategy: "left" }
  ).pipe(Stream.interruptWhen(options.stop))
  if (response !== undefined) watchdog(response, options.writeTimeout)
  return HttpServerResponse.stream(body, { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } })
}
