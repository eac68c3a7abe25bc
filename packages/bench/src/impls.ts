import { eventflow } from "./impl/eventflow.js"
import { rawEffect } from "./impl/raw-effect.js"
import { workflowCore } from "./impl/workflow-core.js"
import type { Implementation, ImplName } from "./scenarios.js"

/** The three implementations by name. */
export const implementations: Readonly<Record<ImplName, Implementation>> = {
  eventflow,
  "workflow-core": workflowCore,
  "raw-effect": rawEffect
}
