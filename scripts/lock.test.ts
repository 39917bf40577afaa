import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { versionIdOf } from '../lock/index.ts';
import { runSync } from '../platform/shell.ts';
import { makeArtifact, tempDir } from '../testing/lock/fixtures.ts';
import { main } from './lock.ts';

let repo: string;
let out: string[];
/** The version ids of artifacts a and b (content-addressed: v + 12 hex of their root digests). */
let va = '';
let vb = '';
const NOW = new Date('2026-05-01T12:00:00.000Z');

async function run(...argv: string[]): Promise<{ code: number; text: string }> {
  out = [];
  const code = await main(argv, {
    cwd: repo,
    env: { GITHUB_ACTOR: 'octocat' },
    print: (t) => out.push(t),
    now: () => NOW,
  });
  return { code, text: out.join('') };
}

const git = (...args: string[]) =>
  runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo }).stdout;

beforeAll(async () => {
  repo = await tempDir('lock-script-');
  // A repository's environments: the folders --env is checked against.
  for (const env of ['dev', 'staging', 'prod'])
    await mkdir(join(repo, 'environments', env), { recursive: true });
  va = versionIdOf(
    (await makeArtifact(join(repo, 'artifacts/demo-classifier/a'), 1, { accuracy: 0.9, macro_f1: 0.88 }))
      .root,
  );
  vb = versionIdOf(
    (await makeArtifact(join(repo, 'artifacts/demo-classifier/b'), 2, { accuracy: 0.94, macro_f1: 0.9 }))
      .root,
  );
});
afterAll(async () => {
  await rm(repo, { recursive: true, force: true });
});

