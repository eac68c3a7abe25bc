// Builds Eventflow Studio's assets into packages/server/studio-dist (index.html, app.js, app.css), bundled with
// esbuild: Preact and dagre included, nothing loaded from elsewhere at run time. Run by the root `prepare` (so by
// `pnpm install`) and by `pnpm --filter @eventflow/server build:studio`.
import { copyFileSync, mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

export const build = async () => {
  const out = here("../studio-dist/")
  mkdirSync(out, { recursive: true })
  await esbuild.build({
    entryPoints: { app: here("src/main.tsx") },
    outdir: out,
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    jsx: "automatic",
    jsxImportSource: "preact",
    legalComments: "eof",
    logLevel: "warning"
  })
  copyFileSync(here("src/app.css"), `${out}app.css`)
  copyFileSync(here("index.html"), `${out}index.html`)
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build()
