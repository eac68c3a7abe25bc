/**
 * The workloads written with `@llamaindex/workflow-core` 1.3.4 the way its README and docs teach: `workflowEvent`,
 * `createWorkflow()` + `.handle([...], handler)` with async handlers, `workflow.createContext()`,
 * `stream.untilEvent(stopEvent)`, and state through its stateful middleware (`createStatefulMiddleware`), as in its
 * fan-in/fan-out and human-in-the-loop guides.
 */
import { createWorkflow, type WorkflowEvent, workflowEvent } from "@llamaindex/workflow-core"
import { createStatefulMiddleware } from "@llamaindex/workflow-core/middleware/state"
import type { FanInResult, Implementation } from "../scenarios.js"

// -----------------------------------------------------------------------------
// S1 chain: 10 handlers, E0 -> E1 -> ... -> E9 -> stop, each adds 1 to n
// -----------------------------------------------------------------------------

const chainEvents: Array<WorkflowEvent<number>> = Array.from({ length: 10 }, (_, k) =>
  workflowEvent<number>({ debugLabel: `E${k}` })
)
const chainStop = workflowEvent<number>({ debugLabel: "stop" })

const chainWorkflow = createWorkflow()
for (let k = 0; k < 9; k++) {
  const next = chainEvents[k + 1]
  chainWorkflow.handle([chainEvents[k]], async (_context, event) => next.with(event.data + 1))
}
chainWorkflow.handle([chainEvents[9]], async (_context, event) => chainStop.with(event.data + 1))

const runChainOnce = async (i: number): Promise<number> => {
  const { stream, sendEvent } = chainWorkflow.createContext()
  sendEvent(chainEvents[0].with(i))
  const stop = await stream.untilEvent(chainStop)
  return stop.data
}

const runChain = async (runs: number): Promise<ReadonlyArray<number>> => {
  const results: Array<number> = []
  for (let i = 0; i < runs; i++) results.push(await runChainOnce(i))
  return results
}

// -----------------------------------------------------------------------------
// S2 fan-out / fan-in: the collector counts in the workflow's state (as in the docs' fan-in/fan-out guide)
// -----------------------------------------------------------------------------

const fanStart = workflowEvent<number>({ debugLabel: "start" })
const work = workflowEvent<number>({ debugLabel: "work" })
const result = workflowEvent<{ readonly i: number; readonly v: number }>({ debugLabel: "result" })
const fanStop = workflowEvent<FanInResult>({ debugLabel: "stop" })

const fanOutWorkflow = (n: number) => {
  const { withState } = createStatefulMiddleware(() => ({ count: 0, sum: 0 }))
  const workflow = withState(createWorkflow())
  workflow.handle([fanStart], async (context, start) => {
    for (let i = 0; i < start.data; i++) context.sendEvent(work.with(i))
  })
  workflow.handle([work], async (_context, event) => result.with({ i: event.data, v: 2 * event.data }))
  workflow.handle([result], async (context, event) => {
    const { state } = context
    state.count++
    state.sum += event.data.v
    return state.count === n ? fanStop.with({ count: state.count, sum: state.sum }) : undefined
  })
  return workflow
}

const runFanOut = async (n: number): Promise<FanInResult> => {
  const { stream, sendEvent } = fanOutWorkflow(n).createContext()
  sendEvent(fanStart.with(n))
  const stop = await stream.untilEvent(fanStop)
  return stop.data
}

// -----------------------------------------------------------------------------
// S3 loop: ping -> pong -> ping ... each hop adds 1 to n
// -----------------------------------------------------------------------------

const loopStart = workflowEvent<void>({ debugLabel: "start" })
const ping = workflowEvent<number>({ debugLabel: "ping" })
const pong = workflowEvent<number>({ debugLabel: "pong" })
const loopStop = workflowEvent<number>({ debugLabel: "stop" })

