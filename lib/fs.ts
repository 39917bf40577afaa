import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ProjectError } from './errors.ts';
import { stableStringify } from './json.ts';

/**
 * Write a file atomically: write a temp file in the same folder, fsync it,
 * then rename over the target. A crash or error leaves the previous file
 * intact, never a half-written one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Write deterministic JSON (sorted keys, trailing newline) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, stableStringify(value));
}

/** Read and parse a JSON file; a missing file or bad JSON is a ProjectError naming the file. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT')
      throw new ProjectError('NOT_FOUND', `${path}: no such file`, { subject: path, cause: e });
    throw new ProjectError('INVALID', `${path}: cannot read (${err.code ?? err.message})`, {
      subject: path,
      cause: e,
    });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ProjectError('INVALID', `${path}: not valid JSON (${(e as Error).message})`, {
      subject: path,
      cause: e,
    });
  }
}
