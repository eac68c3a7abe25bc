/**
 * `WorkflowServer`: serves registered workflows over HTTP (the `WorkflowApi`), with durable runs in a `RunStore`.
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { Run, RunHandle, Snapshot, WorkflowError } from "@eventflow/core"
import { Event, JournalStore, RunEngine, RunEvents, RunStore, Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as JSONSchema from "effect/JSONSchema"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash, timingSafeEqual } from "node:crypto"
import { type IncomingMessage, ServerResponse } from "node:http"
import {
  CannotCancelChild,
  type ChildRun,
  EventNotAccepted,
  InvalidEvent,
  PromptNotOpen,
  RunLimitReached,
  CannotContinue,
  InvalidInput,
  NotReady,
  type RunInfo,
  RunNotActive,
  RunNotFound,
  StoreUnavailable,
  WorkflowApi,
  type WorkflowInfo,
  WorkflowNotFound
} from "./WorkflowApi.js"
import * as ChildRuns from "./internal/childRuns.js"
import * as StudioApi from "./internal/studioApi.js"
import { Lifecycle, makeController } from "./internal/lifecycle.js"
import { nestsDeeperThan } from "./internal/jsonDepth.js"
import * as Routes from "./internal/routes.js"
import * as Studio from "./internal/studio.js"
import * as Sse from "./internal/sse.js"
import * as StoreHealth from "./internal/storeHealth.js"

/**
 * Options of {@link layer} and {@link layerWithStore}.
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
  /**
   * The bearer token every route but `/health` requires (`Authorization: Bearer <token>`; 401 otherwise). Default:
   * the `EVENTFLOW_TOKEN` environment variable (read with `Config`); no authentication when neither is set (an
   * empty token counts as not set).
   */
  readonly token?: Redacted.Redacted | string | undefined
  /**
   * The largest request body accepted, in bytes (413 `PayloadTooLarge` beyond it, with or without a `content-length`;
   * the rest of an oversized chunked body is discarded, the connection stays usable). Default 1 MiB.
   */
  readonly maxBodyBytes?: number | undefined
  /**
   * The deepest nesting of objects and arrays accepted in a JSON body: a body nested deeper gets 400 `InvalidJson`
   * before it is parsed or decoded. Default 64.
   */
  readonly maxJsonDepth?: number | undefined
  /** CORS headers: off by default; `true` allows every origin, or give the options of `HttpMiddleware.cors`. */
  readonly cors?: boolean | Parameters<typeof HttpMiddleware.cors>[0] | undefined
  /** The interval of the `: heartbeat` comments sent on idle Server-Sent Events streams. Default 15 seconds. */
  readonly heartbeat?: Duration.DurationInput | undefined
  /** Per-run limits on what `POST /runs/{id}/events` may pile up in a run (429 `RunLimitReached`); see {@link ApiOptions}. */
  readonly limits?: Run.RunLimits | undefined
  /** See {@link ApiOptions.sseWriteTimeout}. Default 30 seconds. */
  readonly sseWriteTimeout?: Duration.DurationInput | undefined
  /**
   * How long a shutdown (closing the layer, e.g. on SIGTERM) waits for the requests in progress to finish: it stops
   * accepting connections, answers new requests on open connections with 503 `NotReady`, ends the event streams
   * (clients resume them elsewhere with `Last-Event-ID`), and after this deadline closes every connection left (a
   * client that does not read, an upload that never ends). Default 10 seconds.
   */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /**
   * Eventflow Studio, the web debugger, at `GET /studio` (default `true`; `false` turns it off: `/studio` is then
   * 404). Its page and script are static and served without the token; the page asks for the token once and sends
   * it with every request for data.
   */
  readonly studio?: boolean | undefined
}

/**
 * Options of {@link layerApi}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ApiOptions {
  /** The interval of the `: heartbeat` comments sent on idle Server-Sent Events streams. Default 15 seconds. */
  readonly heartbeat?: Duration.DurationInput | undefined
  /**
   * Per-run limits on what sends from outside may pile up in each run started or resumed by the server: at most
   * `maxPending` (default 1,000) open prompts and unclaimed events, a published log of at most `maxLogEvents`
   * (default 100,000) events and `maxLogBytes` (default 32 MiB). A send past a limit answers 429 `RunLimitReached`
   * and changes nothing (see `RunLimits` of `@eventflow/core`).
   */
  readonly limits?: Run.RunLimits | undefined
  /**
   * Events are written to a Server-Sent Events client only as fast as it reads them; a client that reads nothing
   * for this long (its buffer stays full) is disconnected. Default 30 seconds.
   */
  readonly sseWriteTimeout?: Duration.DurationInput | undefined
}

