/**
 * models.lock.json: every model version that may run, with its digests and
 * provenance, the version each environment runs (pins), and the history of
 * promotions. Format and commands: docs/lock-file.md.
 */

export type { ModelHistory } from '../model/history.ts';
export { parseJsonText } from '../platform/json-text.ts';
export { type ArtifactEntryOptions, entryFromArtifact } from './artifact-entry.ts';
export { type DiffRow, diffLocks, formatDiffTable, type MetricDelta } from './diff.ts';
export {
  lockFiles,
  lockPaths,
  parseLockFiles,
  readLockFrom,
  readLockTexts,
  versionFileOf,
  versionsDirOf,
} from './files.ts';
export { modelHistory } from './history.ts';
export { emptyLock, initLock, LOCK_FILE_NAME, readLock, writeLock } from './io.ts';
export {
  type AddCandidateInput,
  addCandidate,
  appendOnlyProblems,
  type PinInput,
  pinnedImage,
  pinVersion,
  previousPin,
  previousRecord,
  revertsOf,
  versionWithRoot,
} from './mutate.ts';
export {
  ARTIFACT_ORIGINS_FILE,
  type ArtifactOrigins,
  checkProvenance,
  formatProvenanceReport,
  loadArtifactOrigins,
  type ProvenanceOptions,
  type ProvenanceProblem,
  type ProvenanceReport,
} from './provenance.ts';
export { checkProvenanceAt, mergeBase, type ProvenanceAtOptions, readLockAt } from './provenance-git.ts';
export {
  crossCheckLock,
  ENV_NAME_PATTERN,
  lockIndexSchema,
  lockSchema,
  REVERT_REASON_MAX,
  validateLock,
  validateLockIndex,
  validateVersionEntry,
  versionIdOf,
  versionsOldestFirst,
} from './schema.ts';
export { chooseModel, lockedPin, type PinnedVersion, pinnedVersion, readPinnedVersion } from './select.ts';
export { showPins } from './show.ts';
export { signVersionEntry } from './signature.ts';
export type {
  Lock,
  LockedModel,
  LockedVersion,
  LockIndex,
  MlflowRef,
  PromotionRecord,
  RevertNote,
} from './types.ts';
export {
  addCandidateOnce,
  type LockUpdateResult,
  lockFileOf,
  type UpdateLockOptions,
  updateLock,
} from './update.ts';
export {
  formatVerifyReport,
  type VerifiedVersion,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
  verifyLock,
} from './verify.ts';
