// scripts/revert.ts with real git: a bare "origin" and a clone; the revert commit is pushed with the
// reason in its message, the job summary says it, and promoting the reverted version to staging is refused.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { gitIdentity } from '../testing/git-repos.ts';
import { MODEL, promotionRepo, testGates } from '../testing/promotion/fixtures.ts';
import { needs, tool } from '../testing/services.ts';
import { main as promote } from './promote.ts';
import { main as revert } from './revert.ts';

const { env: GIT_ENV, git, publish } = gitIdentity('Revert Tester', 'revert@example.com');

let base = '';
let origin = '';
let clone = '';
let ids: string[] = [];
const { it } = needs(tool('git', 'apt-get install git'));

/** What verify-rollout reports when /predict answers the version before (its GATE_FAILED message, hint left out). */
const reasonOf = (
  bad: string,
  good: string,
) => `rollout of demo-classifier version ${bad} to dev not verified after 240s (31 checks):
Application model-server-dev: [ok] sync=Synced health=Healthy revision=0123456789ab
Deployment ml-dev/model-server: [ok] 1/1 updated, 1 available, template version ${bad}
pods: [ok] 1 Ready pod(s) at version ${bad}
/predict (http://127.0.0.1:1234/predict): [waiting] answered model demo-classifier version ${good}, expected ${bad}`;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'revert-git-'));
  const gates = testGates();
  for (const rule of Object.values(gates.environments)) rule.gates.notReverted = true;
  // dev ran version 1, then version 2, whose verification fails below.
  const seed = await promotionRepo(
    [0.96, 0.97],
    [
      ['prod', 1],
      ['dev', 1],
      ['dev', 2],
    ],
    gates,
  );
  ids = seed.ids;
  origin = join(base, 'origin.git');
  publish(seed.root, origin);
  await rm(seed.root, { recursive: true, force: true });
  clone = join(base, 'clone');
  git(base, 'clone', '--quiet', origin, clone);
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

const flags = ['--gates', 'environments/promotion-gates.json', '--no-render', '--commit', '--push'];

it('npm run revert pushes the previous pin with the reason verbatim in the commit and the job summary; the next environment refuses the version', async () => {
  const [good, bad] = ids as [string, string];
  const reason = reasonOf(bad, good);
  await writeFile(join(base, 'reason.txt'), reason);
  const summary = join(base, 'summary.md');
  await writeFile(summary, '');
  const out: string[] = [];
  expect(
    await revert(['--env', 'dev', '--version', bad, '--reason-file', join(base, 'reason.txt'), ...flags], {
      cwd: clone,
      env: { ...GIT_ENV, GITHUB_STEP_SUMMARY: summary },
      print: (t) => out.push(t),
    }),
  ).toBe(0);
  expect(out.join('')).toContain('pushed to origin main');

  // The revert commit, as everyone (and Argo CD) sees it on origin.
  expect(git(origin, 'log', '-1', '--format=%s', 'main')).toBe(
    `revert ${MODEL} dev to ${good} (from ${bad}): post-promotion verification failed`,
  );
  const body = git(origin, 'log', '-1', '--format=%b', 'main');
  expect(body).toContain(`Reason (the failed checks, verbatim):\n\n${reason}\n\npass verifyDigests:`);
  expect(git(origin, 'show', '--name-only', '--format=', 'main').split('\n').sort()).toEqual([
    'environments/dev/model-pin.yaml',
    'models.lock.json',
  ]);
  const lock = JSON.parse(git(origin, 'show', 'main:models.lock.json'));
  expect(lock.models[MODEL].pins.dev).toBe(good);
  expect(lock.models[MODEL].promotions.at(-1)).toMatchObject({
    env: 'dev',
    from: bad,
    to: good,
    reverted: { reason },
  });
  expect(git(origin, 'show', 'main:environments/dev/model-pin.yaml')).toContain(
    `ml.gitops/model-version: ${good}`,
  );
  const written = await readFile(summary, 'utf8');
  expect(written).toContain(`## Reverted ${MODEL} in dev: ${bad} → ${good}`);
  expect(written).toContain(`\`\`\`\n${reason}\n\`\`\``);
  expect(written).toContain(`in commit \`${git(origin, 'rev-parse', 'main')}\` (pushed)`);

  // By hand, a promotion of that version to staging is refused, naming the revert; nothing changes.
  const head = git(origin, 'rev-parse', 'main');
  const err = await promote(['--env', 'staging', '--version', bad, ...flags], {
    cwd: clone,
    env: GIT_ENV,
    print: () => {},
  }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'GATE_FAILED' });
  expect((err as Error).message).toContain(
    `  - notReverted: expected never reverted in any environment (override: --allow-reverted "<why>"), got reverted in dev at`,
  );
  expect((err as Error).message).toContain(
    `(commit "revert ${MODEL} dev to ${good} (from ${bad}): post-promotion verification failed"): rollout of demo-classifier version ${bad} to dev not verified after 240s (31 checks): |`,
  );
  expect(git(origin, 'rev-parse', 'main')).toBe(head);
  expect(git(clone, 'status', '--porcelain')).toBe('');

  // The same revert again (a re-run of the job) changes nothing and says so.
  const again: string[] = [];
  expect(
    await revert(['--env', 'dev', '--version', bad, '--reason', reason, ...flags], {
      cwd: clone,
      env: GIT_ENV,
      print: (t) => again.push(t),
    }),
  ).toBe(0);
  expect(again.join('')).toContain(`dev was already reverted from ${bad} to ${good}: nothing changed`);
  expect(git(origin, 'rev-parse', 'main')).toBe(head);
});

it('bad usage: no reason, both reasons, no version; a reason on a promotion', async () => {
  const [, bad] = ids as [string, string];
  const run = (args: string[]) =>
    revert(args, { cwd: clone, env: GIT_ENV, print: () => {} }).catch((e: unknown) => e);
  for (const [args, message] of [
    [['--env', 'dev', '--version', bad], 'give the reason with exactly one of --reason and --reason-file'],
    [
      ['--env', 'dev', '--version', bad, '--reason', 'x', '--reason-file', 'y'],
      'give the reason with exactly one of --reason and --reason-file',
    ],
    [['--env', 'dev', '--reason', 'x'], '--version is required: the version whose verification failed'],
  ] as const) {
    expect(await run([...args])).toMatchObject({ code: 'USAGE', message: expect.stringContaining(message) });
  }
  const err = await promote(['--env', 'staging', '--reason', 'x'], {
    cwd: clone,
    env: GIT_ENV,
    print: () => {},
  }).catch((e: unknown) => e);
  expect(err).toMatchObject({
    code: 'USAGE',
    message: expect.stringContaining('--reason and --reason-file belong to npm run revert'),
  });
});
