import type { UserConfig } from "vitest/config"

/** Shared vitest settings: run workspace packages from `src` through the `source` export condition. */
export const shared: UserConfig = {
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    fakeTimers: { toFake: undefined }
  }
}
