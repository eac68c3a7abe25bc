/**
 * The life of the HTTP server: ready once everything is built (the port listens only then), draining once it shuts
 * down: new requests get 503, event streams end, requests in progress get until the deadline, then every connection
 * left is closed.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Server } from "node:http"
import { createServer } from "node:http"

/** @internal */
export interface Lifecycle {
  /** Whether the server is shutting down. */
  readonly isDraining: () => boolean
  /** Done when the server starts to shut down (event streams end then). */
  readonly draining: Deferred.Deferred<void>
}

/** @internal */
export const Lifecycle = Context.GenericTag<Lifecycle>("@eventflow/server/internal/Lifecycle")

/** @internal */
export interface Controller extends Lifecycle {
  /** Creates the Node server (for `NodeHttpServer.layer`) and counts its requests in progress. */
  readonly createServer: () => Server
  /** Drains: stops accepting, waits for the requests in progress up to `deadline`, then closes every connection. */
  readonly drain: (deadline: Duration.Duration) => Effect.Effect<void>
}

/** @internal */
export const makeController = (): Effect.Effect<Controller> =>
  Effect.map(Deferred.make<void>(), (draining) => {
    let server: Server | undefined
    let active = 0
    let isDraining = false
    let idle: (() => void) | undefined
    return {
      draining,
      isDraining: () => isDraining,
      createServer: () => {
        const created = createServer()
        created.on("request", (_request, response) => {
          active++
          response.once("close", () => {
            active--
            if (active === 0) idle?.()
          })
        })
        server = created
        return created
      },
      drain: (deadline) =>
        Effect.suspend(() => {
          isDraining = true
          const current = server
          if (current === undefined) return Deferred.succeed(draining, undefined)
          // No new connections; connections without a request in progress are closed at once.
          if (current.listening) current.close()
          current.closeIdleConnections()
          const settled = Effect.async<void>((resume) => {
            if (active === 0) return resume(Effect.void)
            idle = () => resume(Effect.void)
            return Effect.sync(() => {
              idle = undefined
            })
          })
          return Deferred.succeed(draining, undefined).pipe(
            // (Interruptible: a finalizer runs uninterruptibly, and the timeout must be able to stop the wait.)
            Effect.zipRight(Effect.timeoutOption(Effect.interruptible(settled), deadline)),
            Effect.flatMap((done) =>
              done._tag === "Some"
                ? Effect.void
                : Effect.logWarning(
                    `eventflow server: ${active} request(s) still in progress after the shutdown deadline of ` +
                      `${Duration.format(deadline)}; closing their connections`
                  )
            ),
            Effect.zipRight(Effect.sync(() => current.closeAllConnections()))
          )
        })
    }
  })
