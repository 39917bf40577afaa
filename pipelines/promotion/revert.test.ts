import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { readLock, validateLock, writeLock } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import {
  MODEL,
  type PromotionRepo,
  promotionRepo,
  repoContext,
  snapshot,
  testGates,
} from '../../testing/promotion/fixtures.ts';
import { parseGatesConfig } from './config.ts';
import type { PromotionContext } from './context.ts';
import { commitMessage, revertSummary } from './messages.ts';
import { revertReasonOf } from './post-verify.ts';
import { type PromoteRequest, promote, revert } from './promote.ts';

const repos: PromotionRepo[] = [];
afterEach(async () => {
  for (const r of repos.splice(0)) await rm(r.root, { recursive: true, force: true });
});

/** testGates() with the notReverted gate in every environment, as environments/promotion-gates.json ships. */
function gatesWithRevert() {
  const g = testGates();
  for (const rule of Object.values(g.environments)) rule.gates.notReverted = true;
  return g;
}

async function repo(...args: Parameters<typeof promotionRepo>): Promise<PromotionRepo> {
  const r = await promotionRepo(args[0], args[1], args[2] ?? gatesWithRevert());
  repos.push(r);
  return r;
}

function ctx(r: PromotionRepo, out: string[]): PromotionContext {
  return repoContext(r, { by: 'verify-bot', print: (t) => out.push(t) });
}

const REASON = `soak: 1 alert(s) firing in ml-dev 40s into the 600s soak of version vX (Prometheus http://prom:9090):
  - ServingErrorBudgetBurnFast (job=model-server, namespace=ml-dev, severity=critical)`;

/** dev ran version 1, then version 2 (the one that fails); prod runs version 1. */
async function failedInDev() {
  const r = await repo(
    [0.96, 0.97],
    [
      ['prod', 1],
      ['dev', 1],
      ['dev', 2],
    ],
  );
  const [good, bad] = r.ids as [string, string];
  return { r, good, bad };
}

function promoteReq(req: Partial<PromoteRequest>): PromoteRequest {
  return { env: 'staging', ...req };
}

describe('revert: the rollback that a failed verification makes', () => {
  it('pins the version before, records the reason on the promotion record, and the commit message carries it verbatim', async () => {
    const { r, good, bad } = await failedInDev();
    const out: string[] = [];
    const result = await revert({ env: 'dev', version: bad, reason: REASON }, ctx(r, out));
    expect(result).toMatchObject({
      mode: 'rollback',
      env: 'dev',
      version: good,
      from: bad,
      changed: true,
      revert: { version: bad, reason: REASON },
    });
    const lock = await readLock(r.lockPath);
    expect(lock.models[MODEL]?.pins.dev).toBe(good);
    expect(lock.models[MODEL]?.promotions.at(-1)).toEqual({
      env: 'dev',
      from: bad,
      to: good,
      at: '2026-02-03T04:05:06.000Z',
      by: 'verify-bot',
      image: expect.stringMatching(/@sha256:/),
      reverted: { reason: REASON },
    });
    expect(await readFile(join(r.environmentsDir, 'dev', 'model-pin.yaml'), 'utf8')).toContain(
      `ml.gitops/model-version: ${good}`,
    );
    const message = commitMessage(result);
    expect(message.split('\n')[0]).toBe(
      `revert ${MODEL} dev to ${good} (from ${bad}): post-promotion verification failed`,
    );
    expect(message).toContain(
      `\n\nReason (the failed checks, verbatim):\n\n${REASON}\n\npass verifyDigests:`,
    );
    const summary = revertSummary(result);
    expect(summary).toContain(`## Reverted ${MODEL} in dev: ${bad} → ${good}`);
    expect(summary).toContain(`\`\`\`\n${REASON}\n\`\`\``);
    expect(summary).toContain('refused by the `notReverted` gate');
  });

  it('refuses to revert when the environment no longer pins the failed version; a second revert is a no-op that says so', async () => {
    const { r, good, bad } = await failedInDev();
    const { err } = await refusedWith(r, () =>
      revert({ env: 'dev', version: good, reason: REASON }, ctx(r, [])),
    );
    expect(err).toMatchObject({ code: 'CONFLICT' });
    expect(err.message).toContain(
      `dev pins ${MODEL} version ${bad} now, not ${good}, the version whose verification failed: nothing to revert`,
    );

    await revert({ env: 'dev', version: bad, reason: REASON }, ctx(r, []));
    const before = await snapshot(r);
    const out: string[] = [];
    const again = await revert({ env: 'dev', version: bad, reason: REASON }, ctx(r, out));
    expect(again).toMatchObject({ changed: false, version: good });
    expect(out.join('')).toContain(`dev was already reverted from ${bad} to ${good}: nothing changed`);
    expect(await snapshot(r)).toEqual(before);
  });

  it('a reason over what the lock keeps is cut in the record, whole in the commit message', async () => {
    const { r, bad } = await failedInDev();
    const long = `first line\n${'x'.repeat(9000)}`;
    const result = await revert({ env: 'dev', version: bad, reason: long }, ctx(r, []));
    const record = (await readLock(r.lockPath)).models[MODEL]?.promotions.at(-1);
    expect(record?.reverted?.reason.length).toBeLessThanOrEqual(8000);
    expect(record?.reverted?.reason).toMatch(/cut: the revert commit message has the whole reason\)$/);
    expect(commitMessage(result)).toContain(long);
  });

  it('a revert needs a reason', async () => {
    const { r, bad } = await failedInDev();
    await expect(revert({ env: 'dev', version: bad, reason: '  ' }, ctx(r, []))).rejects.toMatchObject({
      code: 'USAGE',
      message: 'a revert needs a reason (the checks that failed)',
    });
  });
});

