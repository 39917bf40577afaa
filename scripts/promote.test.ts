import { readFile, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exitCodeOf, ProjectError } from '../platform/index.ts';
import {
  MODEL,
  type PromotionRepo,
  promotionRepo,
  snapshot,
  testImage,
} from '../testing/promotion/fixtures.ts';
import { main } from './promote.ts';
import { main as rollbackMain } from './rollback.ts';

let r: PromotionRepo;
beforeAll(async () => {
  r = await promotionRepo([0.95, 0.96], [['prod', 1]]);
});
afterAll(async () => {
  await rm(r.root, { recursive: true, force: true });
});

const flags = () => ['--lock', r.lockPath, '--root', r.root, '--gates', r.gatesPath, '--no-render'];

describe('scripts/promote.ts and scripts/rollback.ts', () => {
  it('is bad usage (exit 2) without --env, with --push but no --commit, or --version on a rollback', async () => {
    for (const [fn, argv] of [
      [main, []],
      [main, ['--env', 'dev', '--push']],
      [main, ['--env', 'dev', '--bogus']],
      [rollbackMain, ['--env', 'prod', '--version', 'vaaaaaaaaaaaa']],
    ] as const) {
      const err = await fn([...argv], { print: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProjectError);
      expect(exitCodeOf(err)).toBe(2);
    }
  });

  it('refuses a workflow run without the GitHub context it needs, before touching anything', async () => {
    const before = await snapshot(r);
    const err = await main(['--env', 'dev', ...flags()], {
      env: { GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'o/r' },
      print: () => {},
    }).catch((e: unknown) => e);
    expect((err as ProjectError).message).toBe(
      'GITHUB_ACTIONS=true but GITHUB_ACTOR, GITHUB_SHA are not set: this is not the context a GitHub Actions job gives, so the promotion cannot say who made it\n  → run it from .github/workflows/promote.yml, or locally without GITHUB_ACTIONS=true',
    );
    expect(exitCodeOf(err)).toBe(1);
    expect(await snapshot(r)).toEqual(before);
  });

  it('promotes with the Actions actor as the promoter, then rolls back', async () => {
    const out: string[] = [];
    const env = {
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTOR: 'octocat',
      GITHUB_REPOSITORY: 'o/r',
      GITHUB_SHA: 'f'.repeat(40),
    };
    const now = () => new Date('2026-03-01T00:00:00.000Z');
    expect(
      await main(['--env', 'prod', '--version', r.ids[1]!, ...flags()], {
        env,
        print: (t) => out.push(t),
        now,
      }),
    ).toBe(0);
    let lock = JSON.parse(await readFile(r.lockPath, 'utf8'));
    expect(lock.models[MODEL].promotions.at(-1)).toEqual({
      env: 'prod',
      from: r.ids[0],
      to: r.ids[1],
      at: now().toISOString(),
      by: 'octocat',
      image: testImage(1), // staging has no pin: prod keeps the image it runs
    });
    expect(out.join('')).toContain(
      'not committed: commit models.lock.json and the pin file (or run with --commit)',
    );
    expect(await rollbackMain(['--env', 'prod', ...flags()], { env, print: () => {}, now })).toBe(0);
    lock = JSON.parse(await readFile(r.lockPath, 'utf8'));
    expect(lock.models[MODEL].pins.prod).toBe(r.ids[0]);
  });
});
