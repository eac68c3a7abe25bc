/**
 * One cell of the benchmark, run by `run.js` in a fresh `node --expose-gc` process:
 * `node --expose-gc dist/cell.js <impl> <scenario>` (or `micro <transition|events>`). Prints one JSON line with
 * the metrics; exits with 1 and the error on stderr when a result is wrong.
 */
import { implementations } from "./impls.js"
import { measureScenario } from "./measureScenario.js"
import { runMicro } from "./micro.js"
import {
  fullSizes,
  type ImplName,
  implNames,
  type MicroId,
  microIds,
  quickSizes,
  type ScenarioId,
  scenarioIds
} from "./scenarios.js"

const [implArg, scenarioArg] = process.argv.slice(2)
const quick = process.env.BENCH_QUICK === "1"
const sizes = quick ? quickSizes : fullSizes

const main = async () => {
  if (implArg === "micro") {
    if (!microIds.includes(scenarioArg as MicroId)) throw new Error(`unknown microbenchmark ${scenarioArg}`)
    return { impl: implArg, scenario: scenarioArg, metrics: runMicro(scenarioArg as MicroId, quick) }
  }
  if (!implNames.includes(implArg as ImplName)) throw new Error(`unknown implementation ${implArg}`)
  const id = scenarioArg as ScenarioId
  if (!scenarioIds.includes(id)) throw new Error(`unknown scenario ${scenarioArg}`)
  const metrics = await measureScenario(implementations[implArg as ImplName], id, sizes)
  return { impl: implArg, scenario: id, size: sizes[id], metrics }
}

main().then(
  (line) => {
    process.stdout.write(`${JSON.stringify(line)}\n`)
    process.exit(0)
  },
  (error) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  }
)
