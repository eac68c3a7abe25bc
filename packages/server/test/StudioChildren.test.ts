/**
 * Eventflow Studio drilling into child workflows' runs, in a real browser (Debian's Chromium driven by
 * playwright-core) against a real server on 127.0.0.1 with a token: a parent's children where they started, a child
 * run's own view (graph, journal, prompt answered there), the way back up, URLs that survive a reload and
 * back/forward, and a grandchild.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as HttpServer from "@effect/platform/HttpServer"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { RunStore } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { family, top } from "./childWorkflows.js"

const chromiumPath = "/usr/bin/chromium"
const token = "studio-children-token"

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
      // Only the parents are served: their children (`auto`, `ask`, `middle`) are declared by their steps.
      WorkflowServer.layerWithStore({ workflows: [family, top], port: 0, token }).pipe(
        Layer.provide(RunStore.layerMemory)
      ),
      scope
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("not a TCP address")
  base = `http://127.0.0.1:${address.port}`
  userDataDir = mkdtempSync(join(tmpdir(), "eventflow-studio-children-"))
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

/** A fresh tab holding the token, with the page's errors collected. */
const open = async (hash: string): Promise<{ page: Page; context: BrowserContext; errors: Array<string> }> => {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const errors: Array<string> = []
  page.on("pageerror", (error) => errors.push(error.message))
  await page.addInitScript(
    (value) => (globalThis as any).sessionStorage.setItem("eventflow-studio-token", value),
    token
  )
  await page.goto(`${base}/studio${hash}`)
  return { page, context, errors }
}

/** Starts a run over HTTP and answers once it waits (for its child's prompt). */
const startWaiting = async (workflow: string): Promise<string> => {
  const response = await fetch(`${base}/workflows/${workflow}/runs?wait=true`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: "{}"
  })
  const started = (await response.json()) as { readonly runId: string; readonly status: string }
  assert.strictEqual(started.status, "waiting")
  return started.runId
}

const runHash = (runId: string) => `#/runs/${encodeURIComponent(runId)}`
const runView = (page: Page, runId: string, status?: string) =>
  page.locator(`[data-testid=run][data-run="${runId}"]${status === undefined ? "" : `[data-status=${status}]`}`)

const live = (name: string, f: () => Promise<void>) => it.live(name, () => Effect.promise(f), 30_000)

