/**
 * Eventflow Studio's static assets: built by `packages/server/studio/build.mjs` (run by the root `prepare`, i.e. by
 * `pnpm install`) into `packages/server/studio-dist`, read once when the server starts and served at `/studio`.
 * The page and its script hold no data: they are served without the bearer token, and every request the page makes
 * for data carries the token the page asked for.
 *
 * @internal
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { readFileSync } from "node:fs"

/** The folder of the built assets: next to `src/` and `dist/` of the server package. @internal */
export const assetsDir = new URL("../../studio-dist/", import.meta.url)

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
}

const files: ReadonlyArray<readonly [name: string, contentType: string]> = [
  ["index.html", "text/html; charset=utf-8"],
  ["app.js", "text/javascript; charset=utf-8"],
  ["app.css", "text/css; charset=utf-8"]
]

/**
 * Nothing but this server: no script, style, font or connection anywhere else (the studio works offline), no
 * framing by other sites.
 */
const securityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

/** The studio's routes: a function from a GET path to its response, `undefined` when the path is not the studio's. @internal */
export type Studio = (path: string) => HttpServerResponse.HttpServerResponse | undefined

/** Reads the built assets; when they are missing, `/studio` answers 503 saying how to build them. @internal */
export const make = (): Studio => {
  const assets = new Map<string, Asset>()
  let missing: string | undefined
  for (const [name, contentType] of files) {
    try {
      assets.set(name, { body: readFileSync(new URL(name, assetsDir)), contentType })
    } catch {
      missing = name
      break
    }
  }
  return (path) => {
    if (path !== "/studio" && !path.startsWith("/studio/")) return undefined
    if (missing !== undefined) {
      return HttpServerResponse.unsafeJson(
        {
          _tag: "StudioNotBuilt",
          message:
            `the studio's assets are not built (${missing} is missing in ${assetsDir.pathname}): run ` +
            "`pnpm --filter @eventflow/server build:studio` (the root `pnpm install` runs it), then restart the server"
        },
        { status: 503 }
      )
    }
    const name = path === "/studio" || path === "/studio/" ? "index.html" : path.slice("/studio/".length)
    const asset = assets.get(name)
    if (asset === undefined) {
      return HttpServerResponse.unsafeJson(
        { _tag: "RouteNotFound", message: `no studio asset ${path}` },
        { status: 404, headers: securityHeaders }
      )
    }
    return HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers: securityHeaders })
  }
}
