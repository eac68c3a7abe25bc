import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.js"

// The global setup starts a throwaway PostgreSQL server for the package's tests and stops it at the end.
export default mergeConfig(shared, defineProject({ test: { name: "cluster", globalSetup: ["./test/globalSetup.ts"] } }))
