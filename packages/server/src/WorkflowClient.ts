/**
 * `WorkflowClient`: a typed client of the workflow server, derived from the same `WorkflowApi` with
 * `HttpApiClient`, plus `events(runId)`: a run's published events over Server-Sent Events as an effect `Stream`
 * that reconnects from the last offset seen.
 *
 * @since 0.1.0
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Event } from "@eventflow/core"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { WorkflowApi } from "./WorkflowApi.js"

/**
 * How long a followed event stream may stay without data (an event or the server's `: heartbeat` comment) before
 * the connection counts as dead and is reopened: 30 seconds, twice the server's default `heartbeat` (15 s).
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultHeartbeatTimeout: Duration.Duration = Duration.seconds(30)

/**
 * The reconnection policy of `events` with a total budget: exponential backoff from 100 ms, doubling, at most
 * 5 seconds apart (jittered), attempted for `total` after the connection was lost; then `events` fails with
 * {@link ReconnectFailed}. The budget starts again once a new connection has delivered data.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const reconnectFor = (total: Duration.DurationInput): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential("100 millis").pipe(
    Schedule.union(Schedule.spaced("5 seconds")),
    Schedule.jittered,
    Schedule.upTo(total)
  )

/**
 * The default reconnection policy of `events`: {@link reconnectFor} 60 seconds.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = reconnectFor("60 seconds")

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** The server's URL, e.g. `http://127.0.0.1:3000`. */
  readonly baseUrl: string | URL
  /** Sent as `Authorization: Bearer <token>` with every request. */
  readonly token?: string | undefined
  /** The default `reconnect` of `events` (see {@link EventsOptions}). Default {@link defaultReconnect}. */
  readonly reconnect?: Schedule.Schedule<unknown, RetryableError> | undefined
  /**
   * The default `heartbeatTimeout` of `events` (see {@link EventsOptions}). Default {@link defaultHeartbeatTimeout}.
   */
  readonly heartbeatTimeout?: Duration.DurationInput | undefined
}

/**
 * Options of `events`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EventsOptions {
  /** Start after this offset (the `id` of the last event already seen), as `Last-Event-ID`. */
  readonly lastEventId?: number | undefined
  /**
   * When to reconnect after the connection failed, timed out or ended before the terminal event; its input is
   * the error of the lost connection. When it is done, `events` fails with {@link ReconnectFailed}. The
   * schedule starts again once a new connection has delivered data. Default: the client's `reconnect`, else
   * {@link defaultReconnect} (backoff for 60 seconds).
   */
  readonly reconnect?: Schedule.Schedule<unknown, RetryableError> | undefined
  /**
   * How long the connection may stay without data (no event and no `: heartbeat` comment; including the wait for
   * the response's headers) before it counts as dead ({@link HeartbeatTimeout}) and is reopened. Must be longer
   * than the server's `heartbeat` interval. Default: the client's `heartbeatTimeout`, else
   * {@link defaultHeartbeatTimeout} (30 s).
   */
  readonly heartbeatTimeout?: Duration.DurationInput | undefined
}

/**
 * One event of a run's published stream, as received over Server-Sent Events.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunEvent {
  /** The event's offset in the run's published stream. */
  readonly id: number
  /** The event's tag. */
  readonly type: string
  /** The event, encoded as JSON (it includes `_tag`). */
  readonly data: unknown
}

/**
 * The event stream ended before the run's terminal event (the connection dropped). `events` reconnects on it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class Disconnected extends Data.TaggedError("Disconnected")<{ readonly lastEventId: number | undefined }> {
  override get message() {
    return `the event stream ended before the terminal event (last event id: ${this.lastEventId ?? "none"})`
  }
}

/**
 * The event stream stayed without data (no event, no heartbeat comment, or no response at all) for longer than
 * the heartbeat timeout: the connection counts as dead. `events` reconnects on it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class HeartbeatTimeout extends Data.TaggedError("HeartbeatTimeout")<{
  readonly lastEventId: number | undefined
  readonly timeout: Duration.Duration
}> {
  override get message() {
    return (
      `no data on the event stream for ${Duration.format(this.timeout)} (last event id: ` +
      `${this.lastEventId ?? "none"}): the connection is considered dead. If the server's heartbeat interval is ` +
      `longer than that, raise heartbeatTimeout`
    )
  }
}

/**
 * An error of one connection of `events` after which it reconnects: a dropped connection, a heartbeat timeout,
 * a transport error, or a 5xx / 408 / 429 answer (a server that restarts or is not ready yet).
 *
 * @since 0.1.0
 * @category Errors
 */