describe('scripts/lock.ts', () => {
  it('init, add, pin, show, verify: the normal flow', async () => {
    expect(await run('init')).toEqual({ code: 0, text: `created ${join(repo, 'models.lock.json')}\n` });
    const added = await run(
      'add',
      '--model',
      'demo-classifier',
      '--artifact',
      'artifacts/demo-classifier/a',
      '--run-id',
      'r1',
    );
    expect(added.code).toBe(0);
    expect(added.text).toBe(
      `added demo-classifier version ${va} (root ${va.slice(1)}, artifact artifacts/demo-classifier/a)\n`,
    );
    const json = await run(
      'add',
      '--json',
      '--model',
      'demo-classifier',
      '--artifact',
      'artifacts/demo-classifier/b',
    );
    expect(JSON.parse(json.text)).toMatchObject({ model: 'demo-classifier', version: vb });
    expect((await run('pin', '--model', 'demo-classifier', '--env', 'prod', '--version', va)).text).toBe(
      `pinned demo-classifier prod to version ${va} (was unpinned)\n`,
    );
    expect((await run('pin', '--model', 'demo-classifier', '--env', 'prod', '--version', vb)).text).toBe(
      `pinned demo-classifier prod to version ${vb} (was ${va})\n`,
    );
    expect((await run('pin', '--model', 'demo-classifier', '--env', 'prod', '--rollback')).text).toBe(
      `pinned demo-classifier prod to version ${va} (was ${vb})\n`,
    );
    const lock = JSON.parse(await readFile(join(repo, 'models.lock.json'), 'utf8'));
    expect(lock.models['demo-classifier'].promotions.at(-1)).toEqual({
      env: 'prod',
      from: vb,
      to: va,
      at: NOW.toISOString(),
      by: 'octocat',
    });
    expect(lock.models['demo-classifier'].versions).toBeUndefined(); // versions are files of their own
    const entry = JSON.parse(
      await readFile(join(repo, 'models.lock.d', 'demo-classifier', `${va}.json`), 'utf8'),
    );
    expect(entry.mlflow).toEqual({ runId: 'r1', modelVersion: null });
    expect((await run('show')).text).toMatch(
      new RegExp(`^MODEL +ENV +VERSION.*\\ndemo-classifier +prod +${va} +2026-01-02T03:04:05.000Z`),
    );
    expect(await run('verify')).toEqual({
      code: 0,
      text: `ok   demo-classifier version ${va} (prod): 4 files from artifacts/demo-classifier/a\n`,
    });
  });

  it('verify exits 1 and names the file when an artifact changed', async () => {
    await writeFile(join(repo, 'artifacts/demo-classifier/b/weights.bin'), 'changed');
    expect((await run('verify')).code).toBe(0); // version b is not pinned
    const r = await run('verify', '--all');
    expect(r.code).toBe(1);
    expect(r.text).toContain(`FAIL demo-classifier version ${vb}: 4 files from artifacts/demo-classifier/b`);
    expect(r.text).toContain(`model "demo-classifier" version ${vb}: artifact file "weights.bin" from`);
  });

  it('diff compares the lock at a git ref with the working file', async () => {
    git('init', '-q');
    git('commit', '-q', '--allow-empty', '-m', 'before the lock');
    git('tag', 'before');
    git('add', 'models.lock.json', 'models.lock.d');
    git('commit', '-q', '-m', 'lock');
    expect((await run('diff', 'git:HEAD', 'models.lock.json')).text).toBe('no changes\n');
    await run('pin', '--model', 'demo-classifier', '--env', 'dev', '--version', vb);
    expect((await run('diff', 'git:HEAD', 'models.lock.json')).text).toBe(
      [
        'MODEL            WHAT     CHANGE                  METRICS',
        `demo-classifier  pin dev  (none) → ${vb}  accuracy 0.94, macro_f1 0.9`,
        '',
      ].join('\n'),
    );
    // The lock did not exist at that commit: everything is new.
    const fromNothing = await run('diff', '--json', 'git:before', 'git:HEAD');
    expect(
      JSON.parse(fromNothing.text).map((r: { kind: string; change: string }) => `${r.kind} ${r.change}`),
    ).toEqual(['version added', 'version added', 'pin pin']);
    await expect(run('diff', 'git:no-such-branch', 'models.lock.json')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('cannot read git:no-such-branch:models.lock.json'),
    });
  });

  it('refuses bad usage with exit code 2 material (USAGE) and leaves the lock alone', async () => {
    const before = await readFile(join(repo, 'models.lock.json'), 'utf8');
    await expect(run('promote')).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('unknown command "promote"'),
    });
    await expect(run('pin', '--model', 'demo-classifier', '--env', 'prod', '--all')).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--all does not apply to "pin"'),
    });
    await expect(run('pin', '--model', 'demo-classifier', '--env', 'prod')).rejects.toMatchObject({
      code: 'USAGE',
    });
    await expect(run('diff', 'a')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(run('verfiy')).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/^unknown command "verfiy" \(did you mean "verify"\?\)\n/),
    });
    // A typo in --env is bad usage with the nearest environment, never "nothing to verify" (exit 0).
    for (const argv of [
      ['verify', '--env', 'prdo'],
      ['pin', '--model', 'demo-classifier', '--env', 'prdo', '--version', va],
    ]) {
      await expect(run(...argv)).rejects.toMatchObject({
        code: 'USAGE',
        message: expect.stringMatching(
          /^--env "prdo" is not one of dev, staging, prod \(the folders of environments\/\) \(did you mean "prod"\?\)\n/,
        ),
      });
    }
    await expect(run('verify', '--envv', 'prod')).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/^unknown flag --envv \(did you mean --env\?\)\n/),
    });
    await expect(
      run('pin', '--model', 'demo-classifier', '--env', 'prod', '--version', 'vaaaaaaaaaaaa'),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(
        `has no version "vaaaaaaaaaaaa" to pin for prod (versions: ${[va, vb].sort().join(', ')})`,
      ),
    });
    await expect(
      run('add', '--model', 'demo-classifier', '--artifact', 'artifacts/demo-classifier/a'),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect(await readFile(join(repo, 'models.lock.json'), 'utf8')).toBe(before);
  });
});
