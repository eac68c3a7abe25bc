/**
 * Deterministic event ids (DESIGN.md "Identity"): `"0"` for the StartEvent, `p/s/k` for the k-th event emitted
 * by the invocation of step `s` that handled event `p`, `x/<n>` for the n-th event sent from outside.
 *
 * A long chain (a loop of 100,000 hops) would make `p/s/k` grow with the chain, so an id longer than
 * {@link maxIdLength} characters is folded into `~` + a 106-bit hash of the same triple: still deterministic,
 * bounded in length, and computed in constant time from its parent's (already bounded) id.
 */

/** @internal */
export const startEventId = "0"

/** @internal */
export const maxIdLength = 96

/** @internal */
export const externalId = (n: number): string => `x/${n}`

/** Whether an event id is that of an event sent from outside ({@link externalId}). @internal */
export const isExternalId = (id: string): boolean => id.startsWith("x/")

/** @internal */
export const childId = (parent: string, step: string, k: number): string => {
  const id = `${parent}/${step}/${k}`
  return id.length <= maxIdLength ? id : fold(id)
}

/** The key of a `ctx.waitFor` registration: the `index`-th wait of the invocation of `step` for `eventId`. @internal */
export const waiterKey = (step: string, eventId: string, index: number): string => `${step}@${eventId}#${index}`

/** The event id of the `n`-th `ctx.write` of the invocation of `step` for `eventId` (a written prompt's id). @internal */
export const writeId = (eventId: string, step: string, n: number): string => `${eventId}/${step}/w${n}`

/** The id under which the `call`-th `ctx.collect` of an invocation buffers an event it did not handle. @internal */
export const collectId = (eventId: string, call: number): string => `${eventId}/c${call}`

/** The run id of the `n`-th child (`ctx.run` / `ctx.start`) of an execution: a re-execution finds it. @internal */
export const childRunId = (parentRunId: string, step: string, eventId: string, n: number): string =>
  `${parentRunId}/${step}@${eventId}/c${n}`

// Journal entry ids, each derived from the ids above: an entry appended twice has the same id (a no-op).

/** The `step@eventId` of an invocation, as in today's waiter keys (`step@eventId#index`). @internal */
export const invocationKey = (step: string, eventId: string): string => `${step}@${eventId}`

/** The journal entry ids. @internal */
export const ids = {
  runStarted: "start",
  invocationCompleted: (step: string, eventId: string): string => `done:${invocationKey(step, eventId)}`,
  attemptFailed: (step: string, eventId: string, attempt: number): string =>
    `attempt:${invocationKey(step, eventId)}#${attempt}`,
  invocationFailed: (step: string, eventId: string): string => `failed:${invocationKey(step, eventId)}`,
  eventSent: (eventId: string): string => `emit:${eventId}`,
  externalEventSent: (eventId: string): string => `sent:${eventId}`,
  waiterRegistered: (key: string): string => `wait:${key}`,
  waiterAnswered: (key: string): string => `answer:${key}`,
  runEnded: "end",
  written: (writeId: string): string => `write:${writeId}`,
  collected: (step: string, eventId: string, call: number): string => `collect:${invocationKey(step, eventId)}#${call}`,
  published: (from: number): string => `log:${from}`
} as const

// cyrb53 (public domain), run with two seeds for 106 bits.
/** @internal */
export const cyrb53 = (str: string, seed: number): number => {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

const fold = (id: string): string => `~${cyrb53(id, 0).toString(36)}.${cyrb53(id, 0x9e3779b9).toString(36)}`
