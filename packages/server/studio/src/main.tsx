/**
 * Eventflow Studio: the workflows served, their runs (live), and one run's timeline, journal, graph, prompts and
 * forks. Talks to the server's HTTP API only, with the token the page asks for once.
 */
import { render } from "preact"
import { useEffect, useMemo, useRef, useState } from "preact/hooks"
import { ApiError, api, followEvents, setToken, type StreamedEvent, whenUnauthorized } from "./api.js"
import { type ChildRunMark, type GraphJson, GraphView } from "./GraphView.js"
import * as J from "./journal.js"
import { SchemaForm } from "./SchemaForm.js"

const statuses = ["running", "waiting", "completed", "failed", "cancelled", "timed-out"] as const
const pageSize = 20

const useHash = (): string => {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = () => setHash(location.hash)
    addEventListener("hashchange", on)
    return () => removeEventListener("hashchange", on)
  }, [])
  return hash
}

/** Calls `f` now and every `ms` while mounted (and `deps` unchanged). */
const usePoll = (f: () => Promise<void> | void, ms: number, deps: ReadonlyArray<unknown>) => {
  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const tick = async () => {
      try {
        await f()
      } catch {
        // shown by the caller's own state
      }
      if (!stopped) timer = setTimeout(tick, ms)
    }
    void tick()
    return () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
    }
  }, deps)
}

/** The page of a run: its id percent-encoded, so a child run's id (`<parent>/<step>@<eventId>/c<n>`) is one part. */
const runHref = (runId: string): string => `#/runs/${encodeURIComponent(runId)}`
const runPath = (runId: string, rest = ""): string => `/runs/${encodeURIComponent(runId)}${rest}`

/** A child run as `GET /runs/{id}/children` lists it. */
interface ChildRun {
  readonly runId: string
  readonly workflow: string
  readonly status: string
  readonly step: string
  readonly eventId: string
  readonly index: number
  readonly result?: unknown
  readonly error?: { readonly _tag: string; readonly message: string }
  readonly pending: ReadonlyArray<unknown>
}

/** How a child is named in its parent's view: the invocation that started it and its number there. */
const childLabel = (child: ChildRun): string => `${child.step}@${child.eventId}/c${child.index}`

const time = (ms: number | undefined) => (ms === undefined ? "" : new Date(ms).toLocaleTimeString())
const json = (value: unknown) => JSON.stringify(value, null, 2)

const cache = new Map<string, Promise<any>>()
const graphOf = (name: string): Promise<any> => {
  let found = cache.get(name)
  if (found === undefined) {
    found = api("GET", `/workflows/${encodeURIComponent(name)}/graph`)
    found.catch(() => cache.delete(name))
    cache.set(name, found)
  }
  return found
}

const useGraph = (name: string | undefined) => {
  const [graph, setGraph] = useState<any>(undefined)
  useEffect(() => {
    if (name !== undefined) graphOf(name).then(setGraph, () => {})
  }, [name])
  return graph
}

// -----------------------------------------------------------------------------
// Token gate
// -----------------------------------------------------------------------------

const TokenGate = (props: { readonly onToken: () => void }) => {
  const [error, setError] = useState<string | undefined>(undefined)
  const submit = async (event: Event) => {
    event.preventDefault()
    const input = (event.currentTarget as HTMLFormElement).elements.namedItem("token") as HTMLInputElement
    setToken(input.value)
    try {
      await api("GET", "/workflows")
      props.onToken()
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? "that token is not accepted" : String(e))
    }
  }
  return (
    <main class="gate">
      <form data-testid="token-form" onSubmit={submit}>
        <h2>This server needs a token</h2>
        <p>It is kept in this tab's session storage and sent as a bearer token, never in a URL.</p>
        <input name="token" type="password" autocomplete="off" placeholder="token" />
        <button type="submit">Open the studio</button>
        {error === undefined ? null : (
          <p class="error" data-testid="token-error">
            {error}
          </p>
        )}
      </form>
    </main>
  )
}