export type RetryableError = Disconnected | HeartbeatTimeout | HttpClientError.HttpClientError

/**
 * `events` gave up: the connection was lost and could not be reopened within the `reconnect` schedule. `cause` is
 * the error of the last attempt.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ReconnectFailed extends Data.TaggedError("ReconnectFailed")<{
  readonly runId: string
  readonly url: string
  /** The id of the last event delivered: pass it as `lastEventId` to go on later without loss or repetition. */
  readonly lastEventId: number | undefined
  /** The reconnection attempts made (0 when the schedule allowed none). */
  readonly attempts: number
  /** The time from the first lost connection to giving up. */
  readonly elapsed: Duration.Duration
  readonly cause: RetryableError
}> {
  override get message() {
    return (
      `gave up following the events of run "${this.runId}" at ${this.url} after ${this.attempts} reconnection ` +
      `attempt(s) in ${Duration.format(this.elapsed)} (last event id: ${this.lastEventId ?? "none"}): ` +
      `${this.cause.message}. Check that the server is up; to go on, call events again with this lastEventId, or ` +
      `give a longer reconnect schedule`
    )
  }
}

/**
 * The errors of `events`: {@link ReconnectFailed} when it gives up, or the `ResponseError` of a request the server
 * refused (e.g. 404 for an unknown run, 401 without a valid token), which is not retried.
 *
 * @since 0.1.0
 * @category Errors
 */
export type EventsError = ReconnectFailed | HttpClientError.HttpClientError

/**
 * The client: the endpoints of `WorkflowApi` under `eventflow` (e.g. `client.eventflow.startRun(...)`) and
 * `events`.
 *
 * @since 0.1.0
 * @category Models
 */
export type WorkflowClient = Effect.Effect.Success<ReturnType<typeof makeApiClient>> & {
  /**
   * The run's published events, from the start (or after `lastEventId`), ending after the terminal event. A
   * connection that drops, errs or stays silent past the heartbeat timeout is reopened with backoff, with
   * `Last-Event-ID` = the last offset seen: every event is delivered once, in order. When the `reconnect` schedule
   * is spent, the stream fails with {@link ReconnectFailed}.
   */
  readonly events: (runId: string, options?: EventsOptions) => Stream.Stream<RunEvent, EventsError>
}

const withToken = (token: string | undefined) => (client: HttpClient.HttpClient) =>
  token === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(token))

const makeApiClient = (options: Options) =>
  HttpApiClient.make(WorkflowApi, { baseUrl: options.baseUrl, transformClient: withToken(options.token) })

/** Parses one Server-Sent Events block (the lines between blank lines); `None` for a comment-only block. */
const parseBlock = (lines: ReadonlyArray<string>): Option.Option<RunEvent> => {
  let id: number | undefined
  let type = "message"
  const data: Array<string> = []
  for (const line of lines) {
    const colon = line.indexOf(":")
    if (colon === 0) continue
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "")
    if (field === "id") id = Number(value)
    else if (field === "event") type = value
    else if (field === "data") data.push(value)
  }
  if (id === undefined || data.length === 0) return Option.none()
  return Option.some({ id, type, data: JSON.parse(data.join("\n")) })
}

/** Groups lines into Server-Sent Events blocks; a block not closed by a blank line (a cut connection) is dropped. */
const toEvents = <E>(lines: Stream.Stream<string, E>): Stream.Stream<RunEvent, E> =>
  lines.pipe(
    Stream.mapAccum([] as ReadonlyArray<string>, (block, line): [ReadonlyArray<string>, Option.Option<RunEvent>] =>
      line === "" ? [[], block.length === 0 ? Option.none() : parseBlock(block)] : [[...block, line], Option.none()]
    ),
    Stream.filterMap((event) => event)
  )