const loopWorkflow = (hops: number) => {
  const workflow = createWorkflow()
  workflow.handle([loopStart], async () => ping.with(0))
  workflow.handle([ping], async (_context, event) =>
    event.data + 1 >= hops ? loopStop.with(event.data + 1) : pong.with(event.data + 1)
  )
  workflow.handle([pong], async (_context, event) =>
    event.data + 1 >= hops ? loopStop.with(event.data + 1) : ping.with(event.data + 1)
  )
  return workflow
}

const runLoop = async (hops: number): Promise<number> => {
  const { stream, sendEvent } = loopWorkflow(hops).createContext()
  sendEvent(loopStart.with())
  const stop = await stream.untilEvent(loopStop)
  return stop.data
}

// -----------------------------------------------------------------------------
// S4 concurrent: 3-step chains started at once, the first handler waits for a shared gate
// -----------------------------------------------------------------------------

const first = workflowEvent<number>({ debugLabel: "first" })
const second = workflowEvent<number>({ debugLabel: "second" })
const third = workflowEvent<number>({ debugLabel: "third" })
const concurrentStop = workflowEvent<number>({ debugLabel: "stop" })

const runConcurrent = async (runs: number): Promise<ReadonlyArray<number>> => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  let arrived = 0
  const workflow = createWorkflow()
  workflow.handle([first], async (_context, event) => {
    // The last run to arrive opens the gate: then all runs are in flight together.
    if (++arrived === runs) open()
    await gate
    return second.with(event.data + 1)
  })
  workflow.handle([second], async (_context, event) => third.with(event.data + 1))
  workflow.handle([third], async (_context, event) => concurrentStop.with(event.data + 1))
  const runOnce = async (i: number): Promise<number> => {
    const { stream, sendEvent } = workflow.createContext()
    sendEvent(first.with(i))
    const stop = await stream.untilEvent(concurrentStop)
    return stop.data
  }
  return Promise.all(Array.from({ length: runs }, (_, i) => runOnce(i)))
}

// -----------------------------------------------------------------------------
// S5 suspended: keep the input in the state, ask a person, answer from outside (the docs' human-in-the-loop guide,
// live: the caller reads the stream and sends the response when it sees the request)
// -----------------------------------------------------------------------------

const approvalStart = workflowEvent<number>({ debugLabel: "start" })
const humanRequest = workflowEvent<void>({ debugLabel: "humanRequest" })
const humanResponse = workflowEvent<string>({ debugLabel: "humanResponse" })
const approvalStop = workflowEvent<string>({ debugLabel: "stop" })

const { withState: withApprovalState } = createStatefulMiddleware(() => ({ value: 0 }))
const approval = withApprovalState(createWorkflow())
approval.handle([approvalStart], async (context, start) => {
  context.state.value = start.data
  return humanRequest.with()
})
approval.handle([humanResponse], async (context, response) =>
  approvalStop.with(`${context.state.value}:${response.data}`)
)

const runSuspended = async (runs: number, onAllWaiting: () => void): Promise<ReadonlyArray<string>> => {
  let allWaiting!: () => void
  const waiting = new Promise<void>((resolve) => {
    allWaiting = resolve
  })
  let requests = 0
  const started = Array.from({ length: runs }, (_, i) => {
    const { stream, sendEvent } = approval.createContext()
    sendEvent(approvalStart.with(i))
    const result = (async () => {
      for await (const event of stream) {
        if (humanRequest.include(event)) {
          if (++requests === runs) allWaiting()
        } else if (approvalStop.include(event)) {
          return event.data
        }
      }
      throw new Error("the stream ended without a stop event")
    })()
    return { sendEvent, result }
  })
  await waiting
  onAllWaiting()
  for (const run of started) run.sendEvent(humanResponse.with("ok"))
  return Promise.all(started.map((run) => run.result))
}

export const workflowCore: Implementation = {
  name: "workflow-core",
  chain: runChain,
  fanOut: runFanOut,
  loop: runLoop,
  concurrent: runConcurrent,
  suspended: runSuspended,
  // Its S5 already follows each run's stream (the docs' way), so S5e is the same workload.
  suspendedFollowed: runSuspended
}