// -----------------------------------------------------------------------------
// Workflows
// -----------------------------------------------------------------------------

const WorkflowCard = (props: { readonly name: string }) => {
  const graph = useGraph(props.name)
  if (graph === undefined) return <section class="card">{props.name}…</section>
  const start = async (input: unknown) => {
    const run = await api("POST", `/workflows/${encodeURIComponent(props.name)}/runs`, input ?? {})
    location.hash = runHref(run.runId)
  }
  return (
    <section class="card" data-testid="workflow" data-workflow={props.name}>
      <h2>{graph.name}</h2>
      {graph.description === null ? null : <p>{graph.description}</p>}
      <p class="muted">
        signature <code>{graph.signature.slice(0, 12)}</code>
      </p>
      <div class="columns">
        <div class="graph-box">
          <GraphView graph={graph.graph as GraphJson} />
        </div>
        <div>
          <h3>Start a run</h3>
          <SchemaForm schema={graph.input} submit="Start run" testid="start-form" onSubmit={start} />
          <details>
            <summary>Input JSON Schema</summary>
            <pre>{json(graph.input)}</pre>
          </details>
        </div>
      </div>
    </section>
  )
}

const Workflows = () => {
  const [names, setNames] = useState<ReadonlyArray<string>>([])
  useEffect(() => {
    api<ReadonlyArray<{ name: string }>>("GET", "/workflows").then(
      (ws) => setNames(ws.map((w) => w.name)),
      () => {}
    )
  }, [])
  return (
    <main>
      {names.map((name) => (
        <WorkflowCard key={name} name={name} />
      ))}
    </main>
  )
}

// -----------------------------------------------------------------------------
// Runs
// -----------------------------------------------------------------------------

