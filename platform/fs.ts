import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
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
      line: jsonErrorLine(text, (e as Error).message),
      cause: e,
    });
  }
}

/** The 1-based line of a JSON.parse error, when V8's message says where (`... at position 42 (line 3 column 5)`). */
export function jsonErrorLine(text: string, message: string): number | undefined {
  const line = /\(line (\d+) column \d+\)/.exec(message);
  if (line) return Number(line[1]);
  const position = /at position (\d+)/.exec(message);
  return position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
}

/** A tree of files read by path: a checkout, or a commit's tree (platform/git treeSource). Paths use `/`. */
export interface FileTree {
  /** The text of a file, or undefined when there is none. */
  read(path: string): Promise<string | undefined>;
  /** Every file below `dir`, as paths relative to it (`<model>/<id>.json`); [] when there is no such folder. */
  list(dir: string): Promise<string[]>;
}

async function walk(dir: string, prefix = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(join(dir, prefix), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** The file system as a {@link FileTree}. */
export const fileTree: FileTree = {
  async read(path) {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') return undefined;
      throw new ProjectError('INVALID', `${path}: cannot read (${err.code ?? err.message})`, {
        subject: path,
        cause: e,
      });
    }
  },
  list: (dir) => walk(dir),
};

/** A file of this project's per-user configuration: `$XDG_CONFIG_HOME/gitops-ml/<name>`, else `~/.config/gitops-ml/<name>`. */
export function userConfigPath(name: string, env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'gitops-ml', name);
}