interface Entry {
  readonly workflow: Workflow.Any
  readonly handle: RunHandle
}

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
    const { conversation, createdAt } = yield* handle.snapshot
    const base = {
      runId: handle.runId,
      workflow: workflow.name,
      status,
      pending: pending.map(({ eventId, prompt, requestId, runId }) =>
        runId === undefined ? { eventId, requestId, prompt } : { eventId, requestId, prompt, runId }
      ),
      createdAt,
      ...(conversation === undefined ? {} : { conversation })
    }
    if (status === "running" || status === "waiting") return base
    // A run whose end is not saved yet (the store fails) has no result yet: it is still running.
    const ended = Effect.runSyncExit(Effect.exit(handle.result))
    if (Exit.isFailure(ended)) return { ...base, status: "running" as const }
    const exit = ended.value
    if (Exit.isSuccess(exit)) {
      const result = yield* Schema.encodeUnknown(workflow.output)(exit.value).pipe(
        Effect.orElseSucceed(() => exit.value)
      )
      return { ...base, result }
    }
    return { ...base, error: errorInfo(exit.cause) }
  })

/** A run as the `RunStore` last saw it: for runs that are not live in this process (finished, or not resumed). */
const storedInfo = (snapshot: Snapshot.Snapshot): RunInfo => {
  const error = snapshot.error as { readonly _tag?: unknown; readonly message?: unknown } | undefined
  return {
    runId: snapshot.runId,
    workflow: snapshot.workflow,
    status: snapshot.status,
    pending: snapshot.pending.map(({ eventId, prompt, requestId }) => ({
      eventId: requestId ?? eventId,
      requestId: requestId ?? eventId,
      prompt
    })),
    createdAt: snapshot.createdAt,
    updatedAt: snapshot.updatedAt,
    ...(snapshot.conversation === undefined ? {} : { conversation: snapshot.conversation }),
    ...(snapshot.parent === undefined ? {} : { parentRunId: snapshot.parent }),
    ...(snapshot.status === "completed" ? { result: snapshot.result } : {}),
    ...(error === undefined
      ? {}
      : {
          error: {
            _tag: typeof error._tag === "string" ? error._tag : "Error",
            message: typeof error.message === "string" ? error.message : "unknown error"
          }
        })
  }
}

/** A store failure, as the API answers it (503); the store's health wrapper has logged it. */
const storeUnavailable = (error: WorkflowError.RunStoreError) =>
  new StoreUnavailable({
    message: `${error.message}. Nothing was acknowledged; the store is degraded (see GET /health), retry later.`
  })

/** The page size of `GET /runs` without `limit`. */
const defaultPageSize = 100

type Found =
  | { readonly _tag: "Live"; readonly entry: Entry }
  | { readonly _tag: "Stored"; readonly snapshot: Snapshot.Snapshot }

