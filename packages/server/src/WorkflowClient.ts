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
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { WorkflowApi } from "./WorkflowApi.js"

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
   * When to reconnect after the connection failed or ended before the terminal event. Default: up to 10
   * reconnections, 200ms apart.
   */
  readonly reconnect?: Schedule.Schedule<unknown, EventsError> | undefined
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
 * The event stream ended before the run's terminal event (the connection dropped).
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
 * The errors of `events`.
 *
 * @since 0.1.0
 * @category Errors
 */
export type EventsError = Disconnected | HttpClientError.HttpClientError

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
   * dropped connection is reopened with `Last-Event-ID` = the last offset seen: no event is lost or repeated.
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
          const last = yield* Ref.make(eventsOptions?.lastEventId)
          const done = yield* Ref.make(false)
          const connection = Stream.unwrapScoped(
            Effect.gen(function* () {
              const lastEventId = yield* Ref.get(last)
              const request = HttpClientRequest.get(`${base}/runs/${encodeURIComponent(runId)}/events`).pipe(
                HttpClientRequest.setHeader("accept", "text/event-stream"),
                lastEventId === undefined ? (r) => r : HttpClientRequest.setHeader("last-event-id", String(lastEventId))
              )
              const response = yield* http.execute(request)
              return response.stream.pipe(
                Stream.decodeText(),
                Stream.splitLines,
                toEvents,
                Stream.takeUntil(isTerminal),
                Stream.tap((event) =>
                  Effect.zipRight(Ref.set(last, event.id), isTerminal(event) ? Ref.set(done, true) : Effect.void)
                )
              )
            })
          )
          const checked: Stream.Stream<RunEvent, EventsError> = Stream.concat(
            connection,
            Stream.fromEffect(
              Effect.flatMap(Effect.all([Ref.get(done), Ref.get(last)]), ([finished, lastEventId]) =>
                finished ? Effect.void : Effect.fail(new Disconnected({ lastEventId }))
              )
            ).pipe(Stream.drain)
          )
          // A refused request (4xx/5xx) is an answer, not a dropped connection: it is not retried.
          const schedule = (
            eventsOptions?.reconnect ?? Schedule.intersect(Schedule.spaced("200 millis"), Schedule.recurs(10))
          ).pipe(
            Schedule.whileInput(
              (error: EventsError) => !(error._tag === "ResponseError" && error.reason === "StatusCode")
            )
          )
          return Stream.retry(checked, schedule)
        })
      )

    return { ...api, events }
  })
