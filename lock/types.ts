/**
 * The shape of models.lock.json (docs/lock-file.md, docs/contracts.md).
 * Validated by ./schema.ts; these types are what a validated lock is.
 */
import type { PromotionRecord } from '../model/history.ts';
import type { ModelSignature } from '../model/signing/statement.ts';

export type { PromotionRecord, RevertNote } from '../model/history.ts';

/** Where a model version was tracked in MLflow; null fields when it was tracked locally. */
export interface MlflowRef {
  /** MLflow run id, or null when tracked in the local store only. */
  runId: string | null;
  /** Registered model version ("1", "2", ...), or null when not registered. */
  modelVersion: string | null;
  /** Tracking server base URL without credentials, or null. */
  trackingUri?: string | null;
}

/** One trained artifact of a model: `models.<name>.versions.<version>`. Immutable once added. */
export interface LockedVersion {
  /** Where the artifact folder lives: a path or `file:` URI relative to the lock file's folder, `mlflow-artifacts:/...`, or an http(s) folder URL. */
  artifactUri: string;
  /** ISO 8601 time the artifact was created (training.json `createdAt`). */
  createdAt: string;
  /** `sha256:<hex>` root digest of the training data. */
  datasetDigest: string;
  /** Every artifact file (except digests.json) → hex sha256. */
  digests: Record<string, string>;
  /** platform/digest.ts rootDigest(digests), hex: the artifact's identity. */
  rootDigest: string;
  /** The git commit the artifact was trained from, or null when unknown. */
  gitCommit: string | null;
  /** Top-level numeric evaluation metrics (metrics.json): accuracy, macro_f1, loss, samples. */
  metrics: Record<string, number>;
  mlflow: MlflowRef;
  /** `sha256:<hex>` of the training config (stableStringify of training.json `config`). */
  paramsDigest: string;
  /** The backend it was trained on (training.json `backend.id`): `tensorflow-gpu`, `tensorflow` or `cpu`. */
  backend?: string;
  /**
   * The Sigstore bundle that signs this version's root digest
   * (model/signing, docs/signing.md): keyless in CI, a local key in the demo.
   * Environments whose gates say `signed` refuse a version without one.
   */
  signature?: ModelSignature;
}

/** One model: its versions, the version each environment runs, and how the pins moved. */
export interface LockedModel {
  /** environment → version id. */
  pins: Record<string, string>;
  /** version id (v + 12 hex digits of the rootDigest) → entry; each is a file models.lock.d/<model>/<id>.json. */
  versions: Record<string, LockedVersion>;
  /** Append-only history of pin moves, oldest first. */
  promotions: PromotionRecord[];
}

/** A whole lock: models.lock.json with the version files of models.lock.d/ folded in. */
export interface Lock {
  lockfileVersion: 2;
  models: Record<string, LockedModel>;
}

/** The text of models.lock.json itself: pins and promotions; versions live in models.lock.d/. */
export interface LockIndex {
  lockfileVersion: 2;
  models: Record<string, Pick<LockedModel, 'pins' | 'promotions'>>;
}