const handlersLayer = <R>(workflows: ReadonlyArray<Workflow.AnyWith<R>>, options: ApiOptions) =>
  HttpApiBuilder.group(WorkflowApi, "eventflow", (handlers) =>
    Effect.gen(function* () {
      const byName = new Map<string, Workflow.AnyWith<R>>()
      for (const workflow of workflows) {
        if (byName.has(workflow.name)) return yield* Effect.dieMessage(`duplicate workflow name: ${workflow.name}`)
        yield* Workflow.validate(workflow).pipe(Effect.orDie)
        byName.set(workflow.name, workflow)
      }
      // The runs live in the server's scope: closing the server interrupts them (durable runs keep their checkpoint).
      const scope = yield* Effect.scope
      // Everything the workflows' steps need, captured once and given to every run.
      // (Without the layer's Scope: each run gets a scope of its own, see `inRunScope`.)
      // The runs use the store through a wrapper that tracks its health (`/health`, `/ready`).
      const journal = yield* Effect.serviceOption(JournalStore.JournalStore)
      const health = yield* StoreHealth.make(yield* RunStore.RunStore, Option.getOrUndefined(journal))
      const store = health.store
      // The steps' services minus the layer's Scope (each run gets its own); TS cannot simplify `Exclude<R, Scope>`
      // for a generic R, so the context is typed as what it holds for the runs: their services and the store.
      const context = Context.add(
        Context.omit(Scope.Scope)(yield* Effect.context<RunStore.RunStore | R>()),
        RunStore.RunStore,
        store
      ).pipe((c) =>
        health.journal === undefined ? c : Context.add(c, JournalStore.JournalStore, health.journal)
      ) as Context.Context<RunStore.RunStore | R>
      const lifecycle = yield* Effect.serviceOption(Lifecycle)
      const heartbeat = Duration.decode(options.heartbeat ?? "15 seconds")
      const writeTimeout = Duration.decode(options.sseWriteTimeout ?? "30 seconds")
      // The runs live in the `RunEngine` of the context (the in-process one by default), addressed by run id; a
      // finished run leaves it once its final checkpoint is stored (which happens before its result is delivered),
      // and is then read from the store.
      const engine = yield* RunEngine.RunEngine
      // Each run lives in a scope of its own, a child of the server's: closed when the run has ended (so a finished
      // run leaves nothing behind in the server's scope), or with the server's scope (which detaches durable runs).
      const track = (entry: Entry, runScope: Scope.CloseableScope) =>
        Effect.forkIn(
          Effect.flatMap(Effect.exit(entry.handle.result), (exit) => Scope.close(runScope, exit)),
          scope
        )
      /** Runs `make` in a new child scope of the server's scope; the scope is closed again when `make` fails. */
      const inRunScope = <A, E>(make: Effect.Effect<A, E, Scope.Scope>) =>
        Effect.flatMap(Scope.fork(scope, ExecutionStrategy.sequential), (runScope) =>
          make.pipe(
            Scope.extend(runScope),
            Effect.map((value) => [value, runScope] as const),
            Effect.onExit((exit) => (Exit.isFailure(exit) ? Scope.close(runScope, exit) : Effect.void))
          )
        )

      for (const workflow of workflows) {
        const unfinished = yield* store.list({ workflow: workflow.name, status: RunStore.unfinished })
        for (const { parentRunId, runId } of unfinished) {
          // A child workflow's run is resumed by its parent (whose step runs it), not on its own.
          if (parentRunId !== undefined) continue
          // One run that cannot be resumed (e.g. a snapshot from an incompatible version) must not stop the server.
          yield* inRunScope(Effect.provide(Workflow.resume(workflow, runId, { limits: options.limits }), context)).pipe(
            Effect.flatMap(([handle, runScope]) => track({ workflow, handle }, runScope)),
            Effect.catchAllCause((cause) =>
              Effect.logWarning(`run ${runId} of workflow "${workflow.name}" was not resumed`, cause)
            )
          )
        }
      }

      const findWorkflow = (name: string) =>
        Effect.fromNullable(byName.get(name)).pipe(
          Effect.mapError(() => new WorkflowNotFound({ message: `no workflow named "${name}"` }))
        )
      const findRun = (id: string): Effect.Effect<Found, RunNotFound | StoreUnavailable> =>
        Effect.flatMap(Effect.option(engine.get(id)), (live) => {
          // A run of a workflow this server does not serve (another server on the same engine) is not its own.
          const workflow = Option.isSome(live) ? byName.get(live.value.workflow) : undefined
          if (Option.isSome(live) && workflow !== undefined) {
            return Effect.succeed<Found>({ _tag: "Live", entry: { workflow, handle: live.value.handle } })
          }
          return store.load(id).pipe(
            Effect.mapError(storeUnavailable),
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.fail(new RunNotFound({ message: `no run "${id}"` })),
                onSome: (snapshot) => Effect.succeed<Found>({ _tag: "Stored", snapshot })
              })
            )
          )
        })
      /**
       * The events of a run not live in this server: followed from its journal when it has one (a run hosted by
       * another process sharing the store goes on, with the same offsets as that process's SSE), else its stored log.
       * A journal that fails mid-way ends the stream (logged); the client reconnects with `Last-Event-ID`.
       */
      const storedEvents = (id: string, snapshot: Snapshot.Snapshot): Stream.Stream<unknown> => {
        const stored = Stream.fromIterable(
          snapshot.published.filter((event) => !Event.isInternal(event as Event.AnyEvent))
        )
        if (Option.isNone(journal)) return stored
        return RunEvents.follow(journal.value, id).pipe(
          Stream.catchAll((error) =>
            error._tag === "RunNotFoundError"
              ? stored
              : Stream.execute(
                  Effect.logWarning(`eventflow server: the events of run ${id} stop here: ${error.message}`)
                )
          )
        )
      }
      const info = (found: Found): Effect.Effect<RunInfo> =>
        found._tag === "Live" ? runInfo(found.entry) : Effect.succeed(storedInfo(found.snapshot))
      // The definition signature a journaled run was started with (its journal's summary), as `GET /runs` lists it.
      // A run without a journal, or a journal store that fails here, gives the info without it.
      const withSignature = (runInfo: RunInfo): Effect.Effect<RunInfo> =>
        Option.isNone(journal)
          ? Effect.succeed(runInfo)
          : journal.value.summary(runInfo.runId).pipe(
              Effect.map(
                Option.match({
                  onNone: () => runInfo,
                  onSome: ({ signature }) => ({ ...runInfo, signature })
                })
              ),
              Effect.orElseSucceed(() => runInfo)
            )
      // The studio's routes (journal, fork, graph): see internal/studioApi.ts.
      // The served workflows and the child workflows their steps declare: drawn for a child run's view.
      const drawable = ChildRuns.declared(workflows)
      const studio = StudioApi.make({
        journal: yield* Effect.serviceOption(JournalStore.JournalStore),
        findWorkflow,
        findDrawable: (name) =>
          Effect.fromNullable(drawable.get(name)).pipe(
            Effect.mapError(() => new WorkflowNotFound({ message: `no workflow named "${name}"` }))
          ),
        exists: (id) => Effect.asVoid(findRun(id)),
        startResumed: (workflow, runId) =>
          Effect.gen(function* () {
            const [handle, runScope] = yield* inRunScope(
              Effect.provide(
                Workflow.resume(workflow as Workflow.AnyWith<R>, runId, { limits: options.limits }),
                context
              )
            )
            const entry: Entry = { workflow, handle }
            yield* track(entry, runScope)
            return yield* runInfo(entry)
          })
      })

      const send = (entry: Entry, event: unknown, step: string | undefined) =>
        entry.handle.send(event, { step }).pipe(
          Effect.catchTags({
            InvalidEventError: (error) => new InvalidEvent({ message: error.message }),
            UnknownStepError: (error) => new InvalidEvent({ message: error.message }),
            RunNotActiveError: (error) => new RunNotActive({ message: error.message, status: error.status }),
            EventNotAcceptedError: (error) =>
              new EventNotAccepted({ message: error.message, accepted: error.accepted }),
            PromptNotOpenError: (error) =>
              new PromptNotOpen({ message: error.message, requestId: error.requestId, open: error.open }),
            RunLimitError: (error) =>
              new RunLimitReached({ message: error.message, limit: error.limit, max: error.max }),
            RunStoreError: (error) => Effect.fail(storeUnavailable(error))
          })
        )
      /**
       * The nearest live ancestor of a child run not live here, with the answer addressed through it: the answer's
       * `requestId` prefixed by the child runs from that ancestor down (`<child>:<grandchild>:<requestId>`), as the
       * ancestor's `pending` names the prompt. `undefined` when the run has no live ancestor (or the event names no
       * prompt: only answers are passed down).
       */
      const viaAncestor = (
        snapshot: Snapshot.Snapshot,
        event: Readonly<Record<string, unknown>>
      ): Effect.Effect<{ readonly entry: Entry; readonly event: unknown } | undefined, never> =>
        Effect.gen(function* () {
          if (typeof event.requestId !== "string") return undefined
          if (snapshot.status !== "running" && snapshot.status !== "waiting") return undefined
          const chain = [snapshot.runId]
          let parent = snapshot.parent
          while (parent !== undefined && chain.length < 64) {
            const found = yield* Effect.option(findRun(parent))
            if (Option.isNone(found)) return undefined
            if (found.value._tag === "Live") {
              const requestId = `${chain.map((id) => `${id}:`).join("")}${event.requestId}`
              return { entry: found.value.entry, event: { ...event, requestId } }
            }
            chain.unshift(found.value.snapshot.runId)
            parent = found.value.snapshot.parent
          }
          return undefined
        })

      return handlers
        .handle("health", () => Effect.map(health.status, (store) => ({ status: store.status, store })))
        .handle("ready", () =>
          Effect.gen(function* () {
            if (Option.isSome(lifecycle) && lifecycle.value.isDraining()) {
              return yield* new NotReady({ message: "the server is shutting down" })
            }
            const status = yield* health.status
            if (status.status === "degraded") {
              return yield* new NotReady({ message: `the run store is degraded: ${status.error}` })
            }
            return { status: "ready" as const }
          })
        )
        .handle("listWorkflows", () => Effect.succeed(workflows.map(describe)))
        .handle("getWorkflow", ({ path }) => Effect.map(findWorkflow(path.name), describe))
        .handle("startRun", ({ path, payload, urlParams }) =>
          Effect.gen(function* () {
            const workflow = yield* findWorkflow(path.name)
            const continueFrom = urlParams.continueFrom
            // The run to continue must exist (404); whether it can be continued is checked by the start (409).
            if (continueFrom !== undefined) yield* findRun(continueFrom)
            const [handle, runScope] = yield* inRunScope(
              Effect.provide(
                Workflow.start(workflow, payload, {
                  durable: true,
                  limits: options.limits,
                  ...(continueFrom === undefined ? {} : { continue: continueFrom })
                }),
                context
              )
            ).pipe(
              Effect.catchTags({
                InvalidInputError: (error) => new InvalidInput({ message: error.message }),
                // The workflows were validated at boot: only `continueFrom` can be refused here.
                WorkflowValidationError: (error) =>
                  continueFrom === undefined
                    ? Effect.die(error)
                    : Effect.fail(new CannotContinue({ message: error.issues.join("\n") })),
                RunStoreError: (error) => Effect.fail(storeUnavailable(error))
              })
            )
            const entry: Entry = { workflow, handle }
            yield* track(entry, runScope)
            // Answers with the result, or with the prompt the run waits on (no request held until a person answers).
            if (urlParams.wait === true) yield* handle.settled
            return yield* runInfo(entry)
          })
        )
        .handle("listRuns", ({ urlParams }) =>
          store
            .list({
              workflow: urlParams.workflow,
              status: urlParams.status === undefined ? undefined : [urlParams.status],
              conversation: urlParams.conversation,
              parent: urlParams.parent,
              limit: urlParams.limit ?? defaultPageSize,
              offset: urlParams.offset
            })
            .pipe(Effect.mapError(storeUnavailable))
        )
        .handle("getRun", ({ path }) =>
          Effect.flatMap(findRun(path.id), (found) => Effect.flatMap(info(found), withSignature))
        )
        .handle("runEvents", ({ headers, path }) =>
          Effect.gen(function* () {
            const found = yield* findRun(path.id)
            const request = yield* HttpServerRequest.HttpServerRequest
            return Sse.eventStream(
              found._tag === "Live" ? found.entry.handle.events() : storedEvents(path.id, found.snapshot),
              headers["last-event-id"],
              nodeResponse(request),
              {
                heartbeat,
                writeTimeout,
                stop: Option.isSome(lifecycle) ? Deferred.await(lifecycle.value.draining) : Effect.never
              }
            )
          })
        )
        .handle("sendEvent", ({ path, payload }) =>
          Effect.gen(function* () {
            const found = yield* findRun(path.id)
            // A child workflow's run lives in its parent's step: an answer to its prompt goes through the nearest
            // live ancestor, which passes it down (`<childRunId>:<requestId>`).
            const via =
              found._tag === "Stored"
                ? yield* viaAncestor(found.snapshot, { ...payload.data, _tag: payload.type })
                : undefined
            if (via !== undefined) {
              yield* send(via.entry, via.event, payload.step)
              return { accepted: true as const }
            }
            if (found._tag === "Stored") {
              const { status } = found.snapshot
              return yield* new RunNotActive({
                message:
                  status === "running" || status === "waiting"
                    ? `run "${path.id}" is ${status} but not live in this server: it is hosted by another process ` +
                      "sharing the store; send to the server that hosts it (or run the servers on the cluster engine)"
                    : `run "${path.id}" is ${status} and not live in this server`,
                status
              })
            }
            yield* send(found.entry, { ...payload.data, _tag: payload.type }, payload.step)
            return { accepted: true as const }
          })
        )
        .handle("runChildren", ({ path }) =>
          Effect.gen(function* () {
            yield* findRun(path.id)
            const listed = yield* store.list({ parent: path.id }).pipe(Effect.mapError(storeUnavailable))
            const children = yield* Effect.forEach(listed, (summary) =>
              findRun(summary.runId).pipe(
                Effect.flatMap(info),
                // A child whose run cannot be read (its definition is not known here): as the store lists it.
                Effect.orElseSucceed(
                  (): RunInfo => ({
                    runId: summary.runId,
                    workflow: summary.workflow,
                    status: summary.status,
                    pending: [],
                    createdAt: summary.createdAt,
                    updatedAt: summary.updatedAt
                  })
                ),
                Effect.map(
                  (run): ChildRun => ({ ...run, parentRunId: path.id, ...ChildRuns.invocation(path.id, run.runId) })
                )
              )
            )
            return ChildRuns.oldestFirst(children)
          })
        )
        .handle("cancelRun", ({ path }) =>
          Effect.gen(function* () {
            const found = yield* findRun(path.id)
            const { parent, status } = found._tag === "Stored" ? found.snapshot : {}
            if (parent !== undefined && (status === "running" || status === "waiting")) {
              return yield* new CannotCancelChild({
                message:
                  `run "${path.id}" is a child workflow's run: it lives in a step of run "${parent}" and ends with ` +
                  `it; cancel that run (DELETE /runs/${encodeURIComponent(parent)})`,
                parentRunId: parent
              })
            }
            if (found._tag === "Stored") return storedInfo(found.snapshot)
            // A cancel is done once its end is saved; while the store fails that never comes, so the request is
            // answered 503 then (the run keeps the cancel and saves it once the store works again), never held.
            // (Looked at after a first pause: a store that works again is noticed by the cancel's own save.)
            const degraded = Effect.suspend(function check(): Effect.Effect<StoreHealth.StoreStatus> {
              return Effect.zipRight(
                Effect.sleep("50 millis"),
                Effect.flatMap(health.status, (status) =>
                  status.status === "degraded" ? Effect.succeed(status) : check()
                )
              )
            })
            yield* Effect.raceFirst(
              found.entry.handle.cancel,
              Effect.flatMap(degraded, (status) =>
                Effect.fail(
                  new StoreUnavailable({
                    message:
                      `the cancel of run "${path.id}" is not saved: ${status.error}. It is kept and saved once the ` +
                      "store works again; the store is degraded (see GET /health)."
                  })
                )
              )
            )
            return yield* runInfo(found.entry)
          })
        )
        .handle("getWorkflowGraph", ({ path }) => studio.graph(path.name))
        .handle("runJournal", ({ path, urlParams }) => studio.journal(path.id, urlParams.from ?? 0))
        .handle("forkRun", ({ path, payload }) => studio.fork(path.id, payload))
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
  workflows: Ws,
  options: ApiOptions = {}
): Layer.Layer<
  HttpApi.Api,
  WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError,
  RunStore.RunStore | Workflow.Requirements<Ws[number]>
