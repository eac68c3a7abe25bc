/**
 * `WorkflowServer`: serves registered workflows over HTTP (the `WorkflowApi`), with durable runs in a `RunStore`.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { RunHandle, WorkflowError } from "@eventflow/core"
import { RunStore, Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as JSONSchema from "effect/JSONSchema"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"
import {
  InvalidEvent,
  InvalidInput,
  type RunInfo,
  RunNotActive,
  RunNotFound,
  WorkflowApi,
  type WorkflowInfo,
  WorkflowNotFound
} from "./WorkflowApi.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<Ws extends ReadonlyArray<Workflow.Any>> {
  /** The workflows served, by name (names must be unique). */
  readonly workflows: Ws
  /** Default `3000`; `0` picks a free port (read it from the `HttpServer` service's `address`). */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
}

interface Entry {
  readonly workflow: Workflow.Any
  readonly handle: RunHandle
}

type AnyStart = (
  self: Workflow.Any,
  input: unknown,
  options: { readonly durable: true }
) => Effect.Effect<
  RunHandle,
  WorkflowError.InvalidInputError | WorkflowError.WorkflowValidationError,
  Scope.Scope | RunStore.RunStore
>

const start = Workflow.start as unknown as AnyStart

const jsonSchema = (schema: Schema.Schema.Any): unknown => {
  try {
    return JSONSchema.make(schema)
  } catch {
    return null
  }
}

const describe = (workflow: Workflow.Any): WorkflowInfo => ({
  name: workflow.name,
  description: workflow.description ?? null,
  input: jsonSchema(workflow.input),
  output: jsonSchema(workflow.output),
  mermaid: Workflow.toMermaid(workflow)
})

const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error"

const errorInfo = (cause: Cause.Cause<unknown>): { readonly _tag: string; readonly message: string } => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    const tag =
      typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
        ? error._tag
        : "Error"
    return { _tag: tag, message: errorMessage(error) }
  }
  return Cause.isInterruptedOnly(cause)
    ? { _tag: "Interrupted", message: "the run was interrupted" }
    : { _tag: "Defect", message: errorMessage(Cause.squash(cause)) }
}

const runInfo = ({ handle, workflow }: Entry): Effect.Effect<RunInfo> =>
  Effect.gen(function* () {
    const status = yield* handle.status
    const pending = yield* handle.pending
    const base = {
      runId: handle.runId,
      workflow: workflow.name,
      status,
      pending: pending.map(({ eventId, prompt }) => ({ eventId, prompt }))
    }
    if (status === "running" || status === "waiting") return base
    const exit = yield* Effect.exit(handle.result)
    if (Exit.isSuccess(exit)) {
      const result = yield* Schema.encodeUnknown(workflow.output)(exit.value).pipe(
        Effect.orElseSucceed(() => exit.value)
      )
      return { ...base, result }
    }
    return { ...base, error: errorInfo(exit.cause) }
  })

const encoder = new TextEncoder()

/**
 * The run's published stream as Server-Sent Events: `id:` is the event's offset in the published log (replayed
 * from the start by `events()`), so a client that reconnects with `Last-Event-ID: n` gets the events after `n`.
 */
const eventStream = (handle: RunHandle, lastEventId: number | undefined): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(
    handle.events().pipe(
      Stream.zipWithIndex,
      Stream.drop(lastEventId === undefined ? 0 : lastEventId + 1),
      Stream.map(([event, offset]) =>
        encoder.encode(`id: ${offset}\nevent: ${event._tag}\ndata: ${JSON.stringify(event)}\n\n`)
      )
    ),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } }
  )

