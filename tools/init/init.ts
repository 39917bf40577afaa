/**
 * Make a fresh fork of the template its own in one step (`npm run init`):
 * replace the template's placeholders in every file git tracks (manifests,
 * workflows, CODEOWNERS, the runbook URLs of the alert rules, the alert
 * relay, the docs and the tests that read them) with the fork's repository,
 * image registry and maintainers team. Refuses a working tree with
 * uncommitted changes, so the result is one reviewable diff (or, with
 * `commit`, one commit); a second run finds nothing to replace and changes
 * nothing. This folder names the placeholders and is never rewritten.
 */
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { writeFileAtomic } from '../../platform/fs.ts';
import { commitPaths, type GitRunner } from '../../platform/git/index.ts';

/** What the template writes where a fork's own names go. */
export const PLACEHOLDERS = {
  /** The GitHub repository, `owner/name` (Argo CD's repoURL, runbook URLs, the relay's target). */
  repo: 'OWNER/REPO',
  /** Where image.yml pushes the images (the kustomize image names of the server, trainer and relay). */
  registry: 'ghcr.io/OWNER',
  /** Who reviews the lock, the environments, the workflows and the manifests (.github/CODEOWNERS). */
  team: '@OWNER/ml-maintainers',
} as const;

/** The fork's own names. */
export interface ForkNames {
  /** `owner/name` on GitHub. */
  repo: string;
  /** `host[:port]/path`, lowercase (OCI image names are): default `ghcr.io/<owner>`. */
  registry: string;
  /** A GitHub team (`@org/team`) or user (`@login`): default `@<owner>/ml-maintainers`. */
  team: string;
}

const REPO = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
const REGISTRY = /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
const TEAM = /^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\/[A-Za-z0-9._-]+)?$/;

/**
 * The fork's names from the command's flags, validated: `repo` is required,
 * `registry` and `team` default from its owner. USAGE naming the flag and an
 * example otherwise.
 */
export function forkNames(flags: { repo?: string; registry?: string; team?: string }): ForkNames {
  const repo = flags.repo?.trim() ?? '';
  if (!REPO.test(repo) || repo.endsWith('.git')) {
    throw new ProjectError(
      'USAGE',
      `--repo ${JSON.stringify(flags.repo ?? '')} is not a GitHub repository "owner/name"`,
      {
        subject: '--repo',
        hint: 'e.g. --repo acme/image-classifier (the fork: https://github.com/acme/image-classifier)',
      },
    );
  }
  const owner = repo.split('/')[0] as string;
  const registry = (flags.registry ?? `ghcr.io/${owner.toLowerCase()}`).replace(/\/+$/, '');
  if (!REGISTRY.test(registry)) {
    throw new ProjectError(
      'USAGE',
      `--registry ${JSON.stringify(flags.registry)} is not an image registry path "host[:port]/path" in lowercase`,
      {
        subject: '--registry',
        hint: 'e.g. --registry ghcr.io/acme (image names are lowercase: ghcr.io/acme/model-server)',
      },
    );
  }
  const team = flags.team ?? `@${owner}/ml-maintainers`;
  if (!TEAM.test(team)) {
    throw new ProjectError(
      'USAGE',
      `--team ${JSON.stringify(team)} is not a GitHub team "@org/team" or user "@login"`,
      {
        subject: '--team',
        hint: 'e.g. --team @acme/ml-maintainers (CODEOWNERS needs the team to have write access)',
      },
    );
  }
  return { repo, registry, team };
}

/** Where a placeholder may stand: not inside a longer name. */
const bounded = (text: string, after: string): RegExp =>
  new RegExp(`(?<![\\w.@/-])${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?!${after})`, 'g');
const PATTERNS = [
  { key: 'team', re: /@OWNER\/ml-maintainers(?![\w-])/g },
  { key: 'registry', re: bounded(PLACEHOLDERS.registry, '[\\w.-]') },
  { key: 'repo', re: /(?<![\w.-])OWNER\/REPO(?![\w-])/g },
] as const;

/** `text` with every placeholder replaced by the fork's name (team, then registry, then repository). */
export function replacePlaceholders(text: string, names: ForkNames): string {
  let out = text;
  for (const { key, re } of PATTERNS) out = out.replace(re, () => names[key]);
  return out;
}

