/**
 * The dataset digest: a manifest of per-file sha256 with its label, and one
 * root digest that is the same for the same data on any machine, whatever
 * the file order or mtimes. The root is `platform/digest.ts rootDigest` over
 * `"<label>/<relpath>" → sha256` entries (plus one `#selection` entry when
 * only part of the data was read), written as "sha256:<hex>".
 */
import { rootDigest, sha256, stableStringify } from '../../platform/index.ts';
import type { DatasetDigest } from './types.ts';

export interface DigestEntry {
  /** POSIX path relative to the data root. */
  path: string;
  /** Hex sha256 of the file's bytes. */
  sha256: string;
  /** Class name, or the file's role ("train", "test", "meta"). */
  label: string;
}

/** Build the DatasetDigest of a list of files. */
export function computeDatasetDigest(
  entries: readonly DigestEntry[],
  selection?: Record<string, number>,
): DatasetDigest {
  const files: DatasetDigest['files'] = {};
  const manifest: Record<string, string> = {};
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    files[e.path] = { sha256: e.sha256, label: e.label };
    manifest[`${e.label}/${e.path}`] = e.sha256;
  }
  if (selection && Object.keys(selection).length > 0) {
    manifest['#selection'] = sha256(stableStringify(selection));
  }
  return {
    root: `sha256:${rootDigest(manifest)}`,
    files,
    ...(selection && Object.keys(selection).length > 0 ? { selection } : {}),
  };
}