const isTerminal = (event: RunEvent): boolean => Event.isTerminal({ _tag: event.type } as Event.AnyEvent)

/** A request the server refused (4xx but 408 and 429): an answer, not a lost connection, so not retried. */
const isRefused = (error: RetryableError): error is HttpClientError.ResponseError =>
  error._tag === "ResponseError" &&
  error.reason === "StatusCode" &&
  error.response.status < 500 &&
  error.response.status !== 408 &&
  error.response.status !== 429

/**
 * A client of the server at `baseUrl`. Requires an `HttpClient` (e.g. `NodeHttpClient.layer` from
 * `@effect/platform-node`, or `FetchHttpClient.layer`).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<WorkflowClient, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const api = yield* makeApiClient(options)
    const http = withToken(options.token)(yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const base = options.baseUrl.toString().replace(/\/$/, "")

    const events = (runId: string, eventsOptions?: EventsOptions): Stream.Stream<RunEvent, EventsError> =>
      Stream.unwrap(
        Effect.gen(function* () {
          const url = `${base}/runs/${encodeURIComponent(runId)}/events`
          const timeout = Duration.decode(
            eventsOptions?.heartbeatTimeout ?? options.heartbeatTimeout ?? defaultHeartbeatTimeout
          )
          const driver = yield* Schedule.driver(eventsOptions?.reconnect ?? options.reconnect ?? defaultReconnect)
          // The offset of the last event delivered: the `Last-Event-ID` of the next connection.
          let last = eventsOptions?.lastEventId
          let done = false
          // Since the connection was lost (reset once a new connection delivers data).
          let attempts = 0
          let lostAt: number | undefined
          const silent = () => new HeartbeatTimeout({ lastEventId: last, timeout })
          const recovered = Effect.suspend(() => {
            if (lostAt === undefined) return Effect.void
            attempts = 0
            lostAt = undefined
            return driver.reset
          })

          const connection: Stream.Stream<RunEvent, RetryableError> = Stream.unwrapScoped(
            Effect.gen(function* () {
              const request = HttpClientRequest.get(url).pipe(
                HttpClientRequest.setHeader("accept", "text/event-stream"),
                last === undefined ? (r) => r : HttpClientRequest.setHeader("last-event-id", String(last))
              )
              // No answer (e.g. a server that accepts connections while it boots) counts as silence too.
              const response = yield* http
                .execute(request)
                .pipe(Effect.timeoutFail({ duration: timeout, onTimeout: silent }))
              return response.stream.pipe(
                Stream.timeoutFail(silent, timeout),
                Stream.tap(() => recovered),
                Stream.decodeText(),
                Stream.splitLines,
                toEvents,
                // An event already delivered (a server that ignores Last-Event-ID) is not delivered again.
                Stream.filter((event) => last === undefined || event.id > last),
                Stream.takeUntil(isTerminal),
                Stream.tap((event) =>
                  Effect.sync(() => {
                    last = event.id
                    if (isTerminal(event)) done = true
                  })
                )
              )
            })
          )
          const checked: Stream.Stream<RunEvent, RetryableError> = Stream.concat(
            connection,
            Stream.suspend(() => (done ? Stream.empty : Stream.fail(new Disconnected({ lastEventId: last }))))
          )
          const follow: Stream.Stream<RunEvent, EventsError> = Stream.catchAll(checked, (error) => {
            if (isRefused(error)) return Stream.fail(error)
            return Stream.unwrap(
              Effect.gen(function* () {
                const now = yield* Clock.currentTimeMillis
                lostAt ??= now
                const next = yield* Effect.option(driver.next(error))
                if (Option.isNone(next)) {
                  const elapsed = Duration.millis((yield* Clock.currentTimeMillis) - lostAt)
                  return Stream.fail(
                    new ReconnectFailed({ runId, url, lastEventId: last, attempts, elapsed, cause: error })
                  )
                }
                attempts++
                return Stream.suspend(() => follow)
              })
            )
          })
          return follow
        })
      )

    return { ...api, events }
  })
