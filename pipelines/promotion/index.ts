/**
 * Promotion and rollback of model versions between environments: gates from
 * a versioned config, the pin moved in models.lock.json and
 * environments/<env>/model-pin.yaml together, commit and push with retry on
 * a push race. See docs/promotion.md.
 */
export { type ApplyPinDeps, type ApplyPinInput, type ApplyPinResult, applyPin } from './apply.ts';
export {
  type EnvironmentRule,
  GATES_FILE,
  type Gates,
  type GatesConfig,
  gatesConfigSchema,
  loadGatesConfig,
  type MetricDropGate,
  type PairedGate,
  parseGatesConfig,
} from './config.ts';
export { type PromotionEnv, promotionEnvFrom, REQUIRED_ACTIONS_VARS } from './context.ts';
export {
  assertGatesPassed,
  type DigestCheck,
  type DigestVerifier,
  type EvaluateInput,
  evaluateGates,
  formatGateTable,
  type GateResult,
  type GoldenReader,
  lockDigestVerifier,
  lockGoldenReader,
} from './gates.ts';
export {
  commitMessage,
  type PromoteContext,
  type PromoteRequest,
  type PromoteResult,
  promote,
} from './promote.ts';
export { type RevertRequest, revert, revertReasonOf, revertSummary } from './revert.ts';
export { describeRevert, notRevertedGate, oneLine, revertSubject } from './reverted.ts';
export { chooseVersion, ruleOf } from './select.ts';
export {
  alertNamesOf,
  SOAK_RULE_FILES,
  type SoakDeps,
  type SoakOptions,
  type SoakResult,
  soak,
} from './soak.ts';