> =>
  HttpApiBuilder.api(WorkflowApi).pipe(
    // What the layer's type promises: its context has the services of every workflow's steps.
    Layer.provide(
      handlersLayer(workflows as ReadonlyArray<Workflow.AnyWith<Workflow.Requirements<Ws[number]>>>, options)
    )
  )

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Compares in constant time (of the hashes, so the lengths leak nothing either). */
const sameToken = (given: string, expected: Redacted.Redacted): boolean =>
  timingSafeEqual(digest(given), digest(Redacted.value(expected)))

const errorResponse = (status: number, _tag: string, message: string, headers?: Record<string, string>) =>
  HttpServerResponse.unsafeJson({ _tag, message }, { status, ...(headers === undefined ? {} : { headers }) })

/**
 * Bearer-token authentication (all routes but `/health`), the request body size limit (413), a body that is not JSON
 * (415) or does not parse (400 `InvalidJson`), and JSON bodies for the errors the platform answers with an empty body.
 */
const guard =
  (
    token: Option.Option<Redacted.Redacted>,
    limits: Limits,
    lifecycle: Lifecycle,
    studio: Studio.Studio | undefined = undefined
  ) =>
  (app: HttpApp.Default): HttpApp.Default =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const path = request.url.split("?")[0]
      if (lifecycle.isDraining()) {
        return Effect.succeed(
          errorResponse(503, "NotReady", "the server is shutting down; retry on another instance or later", {
            connection: "close"
          })
        )
      }
      // The studio's static page and script (no data in them): served without the token.
      if (studio !== undefined && (request.method === "GET" || request.method === "HEAD")) {
        const response = studio(path)
        if (response !== undefined) return Effect.succeed(response)
      }
      if (Option.isSome(token) && path !== "/health" && path !== "/ready") {
        const match = /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")
        if (match === null || !sameToken(match[1], token.value)) {
          return Effect.succeed(
            errorResponse(401, "Unauthorized", "a valid bearer token is required", { "www-authenticate": "Bearer" })
          )
        }
      }
      const { maxBodyBytes } = limits
      const declared = request.headers["content-length"]
      const chunked = declared === undefined && request.headers["transfer-encoding"] !== undefined
      if (!chunked) {
        const length = Number(declared ?? "0")
        if (Number.isFinite(length) && length > maxBodyBytes) return Effect.succeed(tooLarge(maxBodyBytes))
        if (!(length > 0)) return jsonErrors(HttpIncomingMessage.withMaxBodySize(app, Option.some(maxBodyBytes)))
      }
      return readBody(request, limits, app)
    })

