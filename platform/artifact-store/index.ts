/**
 * Fetch model artifact files from where a lock entry's `artifactUri` points
 * (local folder, `file:`, MLflow artifact proxy, http(s) folder) with
 * streamed sha256 checks. Used by `scripts/lock.ts verify` and by serving.
 */
export {
  type DownloadOptions,
  type DownloadResult,
  digestMismatch,
  downloadArtifact,
  readVerifiedFiles,
} from './download.ts';
export {
  type ArtifactFile,
  assertSafeFileName,
  fetchArtifactFile,
  hashArtifactFile,
  sourceOf,
} from './fetch.ts';
export {
  type ArtifactLocation,
  type ArtifactStoreOptions,
  localDirOf,
  MLFLOW_ARTIFACTS_ROUTE,
  resolveArtifactLocation,
} from './location.ts';
