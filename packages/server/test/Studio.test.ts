/**
 * Eventflow Studio in a real browser: Debian's Chromium (/usr/bin/chromium, installed by `.ci/run`) driven by
 * playwright-core, against a real server on 127.0.0.1 with a token.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as HttpServer from "@effect/platform/HttpServer"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { defineWorkflow, Event, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Context, Data, Effect, Exit, Layer, Ref, Schema, Scope } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { greet, review } from "./workflows.js"

const chromiumPath = "/usr/bin/chromium"
const token = "studio-test-token"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly card: string }> {
  override get message() {
    return `the payment service declined card ${this.card}`
  }
}

const Charge = Event.define("Charge", { card: Schema.String })

/** Always fails in its `charge` step (after one retry): the run fails with `CardDeclined`. */
const payment = defineWorkflow({
  name: "payment",
  input: Schema.Struct({ card: Schema.String }),
  output: Schema.String
})
  .step(StartEvent, (start) => Effect.succeed(Charge.make({ card: start.input.card })), {
    name: "prepare",
    emits: [Charge]
  })
  .step(Charge, (charge) => Effect.fail(new CardDeclined({ card: charge.card })), {
    name: "charge",
    emits: [StopEvent]
  })

const Tick = Event.define("Tick", { n: Schema.Number, times: Schema.Number })

/** Counts in its state: `tick` runs `times` times, adding 1 each time; the result is the count. */
const tally = defineWorkflow({
  name: "tally",
  input: Schema.Struct({ times: Schema.Number }),
  output: Schema.Number,
  state: Schema.Struct({ count: Schema.Number }),
  initialState: { count: 0 }
})
  .step(StartEvent, (start) => Effect.succeed(Tick.make({ n: 0, times: start.input.times })), {
    name: "begin",
    emits: [Tick]
  })
  .step(
    Tick,
    (tick, ctx) =>
      Effect.gen(function* () {
        const { count } = yield* Ref.updateAndGet(ctx.state, (s) => ({ count: s.count + 1 }))
        return tick.n + 1 >= tick.times
          ? StopEvent.make({ result: count })
          : Tick.make({ n: tick.n + 1, times: tick.times })
      }),
    { name: "tick", emits: [Tick, StopEvent] }
  )

let browser: Browser
let base: string
let scope: Scope.CloseableScope
let userDataDir: string

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: install Debian's Chromium (apt-get install -y chromium; .ci/run does)`)
  }
  scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      // RunStore.layerMemory gives the server a JournalStore too: durable runs keep a journal.
      WorkflowServer.layerWithStore({ workflows: [greet, review, payment, tally], port: 0, token }).pipe(
        Layer.provide(RunStore.layerMemory)
      ),
      scope
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("not a TCP address")
  base = `http://127.0.0.1:${address.port}`
  // launch() gives the browser a new profile in the temp dir: a fresh one in a folder removed after.
  userDataDir = mkdtempSync(join(tmpdir(), "eventflow-studio-"))
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ],
    // A fresh user-data dir of its own for this browser (removed after).
    env: { ...process.env, TMPDIR: userDataDir }
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true })
})

/** A fresh tab (its own session storage), already holding the token, with the page's errors collected. */
const open = async (
  hash: string,
  withToken = true
): Promise<{ page: Page; context: BrowserContext; errors: Array<string> }> => {
  const context = await browser.newContext()
  const page = await context.newPage()
  // A step that does not happen fails its test in 10 s, with what it waited for.
  page.setDefaultTimeout(10_000)
  const errors: Array<string> = []
  page.on("pageerror", (error) => errors.push(error.message))
  if (withToken) {
    await page.addInitScript(
      (value) => (globalThis as any).sessionStorage.setItem("eventflow-studio-token", value),
      token
    )
  }
  await page.goto(`${base}/studio${hash}`)
  return { page, context, errors }
}

const live = (name: string, f: () => Promise<void>) => it.live(name, () => Effect.promise(f), 30_000)