interface Limits {
  readonly maxBodyBytes: number
  readonly maxJsonDepth: number
}

const tooLarge = (maxBodyBytes: number) =>
  errorResponse(413, "PayloadTooLarge", `the request body exceeds the limit of ${maxBodyBytes} bytes`)

/** Whether the body is to be read as JSON: a JSON content type, or none. */
const isJson = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const type = request.headers["content-type"]
  return type === undefined || /[/+]json\s*(;|$)/i.test(type)
}

/**
 * Reads the body here, up to the limit, and hands the app a request with that body. The platform's own limit
 * destroys the request stream when the limit is passed, which drops the connection before any response; here the
 * rest of an oversized body is discarded as it arrives (as Node does for a body nobody reads) and the client gets a
 * 413 on a connection that stays usable. A JSON body that does not parse gets a 400 saying why and where (the
 * platform answers it with an empty 400); a body of another content type gets a 415 (every endpoint takes JSON).
 */
const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  { maxBodyBytes, maxJsonDepth }: Limits,
  app: HttpApp.Default
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(readUpTo(NodeHttpServerRequest.toIncomingMessage(request), maxBodyBytes), (body) => {
    if (body === "too-large") return Effect.succeed(tooLarge(maxBodyBytes))
    if (body === "aborted") {
      return Effect.succeed(errorResponse(400, "BadRequest", "the request body ended before it was complete"))
    }
    if (!isJson(request) && body.length > 0) {
      return Effect.succeed(
        errorResponse(
          415,
          "UnsupportedMediaType",
          `the request body must be JSON (content-type: application/json), got ${request.headers["content-type"]}`
        )
      )
    }
    const text = new TextDecoder().decode(body)
    let json: unknown = null
    // Checked before parsing: a deeply nested body would overflow the stack of the decoders (a 500 per request).
    if (nestsDeeperThan(text, maxJsonDepth)) {
      return Effect.succeed(
        errorResponse(
          400,
          "InvalidJson",
          `the request body is nested deeper than ${maxJsonDepth} levels of objects and arrays (the server's maxJsonDepth)`
        )
      )
    }
    if (text !== "") {
      try {
        json = JSON.parse(text)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        return Effect.succeed(errorResponse(400, "InvalidJson", `the request body is not valid JSON: ${reason}`))
      }
    }
    const buffered = withBody(request, body, text, json)
    return jsonErrors(Effect.provideService(app, HttpServerRequest.HttpServerRequest, buffered))
  })

