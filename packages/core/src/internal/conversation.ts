/**
 * Conversations (`RunOptions.continue`): a new run that starts from an earlier run's final state. Only the typed
 * state carries over (LlamaIndex's `workflow.run(ctx=ctx)` keeps the context's store): the earlier run has ended, so
 * the events it left unclaimed answered nothing it asked and are not replayed into the next turn.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { RunHandle, RunOptions } from "../Run.js"
import { RunStore } from "../RunStore.js"
import type { Snapshot } from "../Snapshot.js"
import type * as Workflow from "../Workflow.js"
import { type RunStoreError, WorkflowValidationError } from "../WorkflowError.js"
import { register } from "./registry.js"

/** What a continued run starts from. @internal */
export interface Continued {
  readonly state: unknown
  readonly conversation: { readonly id: string; readonly previous: string }
}

const ended = new Set(["completed", "failed", "cancelled", "timed-out"])

/** Reads the earlier run (`options.continue`) and checks that it can be continued by a run of `self`. @internal */
export const resolveContinue = (
  self: Workflow.Any,
  options: RunOptions
): Effect.Effect<Continued, WorkflowValidationError | RunStoreError> =>
  Effect.gen(function* () {
    const from = options.continue as string | RunHandle<any, any>
    const invalid = (detail: string) =>
      new WorkflowValidationError({ workflow: self.name, issues: [`run options: "continue": ${detail}`] })
    if (options.state !== undefined) {
      return yield* invalid(
        `give either "continue" or "state", not both (a continued run starts from the state of the run it continues).`
      )
    }
    let snapshot: Snapshot
    if (typeof from === "string") {
      const store = yield* Effect.serviceOption(RunStore)
      if (Option.isNone(store)) {
        return yield* invalid(
          `continuing run "${from}" by its id reads it from the RunStore, and there is none: provide a RunStore layer, or pass the earlier run's handle.`
        )
      }
      // A journaled run is loaded by replaying its journal with its definition: the one continuing it.
      register(self)
      const loaded = yield* store.value.load(from)
      if (Option.isNone(loaded)) return yield* invalid(`there is no run "${from}" in the RunStore.`)
      snapshot = loaded.value
    } else {
      snapshot = yield* Effect.orDie(from.snapshot)
    }
    if (snapshot.workflow !== self.name) {
      return yield* invalid(
        `run "${snapshot.runId}" is a run of workflow "${snapshot.workflow}", not "${self.name}": a conversation continues runs of one workflow.`
      )
    }
    if (!ended.has(snapshot.status)) {
      return yield* invalid(
        `run "${snapshot.runId}" is still ${snapshot.status}: a conversation continues a run that has ended (wait for its result first).`
      )
    }
    const schema = self.state as Schema.Schema<unknown, unknown, never> | undefined
    let state: unknown = snapshot.state
    if (schema !== undefined) {
      const decoded = Schema.decodeUnknownEither(schema)(snapshot.state)
      if (Either.isLeft(decoded)) {
        return yield* invalid(
          `the final state of run "${snapshot.runId}" does not decode with the state schema: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`
        )
      }
      state = decoded.right
    }
    return {
      state,
      conversation: { id: snapshot.conversation?.id ?? snapshot.runId, previous: snapshot.runId }
    }
  })
