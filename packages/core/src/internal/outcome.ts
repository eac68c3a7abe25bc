import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"

/**
 * A one-shot completion: cheaper than a `Deferred` (one per run sits on the hot path of short runs).
 *
 * @internal
 */
export class Outcome<A, E> {
  exit: Exit.Exit<A, E> | undefined = undefined
  private listeners: Array<(exit: Exit.Exit<A, E>) => void> = []

  done(exit: Exit.Exit<A, E>): void {
    if (this.exit !== undefined) return
    this.exit = exit
    const listeners = this.listeners
    this.listeners = []
    for (const listener of listeners) listener(exit)
  }

  /** Calls `listener` once it is done (at once if it already is); returns a function that unsubscribes. */
  listen(listener: (exit: Exit.Exit<A, E>) => void): () => void {
    if (this.exit !== undefined) {
      listener(this.exit)
      return () => {}
    }
    this.listeners.push(listener)
    return () => {
      const index = this.listeners.indexOf(listener)
      if (index >= 0) this.listeners.splice(index, 1)
    }
  }

  get await(): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      if (this.exit !== undefined) return this.exit
      return Effect.async<A, E>((resume) => {
        if (this.exit !== undefined) return resume(this.exit)
        const listener = (exit: Exit.Exit<A, E>) => resume(exit)
        this.listeners.push(listener)
        return Effect.sync(() => {
          const index = this.listeners.indexOf(listener)
          if (index >= 0) this.listeners.splice(index, 1)
        })
      })
    })
  }
}