async function refusedWith(r: PromotionRepo, fn: () => Promise<unknown>) {
  const before = await snapshot(r);
  const err = (await fn().catch((e: unknown) => e)) as ProjectError;
  expect(err).toBeInstanceOf(ProjectError);
  expect(await snapshot(r)).toEqual(before);
  return { err };
}

describe('the notReverted gate', () => {
  it('refuses the reverted version in the next environment, naming the revert and how to override; nothing changes', async () => {
    const { r, bad } = await failedInDev();
    await revert({ env: 'dev', version: bad, reason: REASON }, ctx(r, []));
    const out: string[] = [];
    const { err } = await refusedWith(r, () => promote(promoteReq({ version: bad }), ctx(r, out)));
    expect(err.code).toBe('GATE_FAILED');
    expect(err.message).toContain(
      `promotion of ${MODEL} version ${bad} to staging refused: 1 of 5 gate(s) failed`,
    );
    expect(err.message).toContain(
      `  - notReverted: expected never reverted in any environment (override: --allow-reverted "<why>"), got reverted in dev at 2026-02-03T04:05:06.000Z by verify-bot (commit "revert ${MODEL} dev to ${r.ids[0]} (from ${bad}): post-promotion verification failed"): soak: 1 alert(s) firing in ml-dev 40s into the 600s soak of version vX (Prometheus http://prom:9090): | - ServingErrorBudgetBurnFast (job=model-server, namespace=ml-dev, severity=critical). Promote another version, or once the cause is understood pass --allow-reverted "<why>"; find the revert with git log --grep "revert ${MODEL} dev" -- models.lock.json`,
    );
    expect(out.join('')).toMatch(/^notReverted\s+never reverted in any environment .*FAIL$/m);
  });

  it('--allow-reverted promotes it anyway and says why in the gate table (and so in the commit)', async () => {
    const { r, bad } = await failedInDev();
    await revert({ env: 'dev', version: bad, reason: REASON }, ctx(r, []));
    const result = await promote(
      promoteReq({ version: bad, allowReverted: 'the alert was a Prometheus outage (INC-42)' }),
      ctx(r, []),
    );
    expect(result).toMatchObject({ env: 'staging', version: bad, changed: true });
    expect(commitMessage(result)).toMatch(
      /^pass notReverted: reverted in dev .*; promoted anyway \(--allow-reverted\): the alert was a Prometheus outage \(INC-42\)$/m,
    );
  });

  it("a version never reverted passes; dev's newest source skips a reverted version, and says so when nothing is left", async () => {
    const { r, good, bad } = await failedInDev();
    expect(await promote(promoteReq({ version: good }), ctx(r, []))).toMatchObject({
      gates: expect.arrayContaining([
        { gate: 'notReverted', expected: expect.any(String), actual: 'never reverted', pass: true },
      ]),
    });
    await revert({ env: 'dev', version: bad, reason: REASON }, ctx(r, []));
    // The next merge to main promotes dev again: the newest version is the reverted one, so it takes the one before.
    const out: string[] = [];
    expect(await promote(promoteReq({ env: 'dev' }), ctx(r, out))).toMatchObject({
      version: good,
      changed: false,
    });

    // Every version reverted somewhere: dev has no candidate left, and says what to do.
    const lock = await readLock(r.lockPath);
    lock.models[MODEL]!.promotions.push(
      { env: 'dev', from: good, to: bad, at: '2026-02-04T00:00:00.000Z', reverted: { reason: 'r' } },
      { env: 'dev', from: bad, to: good, at: '2026-02-05T00:00:00.000Z', reverted: { reason: 'r' } },
    );
    lock.models[MODEL]!.pins.dev = good;
    await writeLock(r.lockPath, lock);
    const { err } = await refusedWith(r, () => promote(promoteReq({ env: 'dev' }), ctx(r, [])));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(
      `model "${MODEL}" has no candidate to promote to dev: every version (${good}, ${bad}) was reverted`,
    );
    expect(err.message).toContain('--version <id> --allow-reverted "<why>"');
  });

  it('the lock refuses a revert record that moves nothing away', async () => {
    const lone = await repo([0.96], [['dev', 1]]);
    const only = lone.ids[0] as string;
    const lock = await readLock(lone.lockPath);
    const m = lock.models[MODEL]!;
    m.promotions.push({ env: 'dev', from: only, to: only, at: '2026-01-02T00:00:00.000Z' });
    expect(() => validateLock(lock, 'x')).not.toThrow();
    m.promotions[1]!.reverted = { reason: 'r' };
    expect(() => validateLock(lock, 'models.lock.json')).toThrow(
      `/models/${MODEL}/promotions/1/reverted: a revert moves the pin away from the version that failed, but this record moves "${only}" to itself`,
    );
    // An old lock, without the field anywhere, stays valid (the records above).
    m.promotions[1]!.reverted = undefined;
    expect(() => validateLock(JSON.parse(JSON.stringify(lock)), 'x')).not.toThrow();
  });

  it('the gates config accepts notReverted as a boolean only, naming the field otherwise', () => {
    const g = gatesWithRevert();
    expect(parseGatesConfig(g, 'g.json').environments.staging?.gates.notReverted).toBe(true);
    (g.environments.staging!.gates as Record<string, unknown>).notReverted = 'yes';
    expect(() => parseGatesConfig(g, 'g.json')).toThrow(/notReverted/);
  });
});

describe('what a revert is for', () => {
  it("a check that timed out or a firing alert is the model's failure; a cluster or Prometheus that does not answer is not", () => {
    const timedOut = new ProjectError(
      'GATE_FAILED',
      'rollout of v1 to dev not verified after 300s (9 checks):\n/predict: [waiting] answered v0',
      {
        hint: 'see what each check saw above',
      },
    );
    expect(revertReasonOf({ error: timedOut })).toBe(
      'rollout of v1 to dev not verified after 300s (9 checks):\n/predict: [waiting] answered v0',
    );
    expect(
      revertReasonOf({ error: new ProjectError('UNAVAILABLE', 'API server does not answer') }),
    ).toBeUndefined();
    expect(revertReasonOf({ error: new Error('boom') })).toBeUndefined();
    const soak = { env: 'dev', version: 'v1', query: 'q', checks: 1, elapsedMs: 0 };
    expect(revertReasonOf({ soak: { ...soak, ok: true, firing: [] } })).toBeUndefined();
    expect(revertReasonOf({ soak: { ...soak, ok: false, firing: [{}], reason: 'soak: x' } })).toBe('soak: x');
  });
});
