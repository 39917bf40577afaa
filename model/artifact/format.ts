/**
 * The model artifact format (docs/artifact.md): the files of an artifact
 * folder and `digests.json` (its one schema, read by {@link readDigestsFile};
 * its `files` are the digests a pin carries, model/pin.ts digestsSchema).
 * Light, no TensorFlow, so that lock/ and `npm run promote` load it too. The
 * writer is ./write.ts, the reader ./read.ts.
 */
import { join } from 'node:path';
import { listFiles, rootDigest, sha256File } from '../../platform/digest.ts';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile } from '../../platform/fs.ts';
import { compileValidator } from '../../platform/schema.ts';
import { digestsSchema, HEX64 } from '../pin.ts';

/** The files training writes into every artifact (golden.json too, with a `golden` config). */
export const ARTIFACT_FILES = [
  'model.json',
  'weights.bin',
  'labels.json',
  'preprocessing.json',
  'reference-stats.json',
  'metrics.json',
  'training.json',
  'confusion-matrix.png',
  'learning-curves.png',
] as const;

/** The files a model cannot be loaded without. */
export const REQUIRED_FILES = ['model.json', 'labels.json', 'preprocessing.json'] as const;

/** The training plots of an artifact, in the order the page shows them. */
export const PLOT_FILES = ['learning-curves.png', 'confusion-matrix.png'] as const;

/** The file that lists every other file of the folder with its sha256. */
export const DIGESTS_FILE = 'digests.json';

/** digests.json */
export interface ArtifactDigests {
  algorithm: 'sha256';
  /** file name → hex sha256, every file of the folder except digests.json. */
  files: Record<string, string>;
  /** rootDigest(files), hex. */
  root: string;
}

const validateDigestsFile = compileValidator<ArtifactDigests>({
  type: 'object',
  required: ['algorithm', 'files', 'root'],
  properties: {
    algorithm: { const: 'sha256' },
    files: digestsSchema,
    root: { type: 'string', pattern: HEX64 },
  },
});

const EDITED = 'the folder was edited after export: export the artifact again';

/** The digests.json of the artifact folder `dir`, validated, its root checked against its files. */
export async function readDigestsFile(dir: string): Promise<ArtifactDigests> {
  const digestsPath = join(dir, DIGESTS_FILE);
  const digests = validateDigestsFile(await readJsonFile(digestsPath), digestsPath);
  const root = rootDigest(digests.files);
  if (root !== digests.root) {
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `${digestsPath}: root ${digests.root} is not the root of its files (${root})`,
      { subject: digestsPath, hint: EDITED },
    );
  }
  return digests;
}

/**
 * Check the artifact folder `dir` against its digests.json: the root adds
 * up and every listed file has its sha256 (streamed; nothing is kept in
 * memory: ./read.ts reads the files it uses).
 * @throws ProjectError DIGEST_MISMATCH naming the file, NOT_FOUND for a
 *   listed file that cannot be read, INVALID for a malformed digests.json.
 */
export async function verifyArtifactDir(dir: string): Promise<ArtifactDigests> {
  const digestsPath = join(dir, DIGESTS_FILE);
  const digests = await readDigestsFile(dir);
  for (const file of Object.keys(digests.files).sort()) {
    const path = join(dir, ...file.split('/'));
    const actual = await sha256File(path).catch((e: NodeJS.ErrnoException) => {
      throw new ProjectError(
        'NOT_FOUND',
        `${path}: listed in ${digestsPath} but cannot be read (${e.code ?? e.message})`,
        { subject: path, cause: e },
      );
    });
    const expected = digests.files[file] as string;
    if (actual !== expected) {
      throw new ProjectError(
        'DIGEST_MISMATCH',
        `${path}: sha256 ${actual}, but ${digestsPath} says ${expected}`,
        {
          subject: path,
          hint: EDITED,
        },
      );
    }
  }
  return digests;
}

/** sha256 of every file in `dir` (except digests.json) and their root digest: the writer's digests.json. */
export async function computeDigests(dir: string): Promise<ArtifactDigests> {
  const files: Record<string, string> = {};
  for (const name of await listFiles(dir)) {
    if (name !== DIGESTS_FILE) files[name] = await sha256File(join(dir, name));
  }
  return { algorithm: 'sha256', files, root: rootDigest(files) };
}