/**
 * Gives the errors the platform answers without a body (an unknown route, a defect) a JSON body with a `_tag` and a
 * message, like every other error of the API (a pre-response handler: the platform writes the response of a failure
 * before the middleware sees it). A defect is logged; its details never reach the client.
 */
const jsonErrors = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
  Effect.zipRight(
    HttpApp.appendPreResponseHandler((request, response) => Effect.succeed(withJsonError(request, response))),
    Effect.tapErrorCause(app, (cause) =>
      HttpServerError.causeResponseStripped(cause)[0].status >= 500 && !Cause.isInterruptedOnly(cause)
        ? Effect.logError("eventflow server: a request failed", cause)
        : Effect.void
    )
  )

/**
 * CORS headers on every response: the middleware adds them to the responses of the app, and a pre-response handler
 * to the error responses the platform writes itself (a failure of a handler, an unknown route), so that a browser can
 * read the error too.
 */
const withCors =
  (cors: HttpMiddleware.HttpMiddleware, inner: (app: HttpApp.Default) => HttpApp.Default) =>
  (app: HttpApp.Default): HttpApp.Default =>
    Effect.suspend(() => {
      // A response the guard gives itself (401, 413, 415, 400, 503 while draining) never reaches the platform's
      // pre-response handlers (they run where the app's own response is written): they are applied to it here.
      let reached = false
      const marked = Effect.zipRight(
        Effect.sync(() => {
          reached = true
        }),
        app
      )
      return Effect.zipRight(
        HttpApp.appendPreResponseHandler((request, response) =>
          response.headers["access-control-allow-origin"] !== undefined
            ? Effect.succeed(response)
            : (Effect.provideService(
                Effect.orElseSucceed(cors(Effect.succeed(response)), () => response),
                HttpServerRequest.HttpServerRequest,
                request
              ) as Effect.Effect<HttpServerResponse.HttpServerResponse>)
        ),
        cors(inner(marked))
      ).pipe(
        Effect.flatMap((response) =>
          reached
            ? Effect.succeed(response)
            : Effect.flatMap(FiberRef.get(HttpApp.currentPreResponseHandlers), (handler) =>
                Option.isNone(handler)
                  ? Effect.succeed(response)
                  : Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => handler.value(request, response))
              )
        )
      )
    }) as HttpApp.Default

