import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import {
  defineWorkflow,
  Event,
  StartEvent,
  StopEvent,
  Testing,
  Workflow,
  WorkflowValidationError
} from "@eventflow/core"
import { Chunk, Effect, Stream } from "effect"
import { Approved, blogPost, Draft, Feedback, Progress } from "../quickstart.js"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

/** Whether `lines` appear in `file` as consecutive lines, all indented by the same extra amount. */
const containsBlock = (file: ReadonlyArray<string>, lines: ReadonlyArray<string>): boolean =>
  file.some((_, start) => {
    const extra = file[start].search(/\S|$/) - lines[0].search(/\S|$/)
    if (extra < 0) return false
    const pad = " ".repeat(extra)
    return lines.every((line, k) => (line === "" ? file[start + k]?.trim() === "" : file[start + k] === pad + line))
  })

describe("examples/quickstart", () => {
  it.effect("loops draft -> review -> revise until the score is good enough, then publishes", () =>
    Effect.gen(function* () {
      const post = yield* Workflow.run(blogPost, { topic: "typed errors" })
      assert.deepStrictEqual(post, {
        text: "A post about typed errors. This part adds why it matters. This part adds an example.",
        score: 9,
        revisions: 2
      })
    })
  )

  it.effect("streams its progress events in order, then the StopEvent with the result", () =>
    Effect.gen(function* () {
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(Workflow.stream(blogPost, { topic: "queues" })))
      const progress = events.filter(Event.is(Progress)).map((p) => `${p.step}: ${p.message}`)
      assert.deepStrictEqual(progress, [
        "draft: writing about queues",
        "review: score 3/10",
        "revise: revision 1: add why it matters",
        "review: score 6/10",
        "revise: revision 2: add an example",
        "review: score 9/10",
        "publish: published"
      ])
      assert.deepStrictEqual(
        events[events.length - 1],
        StopEvent.make({
          result: {
            text: "A post about queues. This part adds why it matters. This part adds an example.",
            score: 9,
            revisions: 2
          }
        })
      )
    })
  )

  it("draws every step and the review/revise loop in its Mermaid graph", () => {
    const mermaid = Workflow.toMermaid(blogPost)
    assert.isTrue(mermaid.startsWith("flowchart TD"))
    for (const step of ["draft", "review", "revise", "publish"]) assert.include(mermaid, `["${step}"]:::step`)
    const edges = Workflow.graph(blogPost).edges.map((e) => `${e.from} -> ${e.to}`)
    assert.includeMembers(edges, [
      "step:review -> event:Approved",
      "step:review -> event:Feedback",
      "event:Feedback -> step:revise",
      "step:revise -> event:Draft",
      "event:Draft -> step:review"
    ])
  })

  // The snippet of the README's "Testing your steps".
  it.effect("review sends a short draft back and approves a long one", () =>
    Effect.gen(function* () {
      const short = yield* Testing.runStep(blogPost, "review", Draft.make({ text: "One sentence." }))
      assert.deepStrictEqual(short.output, [Feedback.make({ text: "One sentence.", missing: "why it matters" })])
      assert.deepStrictEqual(short.written, [Progress.make({ step: "review", message: "score 3/10" })])

      const long = yield* Testing.runStep(blogPost, "review", Draft.make({ text: "One. Two. Three." }))
      assert.deepStrictEqual(long.output, [Approved.make({ text: "One. Two. Three.", score: 9 })])
    })
  )

  it.effect("an emitted event that no step handles is a compile-time error and a validation error", () =>
    Effect.gen(function* () {
      const Orphan = Event.define("Orphan", {})
      const broken = defineWorkflow({ name: "broken" }).step(StartEvent, () => Effect.succeed(Orphan.make({})), {
        emits: [Orphan]
      })
      // @ts-expect-error Event not handled: Orphan
      const error = yield* Effect.flip(Workflow.run(broken))
      assert.instanceOf(error, WorkflowValidationError)
      assert.include(error.issues, `step "StartEvent" emits "Orphan" but no step accepts it.`)
    })
  )

  it("every TypeScript snippet of the README is copied from an example or its test", () => {
    const sources = ["examples", "examples/test", "examples/cluster"].flatMap((dir) =>
      readdirSync(join(repoRoot, dir))
        .filter((name) => name.endsWith(".ts"))
        .map((name) => readFileSync(join(repoRoot, dir, name), "utf8").split("\n"))
    )
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8")
    const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) => m[1].split("\n"))
    assert.isAtLeast(snippets.length, 4)
    for (const snippet of snippets) {
      assert.isTrue(
        sources.some((file) => containsBlock(file, snippet)),
        `not found in examples/:\n${snippet.join("\n")}`
      )
    }
  })

  it("runs as a program (`pnpm start`): prints the progress, the result and the graph", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/quickstart.ts"],
      { cwd: repoRoot }
    )
    assert.include(stdout, "[review] score 3/10")
    assert.include(stdout, "[publish] published")
    assert.include(stdout, "Published after 2 revisions (score 9/10):")
    assert.include(stdout, "A post about typed errors. This part adds why it matters. This part adds an example.")
    assert.include(stdout, `s0["draft"]:::step`)
  })
})
