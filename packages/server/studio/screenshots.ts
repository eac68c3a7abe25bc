/**
 * Takes the README's screenshots of Eventflow Studio (docs/studio-*.png): a real server on a free port with the
 * approval example and two small workflows, driven in Debian's Chromium.
 *
 *   pnpm --filter @eventflow/server screenshots      (writes to docs/, or to the folder given as first argument)
 */
import { mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as HttpServer from "@effect/platform/HttpServer"
import { defineWorkflow, Event, JournalStore, RunStore, StartEvent, StopEvent } from "@eventflow/core"
import { WorkflowServer } from "@eventflow/server"
import { Context, Data, Effect, Layer, Schema } from "effect"
import { chromium } from "playwright-core"
import { approval } from "../../../examples/approval.js"
import { purchase } from "../../../examples/children.js"
import { build } from "./build.mjs"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly card: string }> {
  override get message() {
    return `the payment service declined card ${this.card}`
  }
}
const Charge = Event.define("Charge", { card: Schema.String })
const payment = defineWorkflow({
  name: "payment",
  description: "Charges a card (the service always declines it)",
  input: Schema.Struct({ card: Schema.String, amount: Schema.Number }),
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

const greet = defineWorkflow({
  name: "greet",
  description: "Greets someone",
  input: Schema.Struct({ name: Schema.String }),
  output: Schema.String
}).step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: `hello ${start.input.name}` })), {
  emits: [StopEvent]
})

const out = process.argv[2] ?? fileURLToPath(new URL("../../../docs/", import.meta.url))
const token = "screenshots"
/** Which screenshots (default all): `STUDIO_SHOTS=run,failed`. */
const shots = new Set((process.env.STUDIO_SHOTS ?? "workflows,runs,run,failed,children").split(","))

const main = Effect.gen(function* () {
  yield* Effect.promise(() => build())
  mkdirSync(out, { recursive: true })
  const context = yield* Layer.build(
    WorkflowServer.layerWithStore({ workflows: [approval, payment, greet, purchase], port: 0, token }).pipe(
      Layer.provide(RunStore.layerMemory),
      Layer.provide(JournalStore.layerMemory)
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
  const base = `http://127.0.0.1:${address.port}`
  const post = (path: string, body: unknown) =>
    Effect.promise(() =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body)
      }).then((r) => r.json() as Promise<{ runId: string }>)
    )
  yield* Effect.promise(async () => {
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
      await page.addInitScript(
        (value) => (globalThis as any).sessionStorage.setItem("eventflow-studio-token", value),
        token
      )
      await page.goto(`${base}/studio#/workflows`)
      await page.locator("[data-workflow=content-approval] [data-testid=graph]").waitFor()
      if (shots.has("workflows")) await page.screenshot({ path: `${out}/studio-workflows.png` })
      return { browser, page }
    } catch (error) {
      await browser.close()
      throw error
    }
  }).pipe(
    Effect.flatMap(({ browser, page }) =>
      Effect.gen(function* () {
        for (const name of ["Ada", "Grace"]) yield* post("/workflows/greet/runs?wait=true", { name })
        const failed = yield* post("/workflows/payment/runs?wait=true", { card: "4242", amount: 12 })
        const waiting = yield* post("/workflows/content-approval/runs?wait=true", { topic: "durable workflows" })
        yield* post(`/runs/${waiting.runId}/events`, { type: "HumanResponse", data: { response: "shorter, please" } })
        yield* post("/workflows/content-approval/runs?wait=true", { topic: "time travel" })
        yield* Effect.promise(async () => {
          if (shots.has("runs")) {
            await page.goto(`${base}/studio#/runs`)
            await page.locator("[data-testid=run-row]").nth(4).waitFor()
            await page.screenshot({ path: `${out}/studio-runs.png` })
          }
          if (shots.has("run")) {
            await page.goto(`${base}/studio#/runs/${waiting.runId}`)
            await page.locator("[data-testid=prompt]", { hasText: "Approve?" }).waitFor()
            await page.waitForTimeout(1500)
            const first = page.locator("[data-testid=journal] li[data-tag=ExternalEventSent] button")
            if ((await first.count()) > 0) await first.first().click()
            await page.screenshot({ path: `${out}/studio-run.png`, fullPage: true })
          }
          if (shots.has("children")) {
            // A purchase waits on its approval child: the parent with its children, then the child's own view.
            const bought = await fetch(`${base}/workflows/purchase/runs?wait=true`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body: JSON.stringify({ items: ["tea", "cake"] })
            }).then((r) => r.json() as Promise<{ runId: string }>)
            await page.goto(`${base}/studio#/runs/${encodeURIComponent(bought.runId)}`)
            await page.locator("[data-testid=child-row][data-status=waiting]").waitFor()
            await page.waitForTimeout(1000)
            await page.screenshot({ path: `${out}/studio-children.png`, fullPage: true })
            await page.locator("[data-testid=child-row][data-status=waiting] [data-testid=child-link]").click()
            await page.locator("[data-testid=run][data-status=waiting] [data-testid=parent-link]").waitFor()
            await page.locator("[data-testid=journal] li").first().waitFor()
            await page.waitForTimeout(1000)
            await page.screenshot({ path: `${out}/studio-child-run.png`, fullPage: true })
          }
          if (shots.has("failed")) {
            await page.goto(`${base}/studio#/runs/${failed.runId}`)
            await page.getByTestId("run-error").waitFor()
            await page.waitForTimeout(500)
            await page.screenshot({ path: `${out}/studio-failed.png` })
          }
        })
      }).pipe(Effect.ensuring(Effect.promise(() => browser.close())))
    )
  )
}).pipe(Effect.scoped)

Effect.runPromise(main).then(
  () => process.stdout.write(`screenshots written to ${out}\n`),
  (error) => {
    process.stderr.write(`${error}\n`)
    process.exitCode = 1
  }
)
