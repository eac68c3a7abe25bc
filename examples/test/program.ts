/**
 * Runs an example as a program, the way `pnpm <script>` does: a child `node` process from the repository root with
 * `input` piped to its stdin. Resolves with its exit code and output; rejects (and kills it) past `deadlineMs`.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The repository root (the examples run from there). */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

/** What a finished program printed. */
export interface ProgramOutput {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const runProgram = (
  file: string,
  options: { readonly env: NodeJS.ProcessEnv; readonly input: string; readonly deadlineMs: number }
): Promise<ProgramOutput> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", file], {
      cwd: repoRoot,
      env: options.env
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
    })
    child.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${file} did not exit in time\n${stdout}\n${stderr}`))
    }, options.deadlineMs)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.input)
  })