/** The lines of `text` that still hold a placeholder word (OWNER or REPO alone), `<line>: <text>`. */
export function placeholderLines(text: string): string[] {
  return text
    .split('\n')
    .flatMap((line, i) => (/\b(?:OWNER|REPO)\b/.test(line) ? [`${i + 1}: ${line.trim()}`] : []));
}

/** The repository-relative folder of this module: never rewritten (it names the placeholders). */
export const INIT_DIR = 'tools/init/';

export interface InitOptions {
  /** The repository's working tree (git runs there). */
  git: GitRunner;
  names: ForkNames;
  /** Commit the changed files (one commit). */
  commit?: boolean;
  /** Environment of git (identity variables). */
  env?: Record<string, string | undefined>;
}

export interface InitResult {
  names: ForkNames;
  /** The files changed, sorted (empty: nothing was left to replace). */
  changed: string[];
  /** The commit, with `commit`. */
  commitSha?: string;
  /** `<file>:<line>: <text>` of any placeholder word left (none expected), for a person to look at. */
  leftovers: string[];
}

/**
 * Replace the placeholders in every file git tracks (except {@link INIT_DIR}).
 * CONFLICT when the working tree has uncommitted changes (init's changes
 * must be a diff of their own), or when nothing is left to replace and the
 * Argo CD manifests name another repository (the fork was made someone
 * else's: init only fills in placeholders).
 */
export async function initRepository(o: InitOptions): Promise<InitResult> {
  const { git, names } = o;
  const dirty = (await git.run(['status', '--porcelain', '--untracked-files=all']))
    .split('\n')
    .filter(Boolean);
  if (dirty.length) {
    const shown = dirty.slice(0, 5).map((l) => l.slice(3));
    throw new ProjectError(
      'CONFLICT',
      `the working tree of ${git.cwd} has uncommitted changes (${shown.join(', ')}${dirty.length > 5 ? `, and ${dirty.length - 5} more` : ''}): init's changes must be a diff of their own`,
      { subject: git.cwd, hint: 'commit or stash them (git stash -u), then run npm run init again' },
    );
  }
  const files = (await git.run(['ls-files', '-z'])).split('\0').filter((f) => f && !f.startsWith(INIT_DIR));
  const changed: string[] = [];
  const leftovers: string[] = [];
  for (const file of files) {
    const path = join(git.cwd, file);
    const bytes = await readFile(path).catch(() => undefined); // a tracked file deleted: git status caught it
    if (!bytes || bytes.includes(0) || !bytes.includes('OWNER')) continue;
    const text = bytes.toString('utf8');
    const next = replacePlaceholders(text, names);
    if (next !== text) {
      const { mode } = await stat(path);
      await writeFileAtomic(path, next);
      await chmod(path, mode);
      changed.push(file);
    }
    leftovers.push(...placeholderLines(next).map((l) => `${file}:${l}`));
  }
  if (changed.length === 0) await assertSameFork(git, names);
  const result: InitResult = { names, changed: changed.sort(), leftovers };
  if (o.commit && changed.length) {
    result.commitSha = await commitPaths(
      git,
      changed,
      `Make this fork its own: ${names.repo}, images in ${names.registry}, reviews by ${names.team} (npm run init)`,
      o.env,
    );
  }
  return result;
}

/** The Argo CD manifests name `names.repo`'s Git URL; CONFLICT naming the one they name otherwise. */
async function assertSameFork(git: GitRunner, names: ForkNames): Promise<void> {
  const file = 'manifests/argocd/appproject.yaml';
  const text = await readFile(join(git.cwd, file), 'utf8').catch(() => '');
  const url = `https://github.com/${names.repo}.git`;
  if (!text || text.includes(url)) return;
  const named = /https:\/\/github\.com\/[^\s"']+?\.git/.exec(text)?.[0] ?? 'another repository';
  throw new ProjectError(
    'CONFLICT',
    `no placeholder is left to replace, and ${file} names ${named}, not ${url}: this repository was made its own already`,
    {
      subject: file,
      hint: 'init only fills in the template\'s placeholders; to rename, replace the old names by hand (git grep -n "<old owner>/<old name>")',
    },
  );
}
