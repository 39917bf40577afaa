/**
 * The one-command demo (`npm run demo`): see steps.ts and docs/demo.md.
 * It pulls in training/, the training pipeline and gitops.
 */
export { DEMO_ENV, type DemoOptions, type DemoResult, isRepoRoot, runDemo } from './steps.ts';