describe("Studio: child runs", () => {
  live(
    "a parent's two children are listed where they started; the waiting child's prompt is answered in its own view, and the parent completes",
    async () => {
      const runId = await startWaiting("family")
      const [auto, ask] = [`${runId}/delegate@0/c0`, `${runId}/delegate@0/c1`]
      const { page, context, errors } = await open(runHash(runId))
      await runView(page, runId, "waiting").waitFor()
      // The Children list, with each child's workflow, invocation and status.
      await page.locator(`[data-testid=child-row][data-run="${auto}"][data-status=completed]`).waitFor()
      await page.locator(`[data-testid=child-row][data-run="${ask}"][data-status=waiting]`).waitFor()
      const rows = page.getByTestId("child-row")
      assert.deepStrictEqual(await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-run"))), [auto, ask])
      assert.include(await rows.nth(0).textContent(), "auto")
      assert.include(await rows.nth(0).textContent(), "delegate@0")
      assert.include(await rows.nth(0).textContent(), "42")
      // At the timeline row of the invocation that started them (still running: it waits on its child).
      const invocation = page.locator(`[data-testid=wf-row][data-invocation="delegate@0"]`)
      await invocation.locator(`[data-testid=child-chip][data-run="${ask}"][data-status=waiting]`).waitFor()
      await invocation.locator(`[data-testid=child-chip][data-run="${auto}"]`).waitFor()
      // The parent's graph draws both child workflows, each marked with its run.
      const graph = page.getByTestId("run-graph")
      await graph.locator("[data-testid=child-cluster][data-workflow=auto][data-runs='1']").waitFor()
      await graph.locator("[data-testid=child-cluster][data-workflow=ask][data-runs='1']").waitFor()
      await graph.locator(`[data-testid=graph-child-run][data-run="${ask}"]`).waitFor()
      // The parent lists its child's prompt too, saying which child asked.
      assert.include(await page.getByTestId("prompt-child").textContent(), "delegate@0/c1")

      // Drill into the waiting child.
      await page.locator(`[data-testid=child-row][data-run="${ask}"] [data-testid=child-link]`).click()
      await runView(page, ask, "waiting").waitFor()
      assert.strictEqual(await page.evaluate(() => (globalThis as any).location.hash), runHash(ask))
      assert.include(await page.getByTestId("run").locator("h2").textContent(), "ask")
      // Its own graph, journal and published events.
      await page.locator("[data-testid=run-graph] [data-node='step:question']").waitFor()
      await page.locator("[data-testid=journal] li[data-tag=RunStarted]").waitFor()
      await page.locator("[data-testid=events] li[data-tag=Asked]").waitFor()
      // The way back up.
      assert.strictEqual(await page.getByTestId("parent-link").getAttribute("data-run"), runId)
      assert.strictEqual(await page.getByTestId("no-children").count(), 0)
      // Its prompt, answered here.
      const prompt = page.getByTestId("prompt")
      assert.include(await prompt.textContent(), "ship?")
      assert.strictEqual(await page.getByTestId("prompt-child").count(), 0)
      await prompt.getByLabel("response").fill("yes")
      await prompt.getByRole("button", { name: "Answer" }).click()
      await runView(page, ask, "completed").waitFor()
      assert.include(await page.getByTestId("run-result").textContent(), "ship: yes")
      await page.locator("[data-testid=events] li[data-tag=StopEvent]").waitFor()

      // Back to the parent, which completed with its children's results.
      await page.getByTestId("parent-link").click()
      await runView(page, runId, "completed").waitFor()
      assert.include(await page.getByTestId("run-result").textContent(), "42 and ship: yes")
      await page.locator(`[data-testid=child-row][data-run="${ask}"][data-status=completed]`).waitFor()
      // The invocation that started them has completed: its journal entry links them.
      const completed = page.locator("[data-testid=journal] li[data-tag=InvocationCompleted]", {
        has: page.getByTestId("child-chip")
      })
      await completed.waitFor()
      assert.deepStrictEqual(
        await completed.getByTestId("child-chip").evaluateAll((as) => as.map((a) => a.getAttribute("data-run"))),
        [auto, ask]
      )
      // Back and forward through the browser's history.
      await page.goBack()
      await runView(page, ask, "completed").waitFor()
      await page.goForward()
      await runView(page, runId, "completed").waitFor()
      assert.deepStrictEqual(errors, [])
      await context.close()
    }
  )

  live("a reload on a child run's URL lands on the child's view", async () => {
    const runId = await startWaiting("family")
    const ask = `${runId}/delegate@0/c1`
    const { page, context, errors } = await open(runHash(ask))
    await runView(page, ask, "waiting").waitFor()
    await page.reload()
    await runView(page, ask, "waiting").waitFor()
    assert.strictEqual(await page.evaluate(() => (globalThis as any).location.hash), runHash(ask))
    assert.strictEqual(await page.getByTestId("parent-link").getAttribute("data-run"), runId)
    await page.getByTestId("prompt").waitFor()
    assert.deepStrictEqual(errors, [])
    await context.close()
  })

  live("a grandchild: drilled into through its parent, answered there, and its ancestors complete", async () => {
    const runId = await startWaiting("top")
    const middle = `${runId}/start@0/c0`
    const ask = `${middle}/relay@0/c0`
    const { page, context, errors } = await open(runHash(runId))
    await runView(page, runId, "waiting").waitFor()
    // Into the child from its mark on the parent's graph.
    await page.locator(`[data-testid=run-graph] [data-testid=graph-child-run][data-run="${middle}"]`).click()
    await runView(page, middle).waitFor()
    // The child's graph draws its own child, marked with its run.
    await page
      .locator(`[data-testid=run-graph] [data-testid=child-cluster][data-workflow=ask][data-runs='1']`)
      .waitFor()
    await page.locator(`[data-testid=child-row][data-run="${ask}"] [data-testid=child-link]`).click()
    await runView(page, ask, "waiting").waitFor()
    // Two ancestors: the root, then the parent.
    const crumbs = page.getByTestId("breadcrumb").locator("a")
    await page.getByTestId("parent-link").waitFor()
    assert.deepStrictEqual(await crumbs.evaluateAll((as) => as.map((a) => a.getAttribute("data-run"))), [runId, middle])
    assert.strictEqual(await page.getByTestId("parent-link").getAttribute("data-run"), middle)
    const prompt = page.getByTestId("prompt")
    assert.include(await prompt.textContent(), "deploy?")
    await prompt.getByLabel("response").fill("go")
    await prompt.getByRole("button", { name: "Answer" }).click()
    await runView(page, ask, "completed").waitFor()
    await page.getByTestId("parent-link").click()
    await runView(page, middle, "completed").waitFor()
    assert.include(await page.getByTestId("run-result").textContent(), "middle: deploy: go")
    await page.getByTestId("parent-link").click()
    await runView(page, runId, "completed").waitFor()
    assert.include(await page.getByTestId("run-result").textContent(), "top: middle: deploy: go")
    assert.deepStrictEqual(errors, [])
    await context.close()
  })
})
