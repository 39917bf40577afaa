/**
 * What train.yml's train job hands to its publish job: the train job runs
 * the pull request's code with read-only access, so it writes its products
 * into one folder that the workflow uploads as an artifact, and the publish
 * job (the base branch's code, with write access) downloads it and reads it
 * here as untrusted data: the candidate (`candidate.json`: the model and its
 * lock entry) and the report (`report.md`: the comparison with prod, for the
 * PR comment). Reading checks every file (a regular file, a size cap, the
 * lock entry's schema, a model name the lock allows) before anything uses it.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LockedVersion, validateVersionEntry, versionIdOf } from '../../lock/index.ts';
import { MODEL_NAME_PATTERN } from '../../model/pin.ts';
import { ProjectError } from '../../platform/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../../platform/fs.ts';
import { compileValidator } from '../../platform/schema.ts';

/** Where `npm run ci:train` writes the handoff (train.yml uploads this folder). */
export const HANDOFF_DIR = 'artifacts/pr-candidate';
export const CANDIDATE_FILE = 'candidate.json';
export const REPORT_FILE = 'report.md';
/** A lock entry is a few KiB; anything this large is not one. */
const MAX_CANDIDATE_BYTES = 1024 * 1024;
/** A PR comment holds at most 65,536 characters: the report keeps to this, the rest is for the verdict. */
export const MAX_REPORT_CHARS = 60_000;

/** The candidate and report of one training run for a pull request. */
export interface Handoff {
  model: string;
  /** The version id of the entry (content-addressed: computed, never read). */
  version: string;
  entry: LockedVersion;
  /** The comparison report (markdown), as the train job wrote it; empty when there was none. */
  report: string;
}

const validateCandidate = compileValidator<{ model: string; entry: unknown }>({
  type: 'object',
  additionalProperties: false,
  required: ['model', 'entry'],
  properties: {
    model: { type: 'string', pattern: MODEL_NAME_PATTERN },
    entry: { type: 'object' },
  },
});

/** Write the handoff folder `dir` (each file atomically). */
export async function writeHandoff(
  dir: string,
  h: { model: string; entry: LockedVersion; report: string },
): Promise<void> {
  await writeJsonAtomic(join(dir, CANDIDATE_FILE), { model: h.model, entry: h.entry });
  await writeFileAtomic(join(dir, REPORT_FILE), h.report);
}

/** The text of `path`, a regular file of at most `max` bytes; undefined when absent and `optional`. */
async function readCapped(path: string, max: number, optional: boolean): Promise<string | undefined> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) {
    if (optional) return undefined;
    throw new ProjectError('NOT_FOUND', `${path}: no such file; the train job writes it`, {
      subject: path,
      hint: "check the train job's log and its uploaded artifact (actions/upload-artifact)",
    });
  }
  if (!st.isFile()) {
    throw new ProjectError('INVALID', `${path} is not a regular file`, { subject: path });
  }
  if (st.size > max) {
    throw new ProjectError('INVALID', `${path} holds ${st.size} bytes, more than ${max}`, { subject: path });
  }
  return readFile(path, 'utf8');
}

/**
 * Read the handoff folder `dir` as untrusted data: INVALID naming the file
 * and field for anything that is not a candidate of the lock's schema. The
 * report is cut to {@link MAX_REPORT_CHARS}, and its HTML comments are
 * neutralised so that it cannot carry another comment's hidden marker.
 */
export async function readHandoff(dir: string): Promise<Handoff> {
  const path = join(dir, CANDIDATE_FILE);
  const text = (await readCapped(path, MAX_CANDIDATE_BYTES, false)) as string;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ProjectError('INVALID', `${path}: not valid JSON (${(e as Error).message})`, {
      subject: path,
      cause: e,
    });
  }
  const { model, entry: rawEntry } = validateCandidate(raw, path);
  const entry = validateVersionEntry(rawEntry, `${path}: entry`);
  let report = (await readCapped(join(dir, REPORT_FILE), 4 * MAX_REPORT_CHARS, true)) ?? '';
  if (report.length > MAX_REPORT_CHARS) {
    report = `${report.slice(0, MAX_REPORT_CHARS)}\n\n(report cut at ${MAX_REPORT_CHARS} characters)\n`;
  }
  return {
    model,
    version: versionIdOf(entry.rootDigest),
    entry,
    report: report.replaceAll('<!--', '&lt;!--'),
  };
}
