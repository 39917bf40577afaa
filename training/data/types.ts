import type { DecodedImage } from '../../model/images.ts';

export type { DecodedImage };

/** One example: its id, its class index into `Dataset.labels`, and its pixels. */
export interface LabeledImage {
  /** POSIX path relative to the data root ("circle/0001.png"), or "data_batch_1.bin#123" for CIFAR-10. */
  id: string;
  label: number;
  /**
   * The data's own split the example belongs to, when the data has one: the
   * split folder of an image folder (`train/`, `test/`), the batch file of
   * CIFAR-10 binary (`test_batch.bin` is "test"). `data.split.test: "folder"`
   * evaluates on the "test" ones.
   */
  subset?: 'train' | 'test';
  image: DecodedImage;
}

export type DataSourceKind = 'image-folder' | 'cifar10' | 'generated';

/** Where a dataset came from, for lineage (the MLflow dataset input, training.json). */
export interface DatasetOrigin {
  /** Dataset name: the pointer's, or the data folder's. */
  name: string;
  /** The archive URL of a data pointer (http(s), or s3:// in the object store), or the local folder. */
  source: { kind: 'http'; url: string } | { kind: 's3'; uri: string } | { kind: 'local'; path: string };
  /** The pointer file the data came through (as given in the config, e.g. data/shapes.json). */
  pointer?: string;
}

/** A loaded dataset: every example in memory, with the digest of the files it came from. */
export interface Dataset {
  source: DataSourceKind;
  /** Set by loadDataSource. */
  origin?: DatasetOrigin;
  /** Absolute path of the data root. */
  root: string;
  /** Class index → class name. */
  labels: string[];
  items: LabeledImage[];
  digest: DatasetDigest;
  /** Set when the data comes with its own train/test split (every item has a `subset`). */
  splitFolders?: ('train' | 'test')[];
}

/**
 * The content digest of a dataset: per-file sha256 with the file's label,
 * and one root digest over them (see ./digest.ts), the same on any machine.
 */
export interface DatasetDigest {
  /** "sha256:<hex>". */
  root: string;
  /** POSIX path relative to the data root → sha256 (hex) and label (class name, or "train"/"test"/"meta" for CIFAR-10 files). */
  files: Record<string, { sha256: string; label: string }>;
  /** Present when only part of the files was read (CIFAR-10 maxPerBatch, image-folder maxPerClass); part of the root digest. */
  selection?: Record<string, number>;
  /** With a selection: the root digest of all the files, without it (what a data pointer's `digest` names). */
  whole?: string;
}

/** A deterministic train/validation/test split and the record to store with the model. */
export interface Split {
  train: LabeledImage[];
  validation: LabeledImage[];
  test: LabeledImage[];
  record: SplitRecord;
}

export interface SplitRecord {
  seed: number;
  /** `test: "folder"`: the data's own test set (items whose `subset` is "test"). */
  fractions: { validation: number; test: number | 'folder' };
  counts: { train: number; validation: number; test: number };
  /** Per split, per class name: how many examples. */
  classCounts: {
    train: Record<string, number>;
    validation: Record<string, number>;
    test: Record<string, number>;
  };
  /** "sha256:<hex>" over the sorted ids of each split (see ./split.ts splitDigest). */
  digest: string;
}
