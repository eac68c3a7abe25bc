/**
 * The workspace packages run without `--conditions=source`: a project that depends on them runs with a plain
 * `node --import tsx app.ts`, which loads their built `dist/` (the root `prepare` script builds it on `pnpm install`).
 */
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

/** The app: imports every package's entry point, runs a durable workflow on SQLite, prints what it resolved. */
const app = `
import { defineWorkflow, StartEvent, StopEvent, Workflow } from "@eventflow/core"
import { SqliteRunStore } from "@eventflow/sqlite"
import { LLM } from "@eventflow/llm"
import { WorkflowServer } from "@eventflow/server"
import { WorkflowClient } from "@eventflow/server/client"
import { Effect, Schema } from "effect"

const greet = defineWorkflow({ name: "greet", input: Schema.Struct({ name: Schema.String }), output: Schema.String })
  .step(StartEvent, (start) => Effect.succeed(StopEvent.make({ result: "hello " + start.input.name })), {
    emits: [StopEvent]
  })

const result = await Effect.runPromise(
  Workflow.run(greet, { name: "node" }, { durable: true }).pipe(
    Effect.provide(SqliteRunStore.layer({ filename: ":memory:" }))
  )
)
const loaded = [typeof LLM.LLM, typeof WorkflowServer.layer, typeof WorkflowClient.make]
const resolved = ["@eventflow/core", "@eventflow/sqlite", "@eventflow/llm", "@eventflow/server", "@eventflow/server/client"]
  .map((name) => import.meta.resolve(name))
console.log(JSON.stringify({ result, loaded, resolved }))
`

/** A project outside the workspace whose node_modules link to the workspace packages (as `pnpm install` links them). */
const makeProject = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "eventflow-app-")))
    const link = (name: string, target: string) => {
      const path = join(dir, "node_modules", name)
      mkdirSync(dirname(path), { recursive: true })
      symlinkSync(target, path, "dir")
    }
    for (const pkg of ["core", "sqlite", "llm", "server"]) link(`@eventflow/${pkg}`, join(repoRoot, "packages", pkg))
    for (const dep of ["effect", "tsx"]) link(dep, realpathSync(join(repoRoot, "node_modules", dep)))
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
    writeFileSync(join(dir, "app.ts"), app)
    return dir
  }),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("the packages without the source condition", () => {
  it.scopedLive(
    "node --import tsx app.ts runs an app that imports @eventflow/* from their built dist/",
    () =>
      Effect.gen(function* () {
        const dir = yield* makeProject
        const { NODE_OPTIONS: _, ...env } = process.env
        const { stderr, stdout } = yield* Effect.async<{ stdout: string; stderr: string }, Error>((resume) => {
          execFile(
            process.execPath,
            ["--import", "tsx", "app.ts"],
            { cwd: dir, env, timeout: 60_000 },
            (error, stdout, stderr) =>
              resume(
                error === null
                  ? Effect.succeed({ stdout, stderr })
                  : Effect.fail(new Error(`node --import tsx app.ts failed: ${error.message}\n${stdout}\n${stderr}`))
              )
          )
        })
        assert.strictEqual(stderr, "")
        const output = JSON.parse(stdout)
        assert.strictEqual(output.result, "hello node")
        assert.deepStrictEqual(output.loaded, ["function", "function", "function"])
        assert.deepStrictEqual(output.resolved, [
          `file://${repoRoot}packages/core/dist/index.js`,
          `file://${repoRoot}packages/sqlite/dist/index.js`,
          `file://${repoRoot}packages/llm/dist/index.js`,
          `file://${repoRoot}packages/server/dist/index.js`,
          `file://${repoRoot}packages/server/dist/client.js`
        ])
      }),
    90_000
  )
})
