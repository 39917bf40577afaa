import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeArtifact, tempDir } from '../lib/lock/testing.ts';
import { runSync } from '../lib/shell.ts';
import { main } from './lock.ts';

let repo: string;
let out: string[];
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
  await makeArtifact(join(repo, 'artifacts/demo-classifier/a'), 1, { accuracy: 0.9, macro_f1: 0.88 });
  await makeArtifact(join(repo, 'artifacts/demo-classifier/b'), 2, { accuracy: 0.94, macro_f1: 0.9 });
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
    expect(added.text).toMatch(
      /^added demo-classifier version 1 \(root [0-9a-f]{12}, artifact artifacts\/demo-classifier\/a\)\n$/,
    );
    const json = await run(
      'add',
      '--json',
      '--model',
      'demo-classifier',
      '--artifact',
      'artifacts/demo-classifier/b',
    );
    expect(JSON.parse(json.text)).toMatchObject({ model: 'demo-classifier', version: '2' });
    expect((await run('pin', '--model', 'demo-classifier', '--env', 'prod', '--version', '1')).text).toBe(
      'pinned demo-classifier prod to version 1 (was unpinned)\n',
    );
    expect((await run('pin', '--model', 'demo-classifier', '--env', 'prod', '--version', '2')).text).toBe(
      'pinned demo-classifier prod to version 2 (was 1)\n',
    );
    expect((await run('pin', '--model', 'demo-classifier', '--env', 'prod', '--rollback')).text).toBe(
      'pinned demo-classifier prod to version 1 (was 2)\n',
    );
    const lock = JSON.parse(await readFile(join(repo, 'models.lock.json'), 'utf8'));
    expect(lock.models['demo-classifier'].promotions.at(-1)).toEqual({
      env: 'prod',
      from: '2',
      to: '1',
      at: NOW.toISOString(),
      by: 'octocat',
    });
    expect(lock.models['demo-classifier'].versions['1'].mlflow).toEqual({ runId: 'r1', modelVersion: null });
    expect((await run('show')).text).toMatch(
      /^MODEL +ENV +VERSION.*\ndemo-classifier +prod +1 +2026-01-02T03:04:05.000Z/,
    );
    expect(await run('verify')).toEqual({
      code: 0,
      text: 'ok   demo-classifier version 1 (prod): 4 files from artifacts/demo-classifier/a\n',
    });
  });

  it('verify exits 1 and names the file when an artifact changed', async () => {
    await writeFile(join(repo, 'artifacts/demo-classifier/b/weights.bin'), 'changed');
    expect((await run('verify')).code).toBe(0); // version 2 is not pinned
    const r = await run('verify', '--all');
    expect(r.code).toBe(1);
    expect(r.text).toContain('FAIL demo-classifier version 2: 4 files from artifacts/demo-classifier/b');
    expect(r.text).toContain('model "demo-classifier" version 2: artifact file "weights.bin" from');
  });

  it('diff compares the lock at a git ref with the working file', async () => {
    git('init', '-q');
    git('commit', '-q', '--allow-empty', '-m', 'before the lock');
    git('tag', 'before');
    git('add', 'models.lock.json');
    git('commit', '-q', '-m', 'lock');
    expect((await run('diff', 'git:HEAD', 'models.lock.json')).text).toBe('no changes\n');
    await run('pin', '--model', 'demo-classifier', '--env', 'dev', '--version', '2');
    expect((await run('diff', 'git:HEAD', 'models.lock.json')).text).toBe(
      [
        'MODEL            WHAT     CHANGE      METRICS',
        'demo-classifier  pin dev  (none) → 2  accuracy 0.94, macro_f1 0.9',
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
    await expect(
      run('pin', '--model', 'demo-classifier', '--env', 'prod', '--version', '9'),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('has no version "9" to pin for prod (versions: 1, 2)'),
    });
    await expect(
      run('add', '--model', 'demo-classifier', '--artifact', 'artifacts/demo-classifier/a'),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect(await readFile(join(repo, 'models.lock.json'), 'utf8')).toBe(before);
  });
});
