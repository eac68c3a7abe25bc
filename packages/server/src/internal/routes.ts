/**
 * The methods of the API's routes by path, for a 405 with `Allow` when a path exists but not with that method.
 *
 * @internal
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"

interface Route {
  readonly pattern: RegExp
  readonly methods: Set<string>
}

/** The routes of `api` (and `extra` ones, e.g. `GET /openapi.json`). @internal */
export const make = (
  api: HttpApi.HttpApi.Any,
  extra: ReadonlyArray<readonly [method: string, path: string]> = []
): ((path: string) => ReadonlyArray<string>) => {
  const routes = new Map<string, Route>()
  const add = (method: string, path: string) => {
    let route = routes.get(path)
    if (route === undefined) {
      const source = path
        .split("/")
        .map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
        .join("/")
      route = { pattern: new RegExp(`^${source}/?$`), methods: new Set() }
      routes.set(path, route)
    }
    route.methods.add(method)
  }
  for (const group of Object.values((api as unknown as { readonly groups: Record<string, unknown> }).groups)) {
    if (!HttpApiGroup.isHttpApiGroup(group)) continue
    const endpoints = (group as unknown as { readonly endpoints: Record<string, { method: string; path: string }> })
      .endpoints
    for (const endpoint of Object.values(endpoints)) {
      add(endpoint.method, endpoint.path)
    }
  }
  for (const [method, path] of extra) add(method, path)
  /** The methods allowed on `path` (none when no route has that path). */
  return (path) => {
    const methods = new Set<string>()
    for (const route of routes.values()) {
      if (route.pattern.test(path)) for (const method of route.methods) methods.add(method)
    }
    return [...methods]
  }
}
