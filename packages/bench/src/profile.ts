/**
 * Summarizes a V8 CPU profile: the functions with the most self time.
 *
 *     node --expose-gc --cpu-prof --cpu-prof-dir=.bench-results/prof dist/cell.js eventflow S1
 *     node dist/profile.js .bench-results/prof/<file>.cpuprofile [top=25]
 */
import { readFileSync } from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, topArg] = process.argv.slice(2)
if (file === undefined) {
  console.error("usage: node dist/profile.js <file.cpuprofile> [top]")
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const selfUs = new Map<string, number>()
const groupUs = new Map<string, number>()
let totalUs = 0

/** Where a function lives: a package, node's internals, or the VM (garbage collector, idle, program). */
const groupOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.includes("/packages/core/")) return "@eventflow/core"
  if (url.includes("/packages/bench/")) return "bench (scenario code)"
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url.replace(/^.*\/node_modules\/\.pnpm\/[^/]+/, ""))
  if (pkg !== null) return pkg[1]
  return url.startsWith("node:") ? "node internals" : url
}
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])
  const dt = profile.timeDeltas[i] ?? 0
  if (node === undefined) continue
  const { functionName, url, lineNumber } = node.callFrame
  const where =
    url === "" ? "" : ` ${url.replace(/^.*\/node_modules\//, "").replace(/^.*\/packages\//, "")}:${lineNumber + 1}`
  const key = `${functionName || "(anonymous)"}${where}`
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt)
  const group = groupOf(url, functionName)
  groupUs.set(group, (groupUs.get(group) ?? 0) + dt)
  totalUs += dt
}
console.log(`total ${(totalUs / 1000).toFixed(0)} ms sampled; self time by where the code lives:`)
for (const [group, us] of [...groupUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
  console.log(`  ${group}: ${((100 * us) / totalUs).toFixed(1)}%`)
}
const top = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))
console.log("| self ms | self % | function |")
console.log("| ---: | ---: | --- |")
for (const [key, us] of top) {
  console.log(`| ${(us / 1000).toFixed(1)} | ${((100 * us) / totalUs).toFixed(1)} | \`${key}\` |`)
}
