/**
 * A throwaway PostgreSQL server: initdb in a temporary folder, pg_ctl start on 127.0.0.1 and a free port.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/** @internal */
export class PgTestServerError extends Data.TaggedError("PgTestServerError")<{
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** @internal */
export interface Server {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  readonly binDir: string
}

/** @internal */
export interface Options {
  readonly settings?: Readonly<Record<string, string>> | undefined
  readonly binDir?: string | undefined
}

const INSTALL_HINT =
  "Install PostgreSQL's server binaries: on Debian/Ubuntu `apt-get update && apt-get install -y postgresql-15` " +
  "(as root; `bash .ci/run` does it on a fresh machine), or set EVENTFLOW_PG_BIN to the folder that holds initdb " +
  "and pg_ctl."

const hasBinaries = (dir: string): boolean =>
  fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl"))

/** The folder of `initdb` and `pg_ctl`: the option, EVENTFLOW_PG_BIN, /usr/lib/postgresql/<newest>/bin, the PATH. */
export const findBinDir = (explicit: string | undefined): string => {
  const chosen = explicit ?? process.env.EVENTFLOW_PG_BIN
  if (chosen !== undefined && chosen !== "") {
    if (hasBinaries(chosen)) return chosen
    throw new PgTestServerError({
      reason: `PostgreSQL's initdb and pg_ctl are not in ${JSON.stringify(chosen)} (from ${
        explicit === undefined ? "EVENTFLOW_PG_BIN" : "the binDir option"
      }). ${INSTALL_HINT}`
    })
  }
  const root = "/usr/lib/postgresql"
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of versions) {
    const dir = path.join(root, version, "bin")
    if (hasBinaries(dir)) return dir
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir !== "" && hasBinaries(dir)) return dir
  }
  throw new PgTestServerError({
    reason: `PostgreSQL's server binaries (initdb, pg_ctl) were not found in EVENTFLOW_PG_BIN, ${root}/<version>/bin or the PATH. ${INSTALL_HINT}`
  })
}

const run = (file: string, args: ReadonlyArray<string>, what: string): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new PgTestServerError({
            reason: `${what} failed (${file} ${args.join(" ")}): ${error.message}\n${stdout}\n${stderr}`.trim()
          })
        )
      } else {
        resolve(stdout)
      }
    })
  })

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0

/** Runs a PostgreSQL binary, as the `postgres` user when this process is root (the server refuses to run as root). */
const pg = async (binDir: string, binary: string, args: ReadonlyArray<string>, what: string): Promise<string> =>
  isRoot()
    ? run("runuser", ["-u", "postgres", "--", path.join(binDir, binary), ...args], what)
    : run(path.join(binDir, binary), args, what)

const ensurePostgresUser = async (): Promise<void> => {
  try {
    await run("id", ["-u", "postgres"], "id")
  } catch {
    await run("useradd", ["--system", "--no-create-home", "--shell", "/bin/false", "postgres"], "useradd postgres")
  }
}

const defaultSettings: Readonly<Record<string, string>> = {
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  max_connections: "200"
}

/** @internal */
export const start = async (
  options?: Options
): Promise<{ readonly server: Server; readonly stop: () => Promise<void> }> => {
  const binDir = findBinDir(options?.binDir)
  if (isRoot()) await ensurePostgresUser()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eventflow-pg-"))
  const dataDir = path.join(dir, "data")
  const remove = () => fs.rmSync(dir, { recursive: true, force: true })
  try {
    if (isRoot()) await run("chown", ["-R", "postgres", dir], "chown")
    const initdb = (locale: ReadonlyArray<string>) =>
      pg(
        binDir,
        "initdb",
        ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", ...locale, "--no-sync"],
        "initdb"
      )
    // C.UTF-8 is the recipe's locale; a system without it gets no locale (the encoding stays UTF8).
    await initdb(["--locale=C.UTF-8"]).catch(() =>
      fs.promises.rm(dataDir, { recursive: true, force: true }).then(() => initdb(["--no-locale"]))
    )
    const settings = { ...defaultSettings, ...options?.settings }
    let lastError: unknown
    // A free port can be taken by another process before the server binds it: try a few.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort()
      const serverOptions = [
        `-p ${port}`,
        `-k ${dir}`,
        "-c listen_addresses=127.0.0.1",
        ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)
      ].join(" ")
      try {
        await pg(
          binDir,
          "pg_ctl",
          ["-D", dataDir, "-w", "-t", "60", "-l", path.join(dir, "server.log"), "-o", serverOptions, "start"],
          "pg_ctl start"
        )
      } catch (error) {
        const log = fs.existsSync(path.join(dir, "server.log"))
          ? fs.readFileSync(path.join(dir, "server.log"), "utf8")
          : ""
        lastError = new PgTestServerError({ reason: `${(error as Error).message}\nserver log:\n${log}` })
        continue
      }
      let stopped = false
      const stop = async () => {
        if (stopped) return
        stopped = true
        try {
          await pg(binDir, "pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"], "pg_ctl stop")
        } finally {
          remove()
        }
      }
      return { server: { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dataDir, binDir }, stop }
    }
    throw lastError
  } catch (error) {
    remove()
    throw error
  }
}

/** @internal */
export const make = (options?: Options) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => start(options),
      catch: (error) =>
        error instanceof PgTestServerError
          ? error
          : new PgTestServerError({ reason: `cannot start PostgreSQL: ${error}` })
    }),
    ({ stop }) => Effect.promise(stop)
  ).pipe(Effect.map(({ server }) => server))
