// scripts/promote.ts with real git: a bare "origin", two clones, --commit --push, and a real push race.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { gitIdentity } from '../testing/git-repos.ts';
import { MODEL, promotionRepo } from '../testing/promotion/fixtures.ts';
import { needs, tool } from '../testing/services.ts';
import { main } from './promote.ts';

const { env: GIT_ENV, git, publish } = gitIdentity('Promo Tester', 'promo@example.com');

let base = '';
let origin = '';
const { it } = needs(tool('git', 'apt-get install git'));
/** The seed lock's version ids, oldest first. */
let ids: string[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'promote-git-'));
  const seed = await promotionRepo([0.95, 0.96], [['prod', 1]]);
  ids = seed.ids;
  origin = join(base, 'origin.git');
  publish(seed.root, origin);
  await rm(seed.root, { recursive: true, force: true });
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

const flags = ['--gates', 'environments/promotion-gates.json', '--no-render', '--commit', '--push'];

it('promotes on a stale clone after another promotion won the push race: redone on top, both kept', async () => {
  const a = join(base, 'a');
  const b = join(base, 'b');
  git(base, 'clone', '--quiet', origin, a);
  git(base, 'clone', '--quiet', origin, b);
  const head0 = git(a, 'rev-parse', 'HEAD');

  // B promotes prod to version 2 and pushes first; A still has the old main.
  expect(
    await main(['--env', 'prod', '--version', ids[1]!, ...flags], { cwd: b, env: GIT_ENV, print: () => {} }),
  ).toBe(0);
  const out: string[] = [];
  expect(await main(['--env', 'dev', ...flags], { cwd: a, env: GIT_ENV, print: (t) => out.push(t) })).toBe(0);
  const text = out.join('');
  expect(text).toContain('push rejected: origin main moved; applying the promotion on top of it again');
  expect(text).toContain('pushed to origin main');

  const log = git(a, 'log', '--format=%s', `${head0}..origin/main`).split('\n');
  expect(log).toEqual([
    `promote demo-classifier@${ids[1]} to dev (gates: 4/4 passed)`,
    `promote demo-classifier@${ids[1]} to prod (gates: 4/4 passed)`,
  ]);
  const lock = JSON.parse(git(a, 'show', 'origin/main:models.lock.json'));
  expect(lock.models[MODEL].pins).toEqual({ dev: ids[1], prod: ids[1] });
  expect(lock.models[MODEL].promotions.map((p: { env: string; to: string }) => `${p.env}:${p.to}`)).toEqual([
    `prod:${ids[0]}`,
    `prod:${ids[1]}`,
    `dev:${ids[1]}`,
  ]);
  expect(git(a, 'show', 'origin/main:environments/dev/model-pin.yaml')).toContain(
    `ml.gitops/model-version: ${ids[1]}`,
  );
  expect(git(a, 'status', '--porcelain')).toBe('');
  // Only the lock and the pin file are in the promotion commit.
  expect(git(a, 'show', '--name-only', '--format=', 'origin/main').split('\n').sort()).toEqual([
    'environments/dev/model-pin.yaml',
    'models.lock.json',
  ]);
});

it('a refused promotion leaves HEAD, the working tree and origin as they were', async () => {
  const c = join(base, 'c');
  git(base, 'clone', '--quiet', origin, c);
  const head = git(c, 'rev-parse', 'HEAD');
  const lockBefore = await readFile(join(c, 'models.lock.json'), 'utf8');
  // A reviewed change makes the staging gate stricter than the dev pin (0.96) can pass.
  const gates = JSON.parse(await readFile(join(c, 'environments/promotion-gates.json'), 'utf8'));
  gates.environments.staging.gates.minMetric = { accuracy: 0.99 };
  await writeFile(join(c, 'environments/promotion-gates.json'), JSON.stringify(gates));
  git(c, 'commit', '--quiet', '-am', 'stricter staging gate');
  const head1 = git(c, 'rev-parse', 'HEAD');
  const err = await main(['--env', 'staging', ...flags], { cwd: c, env: GIT_ENV, print: () => {} }).catch(
    (e) => e,
  );
  expect(err.code).toBe('GATE_FAILED');
  expect(err.message).toContain('minMetric accuracy: expected >= 0.99, got 0.96');
  expect(git(c, 'rev-parse', 'HEAD')).toBe(head1);
  expect(git(c, 'status', '--porcelain')).toBe('');
  expect(await readFile(join(c, 'models.lock.json'), 'utf8')).toBe(lockBefore);
  expect(git(c, 'ls-remote', origin, 'main').split('\t')[0]).not.toBe(head1);
  expect(head).not.toBe(head1);
});

it('refuses to commit over uncommitted changes to the lock', async () => {
  const d = join(base, 'd');
  git(base, 'clone', '--quiet', origin, d);
  const lockPath = join(d, 'models.lock.json');
  const edited = `${await readFile(lockPath, 'utf8')}\n`;
  await writeFile(lockPath, edited);
  const err = await main(['--env', 'staging', ...flags], { cwd: d, env: GIT_ENV, print: () => {} }).catch(
    (e) => e,
  );
  expect(err.code).toBe('INVALID');
  expect(err.message).toContain(
    'uncommitted changes to models.lock.json: a promotion commit holds only its own change',
  );
  expect(await readFile(lockPath, 'utf8')).toBe(edited);
});

it("regression (issue 23.4): a main that requires reviews refuses the push; the error names the promotion App's token", async () => {
  // A fresh origin that refuses every push as GitHub does for a main under required reviews.
  const seed = await promotionRepo([0.95, 0.96], [['prod', 1]]);
  const guarded = join(base, 'guarded.git');
  publish(seed.root, guarded);
  await rm(seed.root, { recursive: true, force: true });
  const hook = join(guarded, 'hooks', 'pre-receive');
  await writeFile(
    hook,
    '#!/bin/sh\necho "error: GH006: Protected branch update failed for refs/heads/main." >&2\nexit 1\n',
  );
  await chmod(hook, 0o755);
  const e = join(base, 'e');
  git(base, 'clone', '--quiet', guarded, e);
  const head = git(e, 'rev-parse', 'HEAD');
  const err = await main(['--env', 'dev', ...flags], { cwd: e, env: GIT_ENV, print: () => {} }).catch(
    (x) => x,
  );
  expect(err.code).toBe('UNAVAILABLE');
  expect(err.message.split('\n')[0]).toBe(
    'git push origin HEAD:main failed: remote: error: GH006: Protected branch update failed for refs/heads/main.',
  );
  expect(err.hint).toContain("promotions push with the promotion App's token, which its bypass list names");
  expect(git(base, '--git-dir', guarded, 'rev-parse', 'main')).toBe(head);
});