describe("Studio", () => {
  live(
    "the token gate: the page asks for the token once, keeps it out of the URL, and rejects a wrong one",
    async () => {
      const { page, context, errors } = await open("#/workflows", false)
      const form = page.getByTestId("token-form")
      await form.waitFor()
      await form.locator("input[name=token]").fill("wrong")
      await form.getByRole("button").click()
      await page.getByTestId("token-error").waitFor()
      assert.include(await page.getByTestId("token-error").textContent(), "not accepted")
      await form.locator("input[name=token]").fill(token)
      await form.getByRole("button").click()
      await page.locator("[data-testid=workflow][data-workflow=greet]").waitFor()
      assert.notInclude(page.url(), token)
      // Asked once: a reload of the tab keeps it (session storage), no gate.
      await page.reload()
      await page.locator("[data-testid=workflow][data-workflow=greet]").waitFor()
      assert.strictEqual(await page.getByTestId("token-form").count(), 0)
      // The data routes still need it: the page's own requests carried it.
      assert.strictEqual((await fetch(`${base}/workflows`)).status, 401)
      assert.deepStrictEqual(errors, [])
      await context.close()
    }
  )

  live("the graph of each workflow renders: its steps and events as nodes, laid out", async () => {
    const { page, context, errors } = await open("#/workflows")
    const card = page.locator("[data-testid=workflow][data-workflow=review]")
    await card.waitFor()
    const graph = card.getByTestId("graph")
    for (const id of ["event:StartEvent", "step:StartEvent", "event:Draft", "step:Draft", "event:StopEvent"]) {
      await graph.locator(`[data-node="${id}"]`).waitFor()
    }
    // Laid out: the nodes are at distinct positions.
    const positions = await graph
      .locator("g.node")
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute("transform")))
    assert.strictEqual(new Set(positions).size, positions.length)
    assert.isAbove(positions.length, 4)
    assert.deepStrictEqual(errors, [])
    await context.close()
  })

  live("a run started from the form generated from the input schema shows up live and completes", async () => {
    const { page, context, errors } = await open("#/workflows")
    const card = page.locator("[data-testid=workflow][data-workflow=greet]")
    await card.getByLabel("name").fill("Ada")
    await card.getByRole("button", { name: "Start run" }).click()
    await page.locator("[data-testid=run][data-status=completed]").waitFor()
    assert.include(await page.getByTestId("run-result").textContent(), "hello Ada")
    const runId = await page.getByTestId("run").getAttribute("data-run")
    // The runs list shows it, without a reload of the page.
    await page.getByTestId("nav-runs").click()
    await page.locator(`[data-testid=run-row][data-run="${runId}"][data-status=completed]`).waitFor()
    assert.deepStrictEqual(errors, [])
    await context.close()
  })

  live(
    "the runs list updates without a reload: a run started elsewhere appears, then filters narrow the list",
    async () => {
      const { page, context, errors } = await open("#/runs")
      await page.getByTestId("filter-workflow").waitFor()
      const response = await fetch(`${base}/workflows/review/runs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ text: "listed" })
      })
      const started = (await response.json()) as { readonly runId: string }
      await page.locator(`[data-testid=run-row][data-run="${started.runId}"][data-status=waiting]`).waitFor()
      await page.getByTestId("filter-workflow").selectOption("greet")
      await page.locator(`[data-testid=run-row][data-run="${started.runId}"]`).waitFor({ state: "detached" })
      await page.getByTestId("filter-workflow").selectOption("review")
      await page.getByTestId("filter-status").selectOption("waiting")
      await page.locator(`[data-testid=run-row][data-run="${started.runId}"]`).waitFor()
      assert.deepStrictEqual(errors, [])
      await context.close()
    }
  )

  live("a prompt is answered through the form generated from the awaited event's schema", async () => {
    const { page, context, errors } = await open("#/workflows")
    const card = page.locator("[data-testid=workflow][data-workflow=review]")
    await card.getByLabel("text").fill("the plan")
    await card.getByRole("button", { name: "Start run" }).click()
    await page.locator("[data-testid=run][data-status=waiting]").waitFor()
    const prompt = page.getByTestId("prompt")
    assert.include(await prompt.textContent(), "Approve revision 0: the plan?")
    await prompt.getByLabel("response").fill("yes")
    await prompt.getByRole("button", { name: "Answer" }).click()
    await page.locator("[data-testid=run][data-status=completed]").waitFor()
    assert.include(await page.getByTestId("run-result").textContent(), "approved r0")
    assert.deepStrictEqual(errors, [])
    await context.close()
  })

  live("a failed step shows its error", async () => {
    const { page, context, errors } = await open("#/workflows")
    const card = page.locator("[data-testid=workflow][data-workflow=payment]")
    await card.getByLabel("card").fill("4242")
    await card.getByRole("button", { name: "Start run" }).click()
    await page.locator("[data-testid=run][data-status=failed]").waitFor()
    const error = await page.getByTestId("run-error").textContent()
    assert.include(error, "CardDeclined")
    assert.include(error, "the payment service declined card 4242")
    assert.deepStrictEqual(errors, [])
    await context.close()
  })

  live("a run is cancelled from its page", async () => {
    const { page, context, errors } = await open("#/workflows")
    const card = page.locator("[data-testid=workflow][data-workflow=review]")
    await card.getByLabel("text").fill("to cancel")
    await card.getByRole("button", { name: "Start run" }).click()
    await page.locator("[data-testid=run][data-status=waiting]").waitFor()
    await page.getByTestId("cancel").click()
    await page.locator("[data-testid=run][data-status=cancelled]").waitFor()
    assert.deepStrictEqual(errors, [])
    await context.close()
  })

  live(
    "a run's journal views: the timeline with times, the state after a selected entry, the path taken, the waterfall",
    async () => {
      const response = await fetch(`${base}/workflows/tally/runs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ times: 3 })
      })
      const { runId } = (await response.json()) as { readonly runId: string }
      const { page, context, errors } = await open(`#/runs/${runId}`)
      await page.locator(`[data-testid=run][data-run="${runId}"][data-status=completed]`).waitFor()
      assert.include(await page.getByTestId("run-result").textContent(), "3")
      // The timeline: every entry of the journal, from RunStarted to RunEnded, each with the time it was written.
      const journal = page.getByTestId("journal")
      await journal.locator("li[data-tag=RunEnded]").waitFor()
      const tags = await journal.locator("li").evaluateAll((items) => items.map((li) => li.getAttribute("data-tag")))
      assert.strictEqual(tags[0], "RunStarted")
      assert.strictEqual(tags.filter((t) => t === "InvocationCompleted").length, 4)
      const times = await journal.locator("li button span.muted").allTextContents()
      assert.strictEqual(times.length, tags.length)
      for (const t of times) assert.notStrictEqual(t.trim(), "")
      // The state after an entry: after tick's second completion, the count is 2.
      await journal.locator("li[data-tag=InvocationCompleted]").nth(2).getByRole("button").click()
      assert.include(await journal.locator("li[data-tag=InvocationCompleted]").nth(2).textContent(), "tick handled")
      assert.deepStrictEqual(JSON.parse((await page.getByTestId("state").textContent())!), { count: 2 })
      await journal.locator("li[data-tag=RunStarted]").getByRole("button").click()
      assert.deepStrictEqual(JSON.parse((await page.getByTestId("state").textContent())!), { count: 0 })
      // The path taken: the nodes the run went through, with how many times.
      const graph = page.getByTestId("run-graph")
      assert.strictEqual(await graph.locator('[data-node="step:begin"]').getAttribute("data-count"), "1")
      assert.strictEqual(await graph.locator('[data-node="step:tick"]').getAttribute("data-count"), "3")
      assert.strictEqual(await graph.locator('[data-node="event:Tick"]').getAttribute("data-count"), "3")
      // The waterfall: one row per invocation, each split into queued and running time (the entries' `startedAt`).
      const rows = page.getByTestId("waterfall").locator(".wf-row")
      assert.strictEqual(await rows.count(), 4)
      for (const text of await rows.locator(".wf-ms").allTextContents()) {
        assert.match(text, /^\d+ ms queued, \d+ ms running$/)
      }
      assert.deepStrictEqual(errors, [])
      await context.close()
    }
  )

  it.live(
    "a fork from a journal point with an edited event runs, and records where it came from",
    () =>
      Effect.promise(async () => {
        const { page, context, errors } = await open("#/workflows")
        const card = page.locator("[data-testid=workflow][data-workflow=review]")
        await card.getByLabel("text").fill("plan")
        await card.getByRole("button", { name: "Start run" }).click()
        await page.locator("[data-testid=run][data-status=waiting]").waitFor()
        // A first answer that asks for a revision, then an approval: "approved r1".
        await page.getByTestId("prompt").getByLabel("response").fill("shorter")
        await page.getByTestId("prompt").getByRole("button", { name: "Answer" }).click()
        await page.locator("[data-testid=prompt]", { hasText: "revision 1" }).waitFor()
        await page.getByTestId("prompt").getByLabel("response").fill("yes")
        await page.getByTestId("prompt").getByRole("button", { name: "Answer" }).click()
        await page.locator("[data-testid=run][data-status=completed]").waitFor()
        assert.include(await page.getByTestId("run-result").textContent(), "approved r1")
        const source = await page.getByTestId("run").getAttribute("data-run")
        // Fork at the first answer, edited to approve at once.
        const answer = page.locator("[data-testid=journal] li[data-tag=ExternalEventSent]").first()
        await answer.getByRole("button").click()
        const edited = page.getByTestId("fork-event")
        assert.include(await edited.inputValue(), "shorter")
        await edited.fill(JSON.stringify({ _tag: "HumanResponse", response: "yes" }))
        await page.getByTestId("fork-button").click()
        await page.locator(`[data-testid=run]:not([data-run="${source}"])[data-status=completed]`).waitFor()
        assert.include(await page.getByTestId("run-result").textContent(), "approved r0")
        assert.include(await page.getByTestId("forked-from").textContent(), source!.slice(0, 8))
        assert.deepStrictEqual(errors, [])
        await context.close()
      }),
    30_000
  )
})