const allowedMethods = Routes.make(WorkflowApi, [["GET", "/openapi.json"]])

const withJsonError = (
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => {
  if (response.status < 400 || response.body._tag !== "Empty") return response
  const path = request.url.split("?")[0]
  if (response.status === 404) {
    // The path exists, with other methods: 405 with the methods it has.
    const allow = allowedMethods(path)
    if (allow.length > 0 && !allow.includes(request.method)) {
      return errorResponse(
        405,
        "MethodNotAllowed",
        `${request.method} is not allowed on ${path}; use ${allow.join(", ")}`,
        {
          ...response.headers,
          allow: allow.join(", ")
        }
      )
    }
  }
  const [tag, message] =
    response.status === 404
      ? ["RouteNotFound", `no route for ${request.method} ${path}`]
      : response.status === 400
        ? ["BadRequest", `the request to ${request.method} ${path} could not be read`]
        : response.status >= 500
          ? ["InternalServerError", `the server failed to answer ${request.method} ${path}`]
          : ["HttpError", `${request.method} ${path} failed with status ${response.status}`]
  // (With the response's headers, e.g. the CORS ones.)
  return errorResponse(response.status, tag, message, { ...response.headers })
}

/**
 * The same request (its response, headers, url and remote address are the platform's), with the body already read:
 * every way of reading it gives `body`. The API takes JSON only, so multipart bodies are not offered again.
 */
const withBody = (
  request: HttpServerRequest.HttpServerRequest,
  body: Uint8Array,
  text: string,
  /** The body parsed as JSON (`null` for an empty body). */
  json: unknown
): HttpServerRequest.HttpServerRequest => {
  const buffered: HttpServerRequest.HttpServerRequest = Object.create(request)
  // Every JSON media type (`text/json`, `application/<x>+json`) is decoded as JSON, like `application/json`.
  const type = request.headers["content-type"]
  if (type !== undefined && body.length > 0 && !/^application\/json\s*(;|$)/i.test(type)) {
    Object.defineProperty(buffered, "headers", { value: { ...request.headers, "content-type": "application/json" } })
  }
  Object.defineProperties(buffered, {
    text: { value: Effect.succeed(text) },
    json: { value: Effect.succeed(json) },
    urlParamsBody: {
      value: Effect.try({
        try: () => UrlParams.fromInput(new URLSearchParams(text)),
        catch: (cause) => new HttpServerError.RequestError({ request: buffered, reason: "Decode", cause })
      })
    },
    arrayBuffer: { value: Effect.sync(() => body.slice().buffer) },
    stream: { value: Stream.succeed(body) }
  })
  return buffered
}

/** The Node response under a request of the Node server (none for another platform, e.g. in `layerApi` tests). */
const nodeResponse = (request: HttpServerRequest.HttpServerRequest) => {
  try {
    const response: unknown = NodeHttpServerRequest.toServerResponse(request)
    return response instanceof ServerResponse ? response : undefined
  } catch {
    return undefined
  }
}

const readUpTo = (incoming: IncomingMessage, limit: number) =>
  Effect.async<Uint8Array | "too-large" | "aborted">((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onAborted)
      incoming.off("close", onAborted)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        stop()
        chunks.length = 0
        // Flowing with no listener: the rest of the body is read and dropped, so the response can still be written.
        incoming.on("error", () => {})
        incoming.resume()
        resume(Effect.succeed("too-large"))
      } else {
        chunks.push(chunk)
      }
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    const onAborted = () => {
      stop()
      resume(Effect.succeed("aborted"))
    }
    incoming.on("data", onData)
    incoming.once("end", onEnd)
    incoming.once("error", onAborted)
    incoming.once("close", onAborted)
    return Effect.sync(stop)
  })

