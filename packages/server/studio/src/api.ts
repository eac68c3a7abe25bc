/**
 * The studio's HTTP client: every request carries the token the page asked for (kept in sessionStorage, never in a
 * URL); a 401 asks for it again.
 */

const storageKey = "eventflow-studio-token"

let token: string = sessionStorage.getItem(storageKey) ?? ""
let onUnauthorized: () => void = () => {}

export const setToken = (value: string): void => {
  token = value
  sessionStorage.setItem(storageKey, value)
}

export const whenUnauthorized = (f: () => void): void => {
  onUnauthorized = f
}

const headers = (json: boolean): Record<string, string> => ({
  ...(token === "" ? {} : { authorization: `Bearer ${token}` }),
  ...(json ? { "content-type": "application/json" } : {})
})

/** An error answer of the server: its status, `_tag` and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly tag: string,
    message: string
  ) {
    super(message)
  }
}

export const api = async <A = any>(method: string, path: string, body?: unknown): Promise<A> => {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  let json: any
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = text
  }
  if (!response.ok) {
    if (response.status === 401) onUnauthorized()
    throw new ApiError(
      response.status,
      json?._tag ?? "HttpError",
      typeof json?.message === "string" ? json.message : `${method} ${path}: ${response.status}`
    )
  }
  return json as A
}

export interface StreamedEvent {
  readonly offset: number
  readonly tag: string
  readonly data: any
}

/**
 * Follows a run's Server-Sent Events (read with `fetch`, so the token goes in a header), resuming after the last
 * offset seen when the connection drops, until `signal` aborts or the stream ends with a terminal event.
 */
export const followEvents = async (
  runId: string,
  onEvent: (event: StreamedEvent) => void,
  signal: AbortSignal,
  /**
   * Whether to open the stream again after it ended: a child workflow's run is served from the store (its stream
   * ends with what it has published so far) while it is live in its parent's step.
   */
  again: () => boolean = () => false
): Promise<void> => {
  let last: number | undefined
  let lastRead = false
  while (!signal.aborted) {
    try {
      const response = await fetch(`/runs/${encodeURIComponent(runId)}/events`, {
        headers: { ...headers(false), ...(last === undefined ? {} : { "last-event-id": String(last) }) },
        signal
      })
      if (response.status === 401) onUnauthorized()
      if (!response.ok || response.body === null) return
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += value
        let end = buffer.indexOf("\n\n")
        while (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          end = buffer.indexOf("\n\n")
          let id: number | undefined
          let tag = "message"
          let data = ""
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = Number(line.slice(4))
            else if (line.startsWith("event: ")) tag = line.slice(7)
            else if (line.startsWith("data: ")) data += line.slice(6)
          }
          if (id === undefined) continue
          last = id
          onEvent({ offset: id, tag, data: JSON.parse(data) })
        }
      }
      // Once it need not be read again, it is read one last time: the run may have ended since the last read.
      if (!again()) {
        if (last === undefined || lastRead) return
        lastRead = true
      } else {
        await new Promise((resolve) => setTimeout(resolve, 700))
      }
    } catch {
      if (signal.aborted) return
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
}
