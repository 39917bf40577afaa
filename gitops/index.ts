/**
 * GitOps: the generated model pin of each environment, rendering every
 * Kustomize target with real Kustomize, and the schema and policy checks on
 * what it renders (docs/gitops.md). The policy checks on the GitHub
 * workflows are repository tooling: tools/policy/workflows.ts.
 */

export { environmentChoices, environmentNames, environmentsBesideLock } from './environments.ts';
export { kustomizationOf, kustomizeImageOf, setKustomizeImage } from './images.ts';
export type { KubeObject } from './objects.ts';
export { parseObjects } from './objects.ts';
export type { PinPatchInput } from './pin.ts';
export { NO_MODEL_LEAVES_OUT, renderNoModelPin, renderPinPatch, writePin } from './pin.ts';
export {
  environmentProblems,
  imageProblems,
  pinProblems,
  projectProblems,
  renderedPin,
  scalingProblems,
  workloadProblems,
} from './policy.ts';
export type { RenderedTarget, RenderOptions, RenderReport, RenderTarget, TargetSummary } from './render.ts';
export { discoverTargets, formatTable, renderAll, summarize, writeRendered } from './render.ts';
export { loadModel, schemaProblems } from './schemas.ts';
export type { KustomizeTool } from './tools.ts';
export { findKustomize, findTool, runKustomize, toolsBinDir } from './tools.ts';