const resolveToken = (token: Redacted.Redacted | string | undefined) =>
  (token === undefined
    ? Effect.orDie(Config.option(Config.redacted("EVENTFLOW_TOKEN")))
    : Effect.succeed(Option.some(typeof token === "string" ? Redacted.make(token) : token))
  ).pipe(Effect.map(Option.filter((value) => Redacted.value(value) !== "")))

/**
 * Serves the workflows over HTTP with Node's `http` server (on `127.0.0.1:3000` by default), and the OpenAPI document
 * of the `WorkflowApi` at `GET /openapi.json` (behind the bearer token when one is set), with the runs in the
 * `RunStore` of the context (see {@link layer} for the SQLite default). Requires the services of the workflows' steps.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerWithStore = <const Ws extends ReadonlyArray<Workflow.Any>>(
  options: Options<Ws>
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform,
  WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError | HttpServerError.ServeError,
  RunStore.RunStore | Workflow.Requirements<Ws[number]>
> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const token = yield* resolveToken(options.token)
      const controller = yield* makeController()
      const guarded = guard(
        token,
        { maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024, maxJsonDepth: options.maxJsonDepth ?? 64 },
        controller,
        options.studio === false ? undefined : Studio.make()
      )
      const cors = options.cors
      const middleware =
        cors === undefined || cors === false
          ? guarded
          : withCors(HttpMiddleware.cors(cors === true ? undefined : cors), guarded)
      const served = HttpApiBuilder.serve(middleware).pipe(
        Layer.provide(HttpApiBuilder.middlewareOpenApi()),
        // The port listens only once the API is ready (its unfinished runs resumed): no connection hangs at boot.
        Layer.provideMerge(
          NodeHttpServer.layer(controller.createServer, {
            port: options.port ?? 3000,
            host: options.host ?? "127.0.0.1"
          })
        ),
        Layer.provide(
          layerApi(options.workflows, {
            heartbeat: options.heartbeat,
            sseWriteTimeout: options.sseWriteTimeout,
            limits: options.limits
          }).pipe(Layer.provide(Layer.succeed(Lifecycle, controller)))
        )
      )
      const deadline = Duration.decode(options.shutdownTimeout ?? "10 seconds")
      // Built last, so released first: the drain runs before the platform closes the server and the runs stop.
      return Layer.flatMap(served, (context) =>
        Layer.merge(
          Layer.succeedContext(context),
          Layer.scopedDiscard(Effect.addFinalizer(() => controller.drain(deadline)))
        )
      )
    })
  )

/**
 * The SQLite file of {@link layer} when no `filename` is given, relative to the working directory.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultFilename = "eventflow.db"

/**
 * Serves the workflows over HTTP (see {@link layerWithStore}) with their runs durable in a SQLite file:
 * `filename`, default {@link defaultFilename} (`":memory:"` for a store that lives as long as the server, e.g. in
 * tests). On start, every unfinished run in the file is resumed.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = <const Ws extends ReadonlyArray<Workflow.Any>>(
  options: Options<Ws> & { readonly filename?: string | undefined }
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform,
  WorkflowError.RunStoreError | WorkflowError.InvalidSnapshotError | HttpServerError.ServeError,
  Workflow.Requirements<Ws[number]>
> =>
  layerWithStore(options).pipe(Layer.provide(SqliteRunStore.layer({ filename: options.filename ?? defaultFilename })))
