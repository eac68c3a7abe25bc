/**
 * What the run view derives from a run's journal (entries as `Journal` of `@eventflow/core` defines them): the steps'
 * invocations as a waterfall, counts per graph node, the state at an offset, and the event an entry carries.
 */

export interface Stored {
  readonly offset: number
  readonly entry: any
}

export interface Invocation {
  readonly step: string
  readonly eventId: string
  /** When the event it handles was produced (epoch ms): it was queued from then on. */
  readonly queuedAt: number | undefined
  /**
   * When its (last) attempt started running, when the journal records it (`startedAt` of `InvocationCompleted` /
   * `InvocationFailed`): before it, the invocation was queued (or in earlier attempts).
   */
  readonly startedAt: number | undefined
  readonly endedAt: number | undefined
  readonly attempts: ReadonlyArray<{ readonly at: number | undefined; readonly error: string }>
  readonly outcome: "completed" | "failed" | "running"
  readonly error?: string
}

/** The time each event id was produced, from the entries that produced it. */
const producedAt = (entries: ReadonlyArray<Stored>): Map<string, number | undefined> => {
  const at = new Map<string, number | undefined>()
  for (const { entry } of entries) {
    switch (entry._tag) {
      case "RunStarted":
        at.set("0", entry.at)
        break
      case "InvocationCompleted":
        for (const e of entry.events) at.set(e.id, entry.at)
        for (const e of entry.sends) at.set(e.id, entry.at)
        break
      case "InvocationFailed":
        if (entry.event !== undefined) at.set(entry.event.id, entry.at)
        break
      case "EventSent":
      case "ExternalEventSent":
        at.set(entry.eventId, entry.at)
        break
    }
  }
  return at
}

export const invocations = (entries: ReadonlyArray<Stored>): Array<Invocation> => {
  const produced = producedAt(entries)
  const byKey = new Map<string, Invocation>()
  const get = (step: string, eventId: string): Invocation => {
    const key = `${step}@${eventId}`
    let found = byKey.get(key)
    if (found === undefined) {
      found = {
        step,
        eventId,
        queuedAt: produced.get(eventId),
        startedAt: undefined,
        endedAt: undefined,
        attempts: [],
        outcome: "running"
      }
      byKey.set(key, found)
    }
    return found
  }
  for (const { entry } of entries) {
    if (entry._tag === "AttemptFailed") {
      const inv = get(entry.step, entry.eventId)
      byKey.set(`${entry.step}@${entry.eventId}`, {
        ...inv,
        attempts: [...inv.attempts, { at: entry.at, error: entry.error.message }]
      })
    } else if (entry._tag === "InvocationCompleted") {
      byKey.set(`${entry.step}@${entry.eventId}`, {
        ...get(entry.step, entry.eventId),
        startedAt: entry.startedAt,
        endedAt: entry.at,
        outcome: "completed"
      })
    } else if (entry._tag === "InvocationFailed") {
      byKey.set(`${entry.step}@${entry.eventId}`, {
        ...get(entry.step, entry.eventId),
        startedAt: entry.startedAt,
        endedAt: entry.at,
        outcome: "failed",
        error: `${entry.error._tag ?? "Error"}: ${entry.error.message}`
      })
    } else if (entry._tag === "WaiterRegistered") {
      get(entry.step, entry.eventId)
    }
  }
  return [...byKey.values()]
}

/** How many times each graph node (`step:<name>`, `event:<tag>`) was gone through. */
export const counts = (entries: ReadonlyArray<Stored>): Map<string, number> => {
  const out = new Map<string, number>()
  const add = (id: string) => out.set(id, (out.get(id) ?? 0) + 1)
  for (const { entry } of entries) {
    switch (entry._tag) {
      case "RunStarted":
        add("event:StartEvent")
        break
      case "InvocationCompleted":
        add(`step:${entry.step}`)
        for (const e of entry.events) add(`event:${e.event?._tag}`)
        break
      case "InvocationFailed":
        add(`step:${entry.step}`)
        if (entry.event !== undefined) add("event:StepFailed")
        break
      case "ExternalEventSent":
      case "EventSent":
        add(`event:${entry.event?._tag}`)
        break
      case "WaiterRegistered":
        add(`human:${entry.step}:${entry.tag}`)
        break
    }
  }
  return out
}

/** The run's state after the entry at `offset`: the last state recorded at or before it. */
export const stateAt = (entries: ReadonlyArray<Stored>, offset: number): unknown => {
  let state: unknown = null
  for (const { offset: at, entry } of entries) {
    if (at > offset) break
    if (entry._tag === "RunStarted" || entry._tag === "InvocationCompleted") state = entry.state
  }
  return state
}

/** The event an entry carries (what a fork from it may edit), if any. */
export const eventOf = (entry: any): unknown => {
  switch (entry._tag) {
    case "RunStarted":
      return entry.input
    case "ExternalEventSent":
    case "EventSent":
      return entry.event
    case "InvocationCompleted":
      return entry.events.length === 1 ? entry.events[0].event : undefined
    case "WaiterAnswered":
      return entry.outcome._tag === "Event" ? entry.outcome.answer.event : undefined
    default:
      return undefined
  }
}

/** A one-line description of an entry. */
export const describeEntry = (entry: any): string => {
  switch (entry._tag) {
    case "RunStarted":
      return `${entry.workflow} started${entry.forkedFrom === undefined ? "" : ` (fork of ${entry.forkedFrom.runId} at ${entry.forkedFrom.offset})`}`
    case "InvocationCompleted":
      return `${entry.step} handled ${entry.tag} ${entry.eventId} → ${entry.events.map((e: any) => e.event?._tag).join(", ") || "nothing"}`
    case "AttemptFailed":
      return `${entry.step} attempt ${entry.attempt} failed: ${entry.error.message}`
    case "InvocationFailed":
      return `${entry.step} failed after ${entry.attempts} attempt(s): ${entry.error.message}`
    case "EventSent":
      return `${entry.step} sent ${entry.event?._tag} ${entry.eventId}`
    case "ExternalEventSent":
      return `sent from outside: ${entry.event?._tag} ${entry.eventId}`
    case "WaiterRegistered":
      return `${entry.step} waits for ${entry.tag}`
    case "WaiterAnswered":
      return `${entry.step}'s wait ${entry.outcome._tag === "Event" ? `answered by ${entry.outcome.answer.id}` : "expired"}`
    case "RunEnded":
      return `run ${entry.status}${entry.error === undefined ? "" : `: ${entry.error.message}`}`
    case "Published":
      return `published ${entry.events.map((e: any) => e._tag).join(", ")}`
    case "Written":
      return `${entry.step} wrote #${entry.index}${entry.prompt === undefined ? "" : ` (prompt: ${entry.prompt.prompt})`}`
    case "Collected":
      return `${entry.step} collected ${entry.event?._tag} (${entry.pushed ? "buffered" : "not expected"})`
    default:
      return entry._tag
  }
}
