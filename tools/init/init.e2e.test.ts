// `npm run init` on a fresh fork (issue 25.2), with real git and real Kustomize: a bare
// "origin" made from this repository's working tree, a clone as the fork; init replaces
// every placeholder, then `npm run render` passes for every environment (each on its
// "no model yet" pin: a fresh fork's Applications start green), a second run changes
// nothing, and a dirty tree or another fork's names are refused with exit 1.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { exitCodeOf } from '../../platform/errors.ts';
import { runSync } from '../../platform/shell.ts';
import { main as init } from '../../scripts/init.ts';
import { main as render } from '../../scripts/render.ts';
import { copyWorkingTree, gitIdentity } from '../../testing/git-repos.ts';
import { kustomizeInstalled } from '../../testing/gitops/kustomize.ts';
import { needs, tool } from '../../testing/services.ts';
import { INIT_DIR, PLACEHOLDERS } from './init.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const { env: GIT_ENV, git, publish } = gitIdentity('Fork Owner', 'fork@example.com');
const { it } = needs(tool('git', 'apt-get install git'), kustomizeInstalled());

let base = '';
let fork = '';

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'init-'));
  const template = join(base, 'template');
  await copyWorkingTree(REPO_ROOT, template);
  await restorePlaceholders(template);
  const origin = join(base, 'origin.git');
  publish(template, origin);
  fork = join(base, 'fork');
  git(base, 'clone', '--quiet', origin, fork);
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

/**
 * In a fork that ran init already, put the template's placeholders back in its copy
 * (its repository, registry and team, read where init wrote them), so this test runs
 * the same in the template and in every fork of it.
 */
async function restorePlaceholders(tree: string): Promise<void> {
  const appProject = await readFile(join(tree, 'manifests/argocd/appproject.yaml'), 'utf8');
  const repo = /https:\/\/github\.com\/([^\s/]+\/[^\s/]+?)\.git/.exec(appProject)?.[1];
  if (!repo || repo === PLACEHOLDERS.repo) return;
  const base = await readFile(join(tree, 'manifests/base/kustomization.yaml'), 'utf8');
  const registry = /- name: (\S+)\/model-server/.exec(base)?.[1] as string;
  const owners = await readFile(join(tree, '.github/CODEOWNERS'), 'utf8');
  const team = /^\/\.github\/\s+(\S+)/m.exec(owners)?.[1] as string;
  const files = runSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
  })
    .stdout.split('\0')
    .filter((f) => f && !f.startsWith(INIT_DIR));
  for (const f of files) {
    const text = await readFile(join(tree, f), 'utf8').catch(() => '');
    const next = text
      .replaceAll(team, PLACEHOLDERS.team)
      .replaceAll(registry, PLACEHOLDERS.registry)
      .replaceAll(repo, PLACEHOLDERS.repo);
    if (next !== text) await writeFile(join(tree, f), next);
  }
}

/** Run init in the fork; the exit code (as runMain sets it) and what it printed. */
async function runInit(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  try {
    const code = await init(args, {
      cwd: fork,
      env: { ...process.env, ...GIT_ENV },
      print: (t) => (out += t),
    });
    return { code, out };
  } catch (e) {
    return { code: exitCodeOf(e), out: `${out}error: ${(e as Error).message}` };
  }
}

/** Tracked lines (init's own folder aside) that still hold a placeholder word, `<file>:<line>:<text>`. */
function placeholdersLeft(): string[] {
  const r = runSync('git', ['grep', '-nw', '-e', 'OWNER', '-e', 'REPO', '--', '.', `:!${INIT_DIR}`], {
    cwd: fork,
    nothrow: true,
  });
  if (r.code > 1) throw new Error(`git grep failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

it('replaces every placeholder in one commit; every environment then renders; a second run changes nothing', async () => {
  expect(placeholdersLeft().length).toBeGreaterThan(50); // the template has them: the check can fail
  const head0 = git(fork, 'rev-parse', 'HEAD');
  const r = await runInit(['--repo', 'acme/image-classifier', '--registry', 'ghcr.io/acme', '--commit']);
  expect(r.code).toBe(0);
  expect(r.out).toContain(
    'made this fork acme/image-classifier: images in ghcr.io/acme, reviews by @acme/ml-maintainers',
  );
  expect(r.out).not.toContain('check by hand');
  expect(placeholdersLeft()).toEqual([]);
  expect(git(fork, 'status', '--porcelain')).toBe('');
  expect(git(fork, 'rev-list', '--count', `${head0}..HEAD`)).toBe('1');
  const changed = git(fork, 'show', '--name-only', '--format=', 'HEAD').split('\n');
  for (const f of [
    '.github/CODEOWNERS',
    'manifests/argocd/applicationset.yaml',
    'manifests/base/kustomization.yaml',
    'manifests/alert-relay/deployment.yaml',
    'monitoring/rules/serving-slo.yaml',
    'manifests/monitoring/prometheus-rule.yaml',
    'monitoring/alert-relay.ts',
  ]) {
    expect(changed).toContain(f);
  }
  expect(await readFile(join(fork, 'manifests/argocd/appproject.yaml'), 'utf8')).toContain(
    '- https://github.com/acme/image-classifier.git',
  );
  expect(await readFile(join(fork, 'manifests/alert-relay/deployment.yaml'), 'utf8')).toContain(
    'image: ghcr.io/acme/alert-relay',
  );
  expect(await readFile(join(fork, '.github/CODEOWNERS'), 'utf8')).toContain(
    '/environments/         @acme/ml-maintainers',
  );

  // `npm run render` over the fork: every environment (no model yet) and every manifests folder.
  expect(await render(['--root', fork])).toBe(0);

  const again = await runInit(['--repo', 'acme/image-classifier', '--registry', 'ghcr.io/acme', '--commit']);
  expect(again).toEqual({
    code: 0,
    out: 'nothing to change: no placeholder is left; this is acme/image-classifier already\n',
  });
  expect(git(fork, 'status', '--porcelain')).toBe('');
  expect(git(fork, 'rev-list', '--count', `${head0}..HEAD`)).toBe('1');
});

it("refuses another fork's names once the placeholders are gone, and a dirty tree, with exit 1 and nothing changed", async () => {
  const other = await runInit(['--repo', 'someone/else']);
  expect(other.code).toBe(1);
  expect(other.out).toContain(
    'no placeholder is left to replace, and manifests/argocd/appproject.yaml names https://github.com/acme/image-classifier.git, not https://github.com/someone/else.git',
  );
  await writeFile(join(fork, 'notes.txt'), 'wip\n');
  const dirty = await runInit(['--repo', 'acme/image-classifier']);
  expect(dirty.code).toBe(1);
  expect(dirty.out).toContain(`the working tree of ${fork} has uncommitted changes (notes.txt)`);
  expect(dirty.out).toContain('commit or stash them (git stash -u), then run npm run init again');
  expect(git(fork, 'status', '--porcelain')).toBe('?? notes.txt');
});
