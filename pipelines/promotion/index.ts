/**
 * Promotion, rollback and revert of model versions between environments:
 * a context built once at the edge (context.ts), gates from a versioned
 * config, the pin moved in models.lock.json and environments/<env>/model-pin.yaml
 * together, commit and push with retry on a push race, MLflow's aliases moved
 * after (aliases.ts), and the step after a promotion: verify, soak, revert
 * (post-verify.ts). See docs/promotion.md.
 */
export { type AliasOutcome, aliasesOf, moveAliases } from './aliases.ts';
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
export {
  type PromotionContext,
  type PromotionContextOptions,
  type PromotionEnv,
  type PromotionGit,
  promotionContext,
  promotionEnvFrom,
  REQUIRED_ACTIONS_VARS,
} from './context.ts';
export {
  type ParsedPromotion,
  type PromotionCommand,
  parsePromotionFlags,
} from './flags.ts';
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
export { commitMessage, revertSubject, revertSummary, verificationFailedSummary } from './messages.ts';
export type { PromoteResult } from './move.ts';
export { describeRevert, notRevertedGate, oneLine } from './not-reverted.ts';
export {
  type PostVerifyDeps,
  type PostVerifyOptions,
  type PostVerifyResult,
  postVerify,
  revertReasonOf,
} from './post-verify.ts';
export {
  type PromoteRequest,
  promote,
  type RevertRequest,
  type RollbackRequest,
  revert,
  rollback,
} from './promote.ts';
export { renderCheck } from './render-check.ts';
export { chooseVersion, ruleOf } from './select.ts';
export {
  alertNamesOf,
  SOAK_RULE_FILES,
  type SoakDeps,
  type SoakOptions,
  type SoakResult,
  soak,
} from './soak.ts';