const Runs = () => {
  const [workflows, setWorkflows] = useState<ReadonlyArray<string>>([])
  const [workflow, setWorkflow] = useState("")
  const [status, setStatus] = useState("")
  const [page, setPage] = useState(0)
  const [runs, setRuns] = useState<ReadonlyArray<any>>([])
  useEffect(() => {
    api<ReadonlyArray<{ name: string }>>("GET", "/workflows").then(
      (ws) => setWorkflows(ws.map((w) => w.name)),
      () => {}
    )
  }, [])
  usePoll(
    async () => {
      const params = new URLSearchParams({ limit: String(pageSize + 1), offset: String(page * pageSize) })
      if (workflow !== "") params.set("workflow", workflow)
      if (status !== "") params.set("status", status)
      setRuns(await api("GET", `/runs?${params}`))
    },
    1000,
    [workflow, status, page]
  )
  return (
    <main>
      <div class="filters">
        <label>
          workflow{" "}
          <select
            data-testid="filter-workflow"
            value={workflow}
            onChange={(e) => {
              setWorkflow(e.currentTarget.value)
              setPage(0)
            }}
          >
            <option value="">all</option>
            {workflows.map((w) => (
              <option key={w} value={w}>
                {w}
              </option>
            ))}
          </select>
        </label>
        <label>
          status{" "}
          <select
            data-testid="filter-status"
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value)
              setPage(0)
            }}
          >
            <option value="">all</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
          ← newer
        </button>
        <span>page {page + 1}</span>
        <button type="button" disabled={runs.length <= pageSize} onClick={() => setPage(page + 1)}>
          older →
        </button>
      </div>
      <table class="runs">
        <thead>
          <tr>
            <th>run</th>
            <th>workflow</th>
            <th>status</th>
            <th>started</th>
            <th>updated</th>
            <th>signature</th>
          </tr>
        </thead>
        <tbody>
          {runs.slice(0, pageSize).map((run) => (
            <tr key={run.runId} data-testid="run-row" data-run={run.runId} data-status={run.status}>
              <td>
                {run.parentRunId === undefined ? null : <span title={`a child run of ${run.parentRunId}`}>↳ </span>}
                <a href={runHref(run.runId)}>
                  {run.runId.slice(0, 8)}
                  {run.parentRunId === undefined ? "" : ` … ${run.runId.slice(run.parentRunId.length + 1)}`}
                </a>
              </td>
              <td>{run.workflow}</td>
              <td>
                <span class={`status ${run.status}`}>{run.status}</span>
              </td>
              <td>{time(run.createdAt)}</td>
              <td>{time(run.updatedAt)}</td>
              <td>
                <code>{run.signature?.slice(0, 12) ?? ""}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  )
}

// -----------------------------------------------------------------------------
// One run
// -----------------------------------------------------------------------------

const Prompt = (props: {
  readonly runId: string
  readonly graph: any
  readonly pending: { readonly requestId: string; readonly prompt: any; readonly runId?: string }
  readonly awaited: string | undefined
}) => {
  const tag = props.awaited ?? "HumanResponse"
  const schema = props.graph.events[tag]
  const answer = async (data: Record<string, unknown>) => {
    await api("POST", `/runs/${encodeURIComponent(props.runId)}/events`, {
      type: tag,
      data: { ...data, ...(schema?.properties?.requestId === undefined ? {} : { requestId: props.pending.requestId }) }
    })
  }
  return (
    <div class="prompt" data-testid="prompt" data-request={props.pending.requestId}>
      <p>
        <strong>{props.pending.prompt?.prompt ?? "waiting for input"}</strong> <span class="muted">({tag})</span>
        {props.pending.runId === undefined ? null : (
          <span class="muted" data-testid="prompt-child">
            {" "}
            asked by the child run{" "}
            <a href={runHref(props.pending.runId)}>{props.pending.runId.slice(props.runId.length + 1)}</a>
          </span>
        )}
      </p>
      <SchemaForm
        schema={schema}
        hidden={["_tag", "requestId"]}
        submit="Answer"
        testid="prompt-form"
        onSubmit={answer}
      />
    </div>
  )
}

const SendEvent = (props: { readonly runId: string; readonly graph: any }) => {
  const [tag, setTag] = useState<string>(props.graph.external[0] ?? "HumanResponse")
  return (
    <div class="send">
      <select value={tag} onChange={(e) => setTag(e.currentTarget.value)}>
        {props.graph.external.map((t: string) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
      <SchemaForm
        key={tag}
        schema={props.graph.events[tag]}
        hidden={["_tag"]}
        submit="Send"
        testid="send-form"
        onSubmit={(data) => api("POST", `/runs/${encodeURIComponent(props.runId)}/events`, { type: tag, data })}
      />
    </div>
  )
}

/** Links to the child runs an invocation started, shown at its row. */
const ChildChips = (props: { readonly children: ReadonlyArray<ChildRun> }) =>
  props.children.length === 0 ? null : (
    <span class="children-of">
      {props.children.map((child) => (
        <a
          key={child.runId}
          class="child-chip"
          data-testid="child-chip"
          data-run={child.runId}
          data-status={child.status}
          href={runHref(child.runId)}
          title={`child run ${child.runId}`}
        >
          ↳ {child.workflow} c{child.index} <span class={`status ${child.status}`}>{child.status}</span>
        </a>
      ))}
    </span>
  )

const startedBy = (children: ReadonlyArray<ChildRun>, step: string, eventId: string) =>
  children.filter((c) => c.step === step && c.eventId === eventId)

const Waterfall = (props: {
  readonly entries: ReadonlyArray<J.Stored>
  readonly children: ReadonlyArray<ChildRun>
}) => {
  const rows = J.invocations(props.entries)
  // An invocation still running (e.g. waiting on its child) has no entry yet: its children show it.
  for (const child of props.children) {
    if (!rows.some((r) => r.step === child.step && r.eventId === child.eventId)) {
      rows.push({
        step: child.step,
        eventId: child.eventId,
        queuedAt: undefined,
        startedAt: undefined,
        endedAt: undefined,
        attempts: [],
        outcome: "running"
      })
    }
  }
  const start = props.entries[0]?.entry.at ?? 0
  const end = Math.max(start + 1, ...props.entries.map((s) => s.entry.at ?? start))
  const pct = (t: number | undefined) => `${(((t ?? end) - start) / (end - start)) * 100}%`
  return (
    <div class="waterfall" data-testid="waterfall">
      {rows.map((row) => (
        <div
          class={`wf-row ${row.outcome}`}
          key={`${row.step}@${row.eventId}`}
          title={row.error ?? ""}
          data-testid="wf-row"
          data-invocation={`${row.step}@${row.eventId}`}
        >
          <span class="wf-label">
            {row.step} <span class="muted">{row.eventId}</span>
          </span>
          <span class="wf-track">
            {row.startedAt === undefined ? (
              <span
                class="wf-bar"
                style={{ left: pct(row.queuedAt), width: `calc(${pct(row.endedAt)} - ${pct(row.queuedAt)})` }}
              />
            ) : (
              <>
                <span
                  class="wf-bar queued"
                  title="queued (waiting for a worker)"
                  style={{ left: pct(row.queuedAt), width: `calc(${pct(row.startedAt)} - ${pct(row.queuedAt)})` }}
                />
                <span
                  class="wf-bar"
                  title="running"
                  style={{ left: pct(row.startedAt), width: `calc(${pct(row.endedAt)} - ${pct(row.startedAt)})` }}
                />
              </>
            )}
            {row.attempts.map((a, i) => (
              <span key={i} class="wf-attempt" style={{ left: pct(a.at) }} title={a.error} />
            ))}
          </span>
          <span class="wf-ms">
            {row.endedAt === undefined || row.queuedAt === undefined
              ? "…"
              : row.startedAt === undefined
                ? `${row.endedAt - row.queuedAt} ms`
                : `${row.startedAt - row.queuedAt} ms queued, ${row.endedAt - row.startedAt} ms running`}
            {row.attempts.length > 0 ? ` (${row.attempts.length + 1} attempts)` : ""}
          </span>
          <ChildChips children={startedBy(props.children, row.step, row.eventId)} />
        </div>
      ))}
    </div>
  )
}

const Fork = (props: { readonly runId: string; readonly selected: J.Stored }) => {
  const original = J.eventOf(props.selected.entry)
  const [text, setText] = useState(original === undefined ? "" : json(original))
  const [error, setError] = useState<string | undefined>(undefined)
  useEffect(() => {
    setText(original === undefined ? "" : json(original))
    setError(undefined)
  }, [props.selected.offset])
  const fork = async () => {
    setError(undefined)
    try {
      const edited = text.trim() === "" || text === json(original) ? undefined : JSON.parse(text)
      const run = await api("POST", `/runs/${encodeURIComponent(props.runId)}/fork`, {
        offset: props.selected.offset,
        ...(edited === undefined ? {} : { event: edited })
      })
      location.hash = runHref(run.runId)
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    }
  }
  return (
    <div class="fork" data-testid="fork">
      <h4>Fork from entry {props.selected.offset}</h4>
      {original === undefined ? (
        <p class="muted">This entry carries no event to edit: the fork continues from it as it is.</p>
      ) : (
        <textarea data-testid="fork-event" rows={6} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      )}
      <button type="button" data-testid="fork-button" onClick={fork}>
        Fork run here
      </button>
      {error === undefined ? null : (
        <p class="error" data-testid="fork-error">
          {error}
        </p>
      )}
    </div>
  )
}

/**
 * The way up from a child run: its ancestors, root first, each linked to its own view (the nearest one is the
 * "parent" link).
 */
const Ancestors = (props: { readonly parentRunId: string }) => {
  const [chain, setChain] = useState<ReadonlyArray<{ readonly runId: string; readonly workflow: string }>>([])
  useEffect(() => {
    let stopped = false
    const load = async () => {
      const found: Array<{ runId: string; workflow: string }> = []
      let next: string | undefined = props.parentRunId
      while (next !== undefined && found.length < 32) {
        const info: any = await api("GET", runPath(next))
        found.unshift({ runId: info.runId, workflow: info.workflow })
        next = info.parentRunId
      }
      if (!stopped) setChain(found)
    }
    load().catch(() => {})
    return () => {
      stopped = true
    }
  }, [props.parentRunId])
  return (
    <p class="breadcrumb" data-testid="breadcrumb">
      {chain.map((run, i) => (
        <span key={run.runId}>
          <a
            href={runHref(run.runId)}
            data-testid={run.runId === props.parentRunId ? "parent-link" : "ancestor-link"}
            data-run={run.runId}
          >
            {run.workflow} {i === 0 ? run.runId.slice(0, 8) : run.runId.slice(chain[i - 1].runId.length + 1)}
          </a>
          {" › "}
        </span>
      ))}
      <span class="muted">this child run</span>
    </p>
  )
}

/** The child runs this run started, with the invocation that started each, its status and outcome. */
const Children = (props: { readonly children: ReadonlyArray<ChildRun> }) => (
  <section class="card">
    <h3>Children</h3>
    {props.children.length === 0 ? (
      <p class="muted" data-testid="no-children">
        This run has started no child workflow.
      </p>
    ) : (
      <table class="children" data-testid="children">
        <thead>
          <tr>
            <th>child run</th>
            <th>workflow</th>
            <th>started by</th>
            <th>status</th>
            <th>outcome</th>
          </tr>
        </thead>
        <tbody>
          {props.children.map((child) => (
            <tr key={child.runId} data-testid="child-row" data-run={child.runId} data-status={child.status}>
              <td>
                <a href={runHref(child.runId)} data-testid="child-link">
                  c{child.index}
                </a>
              </td>
              <td>{child.workflow}</td>
              <td>
                <code>{`${child.step}@${child.eventId}`}</code>
              </td>
              <td>
                <span class={`status ${child.status}`}>{child.status}</span>
                {child.pending.length === 0 ? null : (
                  <span class="muted"> ({child.pending.length} prompt(s) open)</span>
                )}
              </td>
              <td>
                {child.error !== undefined ? (
                  <span class="error">
                    {child.error._tag}: {child.error.message}
                  </span>
                ) : child.result !== undefined ? (
                  <code>{JSON.stringify(child.result)}</code>
                ) : (
                  ""
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </section>
)

const RunView = (props: { readonly runId: string }) => {
  const { runId } = props
  const [info, setInfo] = useState<any>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  const [events, setEvents] = useState<ReadonlyArray<StreamedEvent>>([])
  const [entries, setEntries] = useState<ReadonlyArray<J.Stored>>([])
  const [journalError, setJournalError] = useState<string | undefined>(undefined)
  const [selected, setSelected] = useState<number | undefined>(undefined)
  const [children, setChildren] = useState<ReadonlyArray<ChildRun>>([])
  const graph = useGraph(info?.workflow)
  const live = info === undefined || info.status === "running" || info.status === "waiting"
  const following = useRef(true)
  following.current = info === undefined || (live && info.parentRunId !== undefined)

  useEffect(() => {
    setEvents([])
    setEntries([])
    setJournalError(undefined)
    setSelected(undefined)
    const controller = new AbortController()
    void followEvents(
      runId,
      (event) => setEvents((all) => (all.some((e) => e.offset === event.offset) ? all : [...all, event])),
      controller.signal,
      // A child run's stream is its stored log while it is live in its parent: read again until it ends.
      () => following.current
    )
    return () => controller.abort()
  }, [runId])
  usePoll(
    async () => {
      try {
        const [run, started] = await Promise.all([
          api("GET", runPath(runId)),
          api<ReadonlyArray<ChildRun>>("GET", runPath(runId, "/children"))
        ])
        setInfo(run)
        setChildren(started)
        setError(undefined)
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e))
      }
    },
    live ? 700 : 5000,
    [runId, live]
  )
  usePoll(
    async () => {
      if (journalError !== undefined) return
      const from = entries.length === 0 ? 0 : entries[entries.length - 1].offset + 1
      try {
        const page = await api("GET", `/runs/${encodeURIComponent(runId)}/journal?from=${from}`)
        // Two polls in flight at once (one started when `live` or the length changed) read the same page: keep
        // only the entries past the last one held, so none is shown twice.
        setEntries((all) => {
          const last = all.length === 0 ? -1 : all[all.length - 1].offset
          const fresh = (page.entries as ReadonlyArray<J.Stored>).filter((s) => s.offset > last)
          return fresh.length === 0 ? all : [...all, ...fresh]
        })
      } catch (e) {
        if (e instanceof ApiError && e.tag === "JournalUnavailable") setJournalError(e.message)
      }
    },
    live ? 700 : 5000,
    [runId, live, entries.length, journalError]
  )
  const counts = useMemo(() => (entries.length === 0 ? undefined : J.counts(entries)), [entries])
  const awaited = (requestId: string): string | undefined =>
    entries.find((s) => s.entry._tag === "WaiterRegistered" && s.entry.requestId === requestId)?.entry.tag
  if (info === undefined) return <main>{error ?? "loading…"}</main>
  const started = entries[0]?.entry
  const failures = entries.filter((s) => s.entry._tag === "InvocationFailed" || s.entry._tag === "AttemptFailed")
  const selectedEntry = entries.find((s) => s.offset === selected)
  const marks: ReadonlyArray<ChildRunMark> = children.map((child) => ({
    runId: child.runId,
    step: `step:${child.step}`,
    workflow: child.workflow,
    status: child.status,
    label: childLabel(child)
  }))
  return (
    <main data-testid="run" data-run={runId} data-status={info.status}>
      <section class="card">
        {info.parentRunId === undefined ? null : <Ancestors parentRunId={info.parentRunId} />}
        <h2>
          {info.workflow} <code>{runId}</code>{" "}
          <span class={`status ${info.status}`} data-testid="run-status">
            {info.status}
          </span>
        </h2>
        <p class="muted">
          started {time(info.createdAt)}
          {info.updatedAt === undefined ? "" : `, updated ${time(info.updatedAt)}`}
          {started?.signature === undefined ? "" : `, signature ${started.signature.slice(0, 12)}`}
          {started?.forkedFrom === undefined ? null : (
            <span data-testid="forked-from">
              , fork of <a href={runHref(started.forkedFrom.runId)}>{started.forkedFrom.runId.slice(0, 8)}</a> at entry{" "}
              {started.forkedFrom.offset}
            </span>
          )}
        </p>
        {live && info.parentRunId === undefined ? (
          <button
            type="button"
            data-testid="cancel"
            onClick={() => api("DELETE", `/runs/${encodeURIComponent(runId)}`)}
          >
            Cancel run
          </button>
        ) : live ? (
          <p class="muted">A child run ends with its parent: cancel the parent to cancel it.</p>
        ) : null}
        {info.result === undefined ? null : <pre data-testid="run-result">{json(info.result)}</pre>}
        {info.error === undefined ? null : (
          <p class="error" data-testid="run-error">
            {info.error._tag}: {info.error.message}
          </p>
        )}
      </section>
      {graph === undefined ? null : (
        <section class="card">
          {info.pending.map((pending: any) => (
            <Prompt
              key={pending.requestId}
              runId={runId}
              graph={graph}
              pending={pending}
              awaited={awaited(pending.requestId)}
            />
          ))}
          {live && info.parentRunId === undefined ? (
            <details>
              <summary>Send an event</summary>
              <SendEvent runId={runId} graph={graph} />
            </details>
          ) : null}
          <div class="columns">
            <div class="graph-box">
              <h3>Path taken</h3>
              <GraphView graph={graph.graph} counts={counts} testid="run-graph" childRuns={marks} />
            </div>
            <div>
              <h3>Published events</h3>
              <ol class="events" data-testid="events">
                {events.map((e) => (
                  <li key={e.offset} data-tag={e.tag}>
                    <span class="offset">{e.offset}</span> <strong>{e.tag}</strong>{" "}
                    <code>{JSON.stringify(e.data)}</code>
                  </li>
                ))}
              </ol>
            </div>
          </div>
        </section>
      )}
      {children.length === 0 && graph?.graph?.children === undefined ? null : <Children children={children} />}
      <section class="card">
        <h3>Journal</h3>
        {journalError !== undefined ? (
          <p class="muted" data-testid="journal-unavailable">
            {journalError}
          </p>
        ) : (
          <div class="columns">
            <div>
              {entries.length === 0 ? (
                <p class="muted" data-testid="journal-empty">
                  No journal entries for this run (it was not run with a journal store, or has not written any yet).
                </p>
              ) : null}
              <ol class="journal" data-testid="journal">
                {entries.map((s) => (
                  <li
                    key={s.offset}
                    data-offset={s.offset}
                    data-tag={s.entry._tag}
                    class={s.offset === selected ? "selected" : ""}
                  >
                    <button type="button" class="entry" onClick={() => setSelected(s.offset)}>
                      <span class="offset">{s.offset}</span> <span class="muted">{time(s.entry.at)}</span>{" "}
                      {J.describeEntry(s.entry)}
                    </button>
                    {s.entry._tag === "InvocationCompleted" || s.entry._tag === "InvocationFailed" ? (
                      <ChildChips children={startedBy(children, s.entry.step, s.entry.eventId)} />
                    ) : null}
                  </li>
                ))}
              </ol>
              <h3>Waterfall</h3>
              <Waterfall entries={entries} children={children} />
            </div>
            <div>
              {selectedEntry === undefined ? (
                <p class="muted">Select an entry to see the state there and to fork from it.</p>
              ) : (
                <>
                  <h4>State after entry {selectedEntry.offset}</h4>
                  <pre data-testid="state">{json(J.stateAt(entries, selectedEntry.offset))}</pre>
                  {selectedEntry.entry._tag === "RunEnded" ? null : <Fork runId={runId} selected={selectedEntry} />}
                </>
              )}
            </div>
          </div>
        )}
        {failures.length === 0 ? null : (
          <>
            <h3>Failures</h3>
            <ul class="failures">
              {failures.map((s) => (
                <li key={s.offset} class="error">
                  {J.describeEntry(s.entry)}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
    </main>
  )
}

// -----------------------------------------------------------------------------
// App
// -----------------------------------------------------------------------------

const App = () => {
  const hash = useHash()
  const [gate, setGate] = useState<"checking" | "open" | "closed">("checking")
  useEffect(() => {
    whenUnauthorized(() => setGate("closed"))
    api("GET", "/workflows").then(
      () => setGate("open"),
      (e) => setGate(e instanceof ApiError && e.status === 401 ? "closed" : "open")
    )
  }, [])
  if (gate === "checking") return <main>…</main>
  if (gate === "closed") return <TokenGate onToken={() => setGate("open")} />
  const run = /^#\/runs\/(.+)$/.exec(hash)
  const view = run !== null ? "run" : hash.startsWith("#/runs") ? "runs" : "workflows"
  return (
    <>
      <header>
        <strong>Eventflow Studio</strong>
        <nav>
          <a href="#/workflows" class={view === "workflows" ? "active" : ""} data-testid="nav-workflows">
            Workflows
          </a>
          <a href="#/runs" class={view !== "workflows" ? "active" : ""} data-testid="nav-runs">
            Runs
          </a>
        </nav>
      </header>
      {run !== null ? (
        // One view per run (keyed by its id): going to a child, a parent or a fork starts from a clean state.
        <RunView key={run[1]} runId={decodeURIComponent(run[1])} />
      ) : view === "runs" ? (
        <Runs />
      ) : (
        <Workflows />
      )}
    </>
  )
}

render(<App />, document.getElementById("app")!)