const handlersLayer = (workflows: ReadonlyArray<Workflow.Any>) =>
  HttpApiBuilder.group(WorkflowApi, "eventflow", (handlers) =>
    Effect.gen(function* () {
      const byName = new Map<string, Workflow.Any>()
      for (const workflow of workflows) {
        if (byName.has(workflow.name)) return yield* Effect.dieMessage(`duplicate workflow name: ${workflow.name}`)
        yield* Workflow.validate(workflow).pipe(Effect.orDie)
        byName.set(workflow.name, workflow)
      }
      // The runs live in the server's scope: closing the server interrupts them (durable runs keep their checkpoint).
      const scope = yield* Effect.scope
      // Everything the workflows' steps need, captured once and given to every run.
      const context = yield* Effect.context<RunStore.RunStore>()
      const store = yield* RunStore.RunStore
      const runs = new Map<string, Entry>()

      for (const workflow of workflows) {
        const resumed = yield* Workflow.resumeAll(workflow).pipe(
          Effect.provide(context),
          Scope.extend(scope)
        ) as Effect.Effect<ReadonlyArray<RunHandle>, WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError>
        for (const handle of resumed) runs.set(handle.runId, { workflow, handle })
      }

      const findWorkflow = (name: string) =>
        Effect.fromNullable(byName.get(name)).pipe(
          Effect.mapError(() => new WorkflowNotFound({ message: `no workflow named "${name}"` }))
        )
      const findRun = (id: string) =>
        Effect.fromNullable(runs.get(id)).pipe(Effect.mapError(() => new RunNotFound({ message: `no run "${id}"` })))

      return handlers
        .handle("health", () => Effect.succeed({ status: "ok" as const }))
        .handle("listWorkflows", () => Effect.succeed(workflows.map(describe)))
        .handle("getWorkflow", ({ path }) => Effect.map(findWorkflow(path.name), describe))
        .handle("startRun", ({ path, payload, urlParams }) =>
          Effect.gen(function* () {
            const workflow = yield* findWorkflow(path.name)
            const handle = yield* start(workflow, payload, { durable: true }).pipe(
              Effect.provide(context),
              Scope.extend(scope),
              Effect.catchTags({
                InvalidInputError: (error) => new InvalidInput({ message: error.message }),
                WorkflowValidationError: (error) => Effect.die(error)
              })
            )
            const entry: Entry = { workflow, handle }
            runs.set(handle.runId, entry)
            if (urlParams.wait === true) yield* Effect.exit(handle.result)
            return yield* runInfo(entry)
          })
        )
        .handle("listRuns", ({ urlParams }) =>
          store
            .list({
              workflow: urlParams.workflow,
              status: urlParams.status === undefined ? undefined : [urlParams.status],
              limit: urlParams.limit,
              offset: urlParams.offset
            })
            .pipe(Effect.orDie)
        )
        .handle("getRun", ({ path }) => Effect.flatMap(findRun(path.id), runInfo))
        .handle("runEvents", ({ headers, path }) =>
          Effect.map(findRun(path.id), ({ handle }) => eventStream(handle, headers["last-event-id"]))
        )
        .handle("sendEvent", ({ path, payload }) =>
          Effect.gen(function* () {
            const { handle } = yield* findRun(path.id)
            yield* handle.send({ ...payload.data, _tag: payload.type }, { step: payload.step }).pipe(
              Effect.catchTags({
                InvalidEventError: (error) => new InvalidEvent({ message: error.message }),
                UnknownStepError: (error) => new InvalidEvent({ message: error.message }),
                RunNotActiveError: (error) => new RunNotActive({ message: error.message, status: error.status })
              })
            )
            return { accepted: true as const }
          })
        )
        .handle("cancelRun", ({ path }) =>
          Effect.gen(function* () {
            const entry = yield* findRun(path.id)
            yield* entry.handle.cancel
            return yield* runInfo(entry)
          })
        )
    })
  )

/**
 * The `WorkflowApi` implemented for these workflows, without an HTTP server: runs are durable in the `RunStore`,
 * and every unfinished run of the workflows found there is resumed when the layer is built.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerApi = <const Ws extends ReadonlyArray<Workflow.Any>>(
  workflows: Ws
): Layer.Layer<
  HttpApi.Api,
  WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError,
  RunStore.RunStore | Workflow.Requirements<Ws[number]>
> => HttpApiBuilder.api(WorkflowApi).pipe(Layer.provide(handlersLayer(workflows)))

/**
 * Serves the workflows over HTTP with Node's `http` server (on `127.0.0.1:3000` by default). Requires a `RunStore`
 * (see {@link layerSqlite}) and the services of the workflows' steps.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = <const Ws extends ReadonlyArray<Workflow.Any>>(
  options: Options<Ws>
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform,
  WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError | HttpServerError.ServeError,
  RunStore.RunStore | Workflow.Requirements<Ws[number]>
> =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(layerApi(options.workflows)),
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, { port: options.port ?? 3000, host: options.host ?? "127.0.0.1" })
    )
  )

/**
 * {@link layer} with its runs kept in a SQLite file (`:memory:` for a store that lives as long as the server).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerSqlite = <const Ws extends ReadonlyArray<Workflow.Any>>(
  options: Options<Ws> & { readonly filename: string }
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform,
  WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError | HttpServerError.ServeError,
  Workflow.Requirements<Ws[number]>
> => layer(options).pipe(Layer.provide(SqliteRunStore.layer({ filename: options.filename })))
