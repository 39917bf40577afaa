/**
 * The one-command demo (`npm run demo`): see steps.ts and docs/demo.md.
 * Not exported from lib/index.ts: it pulls in training/ and the pipeline.
 */
export { DEMO_ENV, type DemoOptions, type DemoResult, isRepoRoot, runDemo } from './steps.ts';
