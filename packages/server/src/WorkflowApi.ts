/**
 * The HTTP API of the workflow server, as an `@effect/platform` `HttpApi`: endpoints, payloads, responses and
 * errors. `WorkflowServer` implements it; a typed client can be derived from it with `HttpApiClient`.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"

/**
 * No registered workflow has this name (404).
 *
 * @since 0.1.0
 * @category Errors
 */
export class WorkflowNotFound extends Schema.TaggedError<WorkflowNotFound>()(
  "WorkflowNotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * No run with this id is known to the server (404).
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()(
  "RunNotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * The body of `POST /workflows/{name}/runs` does not fit the workflow's input schema (400).
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()(
  "InvalidInput",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * The event sent to a run has an unknown type, does not fit its schema, or names a step that does not accept it
 * (400).
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidEvent extends Schema.TaggedError<InvalidEvent>()(
  "InvalidEvent",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * The run has ended and takes no more events (409).
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunNotActive extends Schema.TaggedError<RunNotActive>()(
  "RunNotActive",
  { message: Schema.String, status: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * The event may not be sent into this run from outside (403): only an event an open `ctx.waitFor` awaits,
 * `HumanResponse` and the workflow's `external` types may; the message lists what the run accepts now.
 *
 * @since 0.1.0
 * @category Errors
 */
export class EventNotAccepted extends Schema.TaggedError<EventNotAccepted>()(
  "EventNotAccepted",
  { message: Schema.String, accepted: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({ status: 403 })
) {}

/**
 * The answer names a prompt (`requestId`) that is not open: already answered, or never existed (409). One prompt
 * takes one answer; `open` lists the prompts open now.
 *
 * @since 0.1.0
 * @category Errors
 */
export class PromptNotOpen extends Schema.TaggedError<PromptNotOpen>()(
  "PromptNotOpen",
  { message: Schema.String, requestId: Schema.String, open: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * The run is at one of its per-run limits (open prompts and unclaimed events, or published log size) and takes no
 * more events from outside that would add to it (429); answers to its open prompts are still accepted.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RunLimitReached extends Schema.TaggedError<RunLimitReached>()(
  "RunLimitReached",
  { message: Schema.String, limit: Schema.String, max: Schema.Number },
  HttpApiSchema.annotations({ status: 429 })
) {}

/**
 * The run named by `continueFrom` cannot be continued by this run (409): it has not ended yet, or it is a run of
 * another workflow; the message says which.
 *
 * @since 0.1.0
 * @category Errors
 */
export class CannotContinue extends Schema.TaggedError<CannotContinue>()(
  "CannotContinue",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * The run is a child workflow's run that has not ended (409): it lives in its parent's step and ends with it; cancel
 * the parent (the message names it).
 *
 * @since 0.1.0
 * @category Errors
 */
export class CannotCancelChild extends Schema.TaggedError<CannotCancelChild>()(
  "CannotCancelChild",
  { message: Schema.String, parentRunId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * The request lacks the bearer token the server requires (401). Every route but `/health` may answer it when the
 * server is started with a token.
 *
 * @since 0.1.0
 * @category Errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/**
 * The request body is declared as JSON (or has no content type) but does not parse (400); the message gives the
 * parser's reason and position.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidJson extends Schema.TaggedError<InvalidJson>()(
  "InvalidJson",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * The request body has a content type other than JSON (415): every endpoint takes JSON.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 415 })
) {}

/**
 * The request body is larger than the server accepts (413).
 *
 * @since 0.1.0
 * @category Errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 413 })
) {}

/**
 * The run store did not take a write (or a read failed): nothing was acknowledged (503). A run caught mid-flight
 * keeps its progress in memory and saves it once the store works again; `GET /health` reports the store as
 * `degraded` meanwhile. Retry later (check `GET /runs/{id}` before sending an event again).
 *
 * @since 0.1.0
 * @category Errors
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()(
  "StoreUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * The server is not ready (503): it is shutting down, or its run store is degraded (`GET /ready`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * The answer of `GET /health`: `ok`, or `degraded` when the run store fails (with the last failure and since when).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Health = Schema.Struct({
  status: Schema.Literal("ok", "degraded"),
  store: Schema.Struct({
    status: Schema.Literal("ok", "degraded"),
    error: Schema.optional(Schema.String),
    since: Schema.optional(Schema.Number)
  })
})

/**
 * The status of a run.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const RunStatus = Schema.Literal("running", "waiting", "completed", "failed", "cancelled", "timed-out")

/**
 * A registered workflow: its name, description, input and output JSON Schemas, and its graph as Mermaid.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const WorkflowInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  input: Schema.Unknown,
  output: Schema.Unknown,
  mermaid: Schema.String
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export type WorkflowInfo = typeof WorkflowInfo.Type

/**
 * A run: its status, its result (encoded with the output schema) or its error, the prompts not yet answered, and
 * its timestamps.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const RunInfo = Schema.Struct({
  runId: Schema.String,
  workflow: Schema.String,
  status: RunStatus,
  result: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.Struct({ _tag: Schema.String, message: Schema.String })),
  /** `requestId` (= `eventId` = `prompt.requestId`) is the id an answer names. */
  pending: Schema.Array(
    Schema.Struct({
      eventId: Schema.String,
      requestId: Schema.String,
      prompt: Schema.Unknown,
      /** For a prompt of a child workflow's run: the child's run id (`requestId` is `<runId>:<its own>`). */
      runId: Schema.optional(Schema.String)
    })
  ),
  /** The conversation the run continues (`continueFrom`): its id (its first run's id) and the run it continues. */
  conversation: Schema.optional(Schema.Struct({ id: Schema.String, previous: Schema.String })),
  /** The parent run of a child workflow's run (its children: `GET /runs/{id}/children`). */
  parentRunId: Schema.optional(Schema.String),
  /** When the run started (epoch milliseconds). */
  createdAt: Schema.Number,
  /** When the run's last checkpoint was saved (epoch milliseconds); only for runs served from the store. */
  updatedAt: Schema.optional(Schema.Number),
  /**
   * The definition signature the run was started with (`Journal.signature`), for runs kept on a journal (as in
   * `GET /runs`); given by `GET /runs/{id}`.
   */
  signature: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export type RunInfo = typeof RunInfo.Type

/**
 * A run as listed by `GET /runs` (from the `RunStore`).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const RunSummary = Schema.Struct({
  runId: Schema.String,
  workflow: Schema.String,
  status: RunStatus,
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  /** The conversation the run belongs to, when it continues or was continued. */
  conversationId: Schema.optional(Schema.String),
  /** The parent run of a child workflow's run. */
  parentRunId: Schema.optional(Schema.String),
  /**
   * The definition signature the run was started with (`Journal.signature`), for runs kept on a journal: compare it
   * with `Journal.signature(wf)` of the deployed definition to see which runs predate a deploy.
   */
  signature: Schema.optional(Schema.String)
})

/**
 * A child workflow's run as `GET /runs/{id}/children` lists it: the run (as `GET /runs/{childId}` answers it) and the
 * invocation of its parent that started it (its id is `<parentRunId>/<step>@<eventId>/c<index>`).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ChildRun = Schema.Struct({
  ...RunInfo.fields,
  parentRunId: Schema.String,
  /** The parent's step that started it. */
  step: Schema.String,
  /** The id of the event that step was handling (its invocation). */
  eventId: Schema.String,
  /** Which child of that invocation's execution it is (0 for the first `ctx.run` / `ctx.start`). */
  index: Schema.Number
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export type ChildRun = typeof ChildRun.Type

/**
 * The body of `POST /runs/{id}/events`: the event's tag and its fields, and optionally the one step to send it to.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const SendEvent = Schema.Struct({
  type: Schema.String,
  data: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  step: Schema.optional(Schema.String)
})

/**
 * The server has no `JournalStore`, or the run has no journal: what needs a run's journal (its timeline, a fork)
 * is not available (501).
 *
 * @since 0.1.0
 * @category Errors
 */
export class JournalUnavailable extends Schema.TaggedError<JournalUnavailable>()(
  "JournalUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 501 })
) {}

/**
 * A fork cannot be made as asked (400): the offset is outside the run's journal or at its end, or the edited event
 * does not fit the entry or the workflow's schemas. The message says which; nothing was written.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidFork extends Schema.TaggedError<InvalidFork>()(
  "InvalidFork",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * A workflow's graph as JSON (`Workflow.graph`) with what a form needs: the definition signature, the input JSON
 * Schema, the JSON Schema of every event type it knows (by tag), and the tags that may be sent from outside.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const WorkflowGraph = Schema.Struct({
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  signature: Schema.String,
  graph: Schema.Unknown,
  mermaid: Schema.String,
  input: Schema.Unknown,
  events: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  external: Schema.Array(Schema.String)
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export type WorkflowGraph = typeof WorkflowGraph.Type

/**
 * A page of a run's journal: its entries (see `Journal` of `@eventflow/core`) with their offsets.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const JournalPage = Schema.Struct({
  runId: Schema.String,
  entries: Schema.Array(Schema.Struct({ offset: Schema.Number, entry: Schema.Unknown }))
})

/**
 * The body of `POST /runs/{id}/fork`: the offset of the last journal entry copied, and optionally the event that
 * replaces that entry's event (its encoded JSON, same `_tag`; for `RunStarted`, the input), with `index` for an
 * invocation that returned several events.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ForkRequest = Schema.Struct({
  offset: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  event: Schema.optional(Schema.Unknown),
  index: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
})

/**
 * A path parameter: a run id or workflow name as one URL path segment. The server's router percent-decodes it; a
 * client derived from the API (`HttpApiClient`, `WorkflowClient`) percent-encodes it (`encodeURIComponent`), so that
 * ids with `/`, `@` or `:` (a child workflow's run: `<parentRunId>/<step>@<eventId>/c<n>`) stay one segment.
 */
const PathSegment = Schema.transform(Schema.String, Schema.String, {
  strict: true,
  decode: (segment) => segment,
  encode: (value) => encodeURIComponent(value)
})
const nameParam = Schema.Struct({ name: PathSegment })
const idParam = Schema.Struct({ id: PathSegment })

/** Declares the bearer token in the OpenAPI document: on every operation but `/health` and `/ready`. */
const withBearerSecurity = (spec: Record<string, any>): Record<string, any> => {
  // Every operation needs the token (the platform gives each an empty `security`, which would say none does).
  const paths: Record<string, Record<string, any>> = {}
  for (const [path, item] of Object.entries<Record<string, any>>(spec.paths ?? {})) {
    const open = path === "/health" || path === "/ready"
    paths[path] = Object.fromEntries(
      Object.entries(item).map(([method, operation]) => {
        if (typeof operation !== "object" || operation === null) return [method, operation]
        const { security: _, ...rest } = operation
        return [method, open ? { ...rest, security: [] } : rest]
      })
    )
  }
  return {
    ...spec,
    paths,
    components: {
      ...spec.components,
      securitySchemes: {
        ...spec.components?.securitySchemes,
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "The server's token (`EVENTFLOW_TOKEN`); not required when the server has none."
        }
      }
    },
    security: [{ bearer: [] }]
  }
}

/**
 * The endpoints of the server.
 *
 * @since 0.1.0
 * @category Api
 */
export class WorkflowApi extends HttpApi.make("eventflow")
  .add(
    HttpApiGroup.make("eventflow")
      .add(HttpApiEndpoint.get("health", "/health").addSuccess(Health))
      .add(
        HttpApiEndpoint.get("ready", "/ready")
          .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
          .addError(NotReady)
      )
      .add(HttpApiEndpoint.get("listWorkflows", "/workflows").addSuccess(Schema.Array(WorkflowInfo)))
      .add(
        HttpApiEndpoint.get("getWorkflow", "/workflows/:name")
          .setPath(nameParam)
          .addSuccess(WorkflowInfo)
          .addError(WorkflowNotFound)
      )
      .add(
        HttpApiEndpoint.post("startRun", "/workflows/:name/runs")
          .setPath(nameParam)
          .setUrlParams(
            Schema.Struct({
              wait: Schema.optional(
                Schema.BooleanFromString.annotations({
                  description:
                    "`true`: answer when the run has ended, or waits for input (status `waiting`, prompts in " +
                    "`pending`); otherwise answer at once with status `running`"
                })
              ),
              continueFrom: Schema.optional(
                Schema.String.annotations({
                  description:
                    "A run of this workflow that has ended: the new run starts from its final state and joins its " +
                    "conversation (list it with `GET /runs?conversation=<id>`)"
                })
              )
            })
          )
          .setPayload(Schema.Unknown)
          .addSuccess(RunInfo)
          .addError(WorkflowNotFound)
          .addError(InvalidInput)
          .addError(RunNotFound)
          .addError(CannotContinue)
      )
      .add(
        HttpApiEndpoint.get("listRuns", "/runs")
          .setUrlParams(
            Schema.Struct({
              workflow: Schema.optional(Schema.String),
              status: Schema.optional(RunStatus),
              conversation: Schema.optional(
                Schema.String.annotations({ description: "Only the runs of this conversation (its first run's id)" })
              ),
              parent: Schema.optional(
                Schema.String.annotations({
                  description: "Only the child workflows' runs this run started (`ctx.run` / `ctx.start`)"
                })
              ),
              limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000))),
              offset: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()))
            })
          )
          .addSuccess(Schema.Array(RunSummary))
          .annotate(
            OpenApi.Description,
            "The runs in the store, a page at a time: `limit` (default 100, at most 1000) and `offset`."
          )
      )
      .add(HttpApiEndpoint.get("getRun", "/runs/:id").setPath(idParam).addSuccess(RunInfo).addError(RunNotFound))
      .add(
        HttpApiEndpoint.get("runEvents", "/runs/:id/events")
          .setPath(idParam)
          .setHeaders(Schema.Struct({ "last-event-id": Schema.optional(Schema.NumberFromString.pipe(Schema.int())) }))
          .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
          .addError(RunNotFound)
      )
      .add(
        HttpApiEndpoint.post("sendEvent", "/runs/:id/events")
          .setPath(idParam)
          .setPayload(SendEvent)
          .addSuccess(Schema.Struct({ accepted: Schema.Literal(true) }), { status: 202 })
          .addError(RunNotFound)
          .addError(InvalidEvent)
          .addError(RunNotActive)
          .addError(EventNotAccepted)
          .addError(PromptNotOpen)
          .addError(RunLimitReached)
      )
      .add(
        HttpApiEndpoint.del("cancelRun", "/runs/:id")
          .setPath(idParam)
          .addSuccess(RunInfo)
          .addError(RunNotFound)
          .addError(CannotCancelChild)
      )
      .add(
        HttpApiEndpoint.get("getWorkflowGraph", "/workflows/:name/graph")
          .setPath(nameParam)
          .addSuccess(WorkflowGraph)
          .addError(WorkflowNotFound)
      )
      .add(
        HttpApiEndpoint.get("runJournal", "/runs/:id/journal")
          .setPath(idParam)
          .setUrlParams(
            Schema.Struct({ from: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())) })
          )
          .addSuccess(JournalPage)
          .addError(RunNotFound)
          .addError(JournalUnavailable)
          .annotate(OpenApi.Description, "The run's journal entries at offsets `from` (default 0) and after.")
      )
      .add(
        HttpApiEndpoint.get("runChildren", "/runs/:id/children")
          .setPath(idParam)
          .addSuccess(Schema.Array(ChildRun))
          .addError(RunNotFound)
          .annotate(
            OpenApi.Description,
            "The child workflows' runs this run started (`ctx.run` / `ctx.start`), oldest first, each with the " +
              "invocation that started it and its status, result or error and open prompts (its own children: " +
              "`GET /runs/{childId}/children`)."
          )
      )
      .add(
        HttpApiEndpoint.post("forkRun", "/runs/:id/fork")
          .setPath(idParam)
          .setPayload(ForkRequest)
          .addSuccess(RunInfo, { status: 201 })
          .addError(RunNotFound)
          .addError(WorkflowNotFound)
          .addError(InvalidFork)
          .addError(JournalUnavailable)
          .annotate(
            OpenApi.Description,
            "A new run from a point of this run's journal (entries 0 to `offset`), optionally with that entry's " +
              "event replaced by `event`; its journal's RunStarted records `forkedFrom`."
          )
      )
  )
  .addError(Unauthorized)
  .addError(PayloadTooLarge)
  .addError(InvalidJson)
  .addError(UnsupportedMediaType)
  .addError(StoreUnavailable)
  .annotateContext(
    OpenApi.annotations({
      title: "Eventflow workflow server",
      version: "0.1.0",
      description:
        "Start workflow runs, follow their events (Server-Sent Events), answer their prompts, cancel them. " +
        "When the server has a token, every route but /health and /ready requires `Authorization: Bearer <token>`.",
      transform: (spec) => withBearerSecurity(spec)
    })
  ) {}
