/**
 * The handle of a run: one small object per handle (the run and its id), whose effects are made when they are read.
 * A server holding many waiting runs keeps a handle per run, so it stays cheap (no effect or closure per field).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type { AnyEvent } from "../Event.js"
import type { PublishedEvent, RunHandle, Status } from "../Run.js"
import type * as Snapshot from "../Snapshot.js"
import * as child from "./child.js"
import type { Log } from "./log.js"
import type { RunImpl, SendError } from "./run.js"

/** @internal */
export class RunHandleImpl implements RunHandle<any> {
  constructor(private readonly run: RunImpl<any>) {}

  /** The run's published log (for `Follower`). */
  get log(): Log {
    return this.run.log
  }

  get runId(): string {
    return this.run.runId
  }

  get result(): Effect.Effect<any, any> {
    return this.run.ended.await
  }

  events(options?: { readonly internal?: boolean | undefined }): Stream.Stream<PublishedEvent> {
    return this.run.log.stream(options)
  }

  follow<E, R>(
    f: (event: PublishedEvent, offset: number) => Effect.Effect<unknown, E, R>,
    options?: { readonly internal?: boolean | undefined; readonly from?: number | undefined }
  ): Effect.Effect<void, E, R> {
    return this.run.log.follow(f, options)
  }

  send(event: unknown, options?: { readonly step?: string | undefined }): Effect.Effect<void, SendError> {
    return this.run.send(event, options)
  }

  get cancel(): Effect.Effect<void> {
    return this.run.cancel
  }

  get status(): Effect.Effect<Status> {
    return Effect.sync(() => this.run.status())
  }

  get settled(): Effect.Effect<Status> {
    return this.run.settled
  }

  /** A state that cannot be snapshotted dies with `StateNotSerializableError` (never a silently wrong snapshot). */
  get snapshot(): Effect.Effect<Snapshot.Snapshot> {
    return Effect.sync(() => this.run.snapshot())
  }

  get pending(): Effect.Effect<
    ReadonlyArray<{ readonly eventId: string; readonly requestId: string; readonly prompt: AnyEvent }>
  > {
    // A child's prompts (ctx.run / ctx.start) are answerable through its parent: see `child.ts`.
    return Effect.sync(() => child.pendingWithChildren(this.run))
  }

  get runningSteps(): Effect.Effect<Readonly<Record<string, number>>> {
    return Effect.sync(() => this.run.runningSteps())
  }

  get state(): Effect.Effect<any> {
    return SynchronizedRef.get(this.run.stateRef)
  }
}
