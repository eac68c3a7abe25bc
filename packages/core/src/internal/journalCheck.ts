/**
 * Checks a journal against a workflow definition before a resume replays it (issue 12, "Replay checks"). Pure.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Journal from "../Journal.js"
import type * as Workflow from "../Workflow.js"
import { writeId } from "./ids.js"
import { planOf } from "./plan.js"
import { decodeEvent } from "./snapshot.js"

const describeError = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "path" in error && "detail" in error) {
    return String((error as { detail: unknown }).detail)
  }
  return error instanceof Error ? error.message : String(error)
}

/** @internal */
export const check = (self: Workflow.Any, entries: ReadonlyArray<Journal.Stored>): Array<string> => {
  const plan = planOf(self)
  const out: Array<string> = []
  const stepNames = plan.steps.map((s) => s.name).join(", ")
  /** The tag of every event id the journal produced so far. */
  const tags = new Map<string, string>()
  const at = (stored: Journal.Stored) => `entry ${stored.offset} (${stored.entry._tag} "${stored.entry.id}")`

  const decodeWith = (schema: Schema.Schema.Any | undefined, value: unknown, where: string, what: string) => {
    if (schema === undefined) return
    const result = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown, never>)(value)
    if (Either.isLeft(result)) {
      out.push(`${where}: the ${what} no longer decodes: ${ParseResult.TreeFormatter.formatErrorSync(result.left)}`)
    }
  }
  const event = (identified: Journal.IdentifiedEvent, where: string) => {
    const encoded = identified.event as { readonly _tag?: unknown }
    const tag = typeof encoded === "object" && encoded !== null ? encoded._tag : undefined
    if (typeof tag !== "string") {
      out.push(`${where}: event ${identified.id} has no string _tag`)
      return
    }
    tags.set(identified.id, tag)
    try {
      decodeEvent(plan, identified.event, identified.id)
    } catch (error) {
      out.push(`${where}: event ${identified.id} (${tag}) no longer decodes: ${describeError(error)}`)
    }
  }
  const step = (name: string, where: string): number | undefined => {
    const index = plan.stepIndex.get(name)
    if (index === undefined) out.push(`${where}: the workflow has no step "${name}" (steps: ${stepNames})`)
    return index
  }

  for (const stored of entries) {
    const entry = stored.entry
    const where = at(stored)
    switch (entry._tag) {
      case "RunStarted": {
        if (entry.workflow !== plan.name) {
          out.push(`${where}: the journal is of workflow "${entry.workflow}", not "${plan.name}"`)
        }
        tags.set("0", "StartEvent")
        decodeWith(self.input, entry.input, where, "input")
        decodeWith(self.state, entry.state, where, "initial state")
        break
      }
      case "InvocationCompleted": {
        const index = step(entry.step, where)
        if (index !== undefined && !plan.steps[index].def.accepts.includes(entry.tag)) {
          out.push(
            `${where}: step "${entry.step}" no longer accepts ${entry.tag} ` +
              `(it accepts ${plan.steps[index].def.accepts.join(", ")})`
          )
        }
        const known = tags.get(entry.eventId)
        if (known !== undefined && known !== entry.tag) {
          out.push(`${where}: event ${entry.eventId} is a ${known} in the journal, not a ${entry.tag}`)
        }
        for (const e of entry.events) event(e, where)
        for (const e of entry.sends) {
          event(e, where)
          if (e.step !== undefined) step(e.step, `${where}, send ${e.id}`)
        }
        for (const w of entry.writes) event({ id: writeId(entry.eventId, entry.step, w.index), event: w.event }, where)
        decodeWith(self.state, entry.state, where, "state")
        break
      }
      case "AttemptFailed":
        step(entry.step, where)
        break
      case "InvocationFailed":
        step(entry.step, where)
        if (entry.event !== undefined) event(entry.event, where)
        break
      case "EventSent":
        step(entry.step, where)
        event({ id: entry.eventId, event: entry.event }, where)
        if (entry.target !== undefined) step(entry.target, `${where}, target`)
        break
      case "ExternalEventSent":
        event({ id: entry.eventId, event: entry.event }, where)
        if (entry.step !== undefined) step(entry.step, where)
        break
      case "WaiterRegistered":
        step(entry.step, where)
        if (entry.prompt !== undefined) event(entry.prompt, where)
        break
      case "WaiterAnswered":
        step(entry.step, where)
        if (entry.outcome._tag === "Event") event(entry.outcome.answer, where)
        break
      case "Written":
        step(entry.step, where)
        if (entry.prompt !== undefined)
          event({ id: writeId(entry.eventId, entry.step, entry.index), event: entry.prompt }, where)
        break
      case "Collected":
        step(entry.step, where)
        event({ id: entry.bufferedAs, event: entry.event }, where)
        break
      case "Published":
        break
      case "RunEnded":
        if (entry.status === "completed" && entry.result !== undefined) {
          decodeWith(self.output, entry.result, where, "result")
        }
        break
    }
  }
  return out
}
