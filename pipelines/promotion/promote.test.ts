import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { renderPinPatch, writePin } from '../../gitops/index.ts';
import { modelHistory, readLock } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import {
  MODEL,
  type PromotionRepo,
  promotionRepo,
  repoContext,
  snapshot,
  testGates,
  testImage,
} from '../../testing/promotion/fixtures.ts';
import type { PromotionContext } from './context.ts';
import { type PromoteRequest, promote, rollback } from './promote.ts';

const repos: PromotionRepo[] = [];
afterEach(async () => {
  for (const r of repos.splice(0)) await rm(r.root, { recursive: true, force: true });
});

async function repo(...args: Parameters<typeof promotionRepo>): Promise<PromotionRepo> {
  const r = await promotionRepo(...args);
  repos.push(r);
  return r;
}

/** A promotion (a rollback with `mode: 'rollback'`) of dev unless `req` says otherwise, by alice. */
function run(
  r: PromotionRepo,
  req: Partial<PromoteRequest> & { mode?: 'promote' | 'rollback' },
  ctx: Partial<PromotionContext> = {},
) {
  const out: string[] = [];
  const { mode = 'promote', ...request } = req;
  const context = repoContext(r, { by: 'alice', print: (t) => out.push(t), ...ctx });
  const p =
    mode === 'rollback'
      ? rollback({ env: 'dev', ...request }, context)
      : promote({ env: 'dev', ...request }, context);
  return { p, out };
}

const pinText = (r: PromotionRepo, env: string) =>
  readFile(join(r.environmentsDir, env, 'model-pin.yaml'), 'utf8');

async function refused(
  r: PromotionRepo,
  req: Parameters<typeof run>[1],
  ctx: Partial<PromotionContext> = {},
) {
  const before = await snapshot(r);
  const { p, out } = run(r, req, ctx);
  const err = (await p.catch((e: unknown) => e)) as ProjectError;
  expect(err).toBeInstanceOf(Error);
  expect(await snapshot(r)).toEqual(before);
  return { err, out: out.join('') };
}

describe('promote: choosing what to promote', () => {
  it('pins the newest candidate to dev: lock pin, promotion record, and the pin file from the same entry', async () => {
    const r = await repo([0.95, 0.96], [['prod', 1]]);
    const { p, out } = run(r, {});
    const result = await p;
    expect(result).toMatchObject({ model: MODEL, env: 'dev', version: r.ids[1], from: null, changed: true });
    const lock = await readLock(r.lockPath);
    expect(lock.models[MODEL]?.pins).toEqual({ dev: r.ids[1], prod: r.ids[0] });
    expect(lock.models[MODEL]?.promotions.at(-1)).toEqual({
      env: 'dev',
      from: null,
      to: r.ids[1],
      at: '2026-02-03T04:05:06.000Z',
      by: 'alice',
    });
    const entry = lock.models[MODEL]?.versions[r.ids[1]!];
    expect(await pinText(r, 'dev')).toBe(
      renderPinPatch({ model: MODEL, version: r.ids[1]!, entry: entry!, history: modelHistory(lock, MODEL) }),
    );
    // The model card's history rides in the pin, as of this promotion.
    const history = JSON.parse(
      (
        parse(await pinText(r, 'dev')) as {
          spec: { template: { metadata: { annotations: Record<string, string> } } };
        }
      ).spec.template.metadata.annotations['ml.gitops/model-history']!,
    );
    expect(history.pins).toEqual({ dev: r.ids[1], prod: r.ids[0] });
    expect(history.promotions.at(-1)).toMatchObject({ env: 'dev', to: r.ids[1] });
    const text = out.join('');
    expect(text).toMatch(/^minMetric accuracy\s+>= 0\.9\s+0\.96\s+pass$/m);
    expect(text).toMatch(
      new RegExp(
        `^maxMetricDrop accuracy vs prod\\s+>= 0\\.93 \\(prod version ${r.ids[0]}: 0\\.95 - 0\\.02\\)\\s+0\\.96\\s+pass$`,
        'm',
      ),
    );
    expect(text).toMatch(/^verifyDigests\s+every file has its locked sha256\s+4 files ok\s+pass$/m);
    expect(text).toContain(`pinned demo-classifier dev to version ${r.ids[1]} (was nothing)`);
  });

  it('a second run of the same promotion is a no-op that says so', async () => {
    const r = await repo([0.95]);
    await run(r, {}).p;
    const before = await snapshot(r);
    const { p, out } = run(r, {});
    expect(await p).toMatchObject({ changed: false, version: r.ids[0] });
    expect(out.join('')).toContain(`dev already runs demo-classifier version ${r.ids[0]}: nothing changed`);
    expect(await snapshot(r)).toEqual(before);
  });

  it('staging takes the version pinned in dev, prod the one pinned in staging', async () => {
    const r = await repo([0.95, 0.97, 0.99], [['dev', 2]]);
    const { err } = await refused(r, { env: 'prod' });
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe(
      'prod is promoted from staging, and staging has no pin for model "demo-classifier" yet\n  → promote to staging first (npm run promote -- --env staging)',
    );
    expect(await run(r, { env: 'staging' }).p).toMatchObject({ version: r.ids[1], changed: true });
    expect(await run(r, { env: 'prod' }).p).toMatchObject({ version: r.ids[1], changed: true });
  });

  it('refuses a version that is not in the lock, naming the versions there', async () => {
    const r = await repo([0.95, 0.96]);
    const { err } = await refused(r, { version: 'vaaaaaaaaaaaa' });
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(
      `model "demo-classifier" has no version "vaaaaaaaaaaaa" to promote to dev (versions: ${r.ids.join(', ')})`,
    );
  });

  it('refuses a model that is not in the lock, and an environment without a folder', async () => {
    const r = await repo([0.95]);
    expect((await refused(r, { model: 'other' })).err.message).toContain(
      'no model "other" in ' + r.lockPath + ' (models: demo-classifier)',
    );
    expect((await refused(r, { env: 'qa' })).err.message).toContain(
      `no environment folder ${join(r.environmentsDir, 'qa')}`,
    );
  });
});

describe('promote: gates', () => {
  it('refuses a candidate below the minimum, naming the gate, and changes nothing', async () => {
    const r = await repo([0.95, 0.5], [['prod', 1]]);
    const { err, out } = await refused(r, {});
    expect(err.code).toBe('GATE_FAILED');
    expect(err.message).toContain(
      `promotion of demo-classifier version ${r.ids[1]} to dev refused: 2 of 4 gate(s) failed:`,
    );
    expect(err.message).toContain('  - minMetric accuracy: expected >= 0.9, got 0.5');
    expect(err.message).toContain(
      `  - maxMetricDrop accuracy vs prod: expected >= 0.93 (prod version ${r.ids[0]}: 0.95 - 0.02), got 0.5`,
    );
    expect(out).toMatch(/^verifyDigests .* pass$/m);
    expect(out).toMatch(/^minMetric accuracy .* FAIL$/m);
  });

  it('refuses a candidate more than the margin below prod even above the minimum', async () => {
    const r = await repo([0.99, 0.96], [['prod', 1]]);
    const { err } = await refused(r, {});
    expect(err.code).toBe('GATE_FAILED');
    expect((err.details as { gate: string }[]).map((g) => g.gate)).toEqual([
      'maxMetricDrop accuracy vs prod',
    ]);
  });

  it('with no prod pin yet, the drop gate has nothing to compare and passes', async () => {
    const r = await repo([0.95]);
    const { p, out } = run(r, {});
    await p;
    expect(out.join('')).toMatch(
      /^maxMetricDrop accuracy vs prod .*\(prod has no pin yet: nothing to compare\)\s+pass$/m,
    );
  });

  it('refuses a candidate missing a required metric', async () => {
    const r = await repo([0.95]);
    const gates = testGates();
    gates.environments.dev!.gates.metricsPresent = ['accuracy', 'macro_f1', 'recall_at_1'];
    await writeFile(r.gatesPath, JSON.stringify(gates));
    const { err } = await refused(r, {});
    expect(err.message).toContain(
      '  - metricsPresent: expected accuracy, macro_f1, recall_at_1, got missing: recall_at_1',
    );
  });

  it('refuses a candidate whose artifact file was tampered with (digest gate)', async () => {
    const r = await repo([0.95]);
    await writeFile(join(r.root, 'artifacts', 'v1', 'weights.bin'), 'not the weights');
    const { err } = await refused(r, {});
    expect(err.code).toBe('GATE_FAILED');
    expect(err.message).toMatch(
      new RegExp(
        ` - verifyDigests: expected every file has its locked sha256, got model "demo-classifier" version ${r.ids[0]}: artifact file "weights.bin" from \\S+weights\\.bin: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}`,
      ),
    );
  });

  it('a gates config with an unknown field or a bad version is refused, naming each field', async () => {
    const r = await repo([0.95]);
    const gates = testGates() as unknown as Record<string, unknown>;
    gates.gatesVersion = 2;
    (gates.environments as Record<string, { gates: Record<string, unknown> }>).dev!.gates.minAccuracy = 0.9;
    await writeFile(r.gatesPath, JSON.stringify(gates));
    const { err } = await refused(r, {});
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain(`${r.gatesPath} is invalid:`);
    expect(err.message).toContain('/gatesVersion: must be equal to constant');
    expect(err.message).toContain('/environments/dev/gates: unknown field "minAccuracy"');
  });

  it('an environment the gates config does not name is refused', async () => {
    const r = await repo([0.95]);
    const gates = testGates();
    delete gates.environments.staging;
    await writeFile(r.gatesPath, JSON.stringify(gates));
    const { err } = await refused(r, { env: 'staging' });
    expect(err.message).toContain(
      `${r.gatesPath} has no rule for environment "staging" (environments: dev, prod)`,
    );
  });
});

describe('promote: the lock and the pin file move together', () => {
  it('a lock file held by another writer: CONFLICT, neither file written', async () => {
    const r = await repo([0.95]);
    await writeFile(`${r.lockPath}.lock`, JSON.stringify({ pid: 4242, host: 'ci', at: 'now' }));
    const { err } = await refused(r, {}, { applyDeps: { lockOptions: { waitMs: 0 } } });
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain('is being written by another process');
    await rm(`${r.lockPath}.lock`);
  });

  it('the lock changed on disk after the pin file was written: the old pin file is put back', async () => {
    const r = await repo([0.95, 0.96], [['dev', 1]]);
    const entry = (await readLock(r.lockPath)).models[MODEL]!.versions[r.ids[0]!]!;
    await writePin(join(r.environmentsDir, 'dev'), { model: MODEL, version: r.ids[0]!, entry });
    const pinBefore = await pinText(r, 'dev');
    // Something outside the lock protocol (an editor, a git checkout) rewrites the lock meanwhile.
    const edited = JSON.stringify(JSON.parse(await readFile(r.lockPath, 'utf8')), null, 4);
    let pinWasWritten = false;
    const { p } = run(
      r,
      {},
      {
        applyDeps: {
          writePin: async (dir, input) => {
            const path = await writePin(dir, input);
            pinWasWritten = (await pinText(r, 'dev')) !== pinBefore;
            await writeFile(r.lockPath, edited);
            return path;
          },
        },
      },
    );
    await expect(p).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(pinWasWritten).toBe(true);
    expect(await pinText(r, 'dev')).toBe(pinBefore);
    expect(await readFile(r.lockPath, 'utf8')).toBe(edited);
  });

  it('a pin file that cannot be written: the lock is not written', async () => {
    const r = await repo([0.95]);
    const { err } = await refused(
      r,
      {},
      {
        applyDeps: {
          writePin: async () => {
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          },
        },
      },
    );
    expect(err.message).toBe('ENOSPC: no space left on device');
  });

  it('a render that fails after the pin file was written: the pin file is removed again, the lock untouched', async () => {
    const r = await repo([0.95]);
    const { err } = await refused(
      r,
      {},
      {
        render: async (lock, env) => {
          expect(lock.models[MODEL]?.pins[env]).toBe(r.ids[0]);
          expect(await pinText(r, env)).toContain(`ml.gitops/model-version: ${r.ids[0]}`);
          throw new ProjectError('INVALID', 'render found 1 problem(s)');
        },
      },
    );
    expect(err.message).toBe('render found 1 problem(s)');
  });
});

describe('promote: the serving image travels with the model pin', () => {
  const built = 'ghcr.io/acme/model-server@sha256:' + 'b'.repeat(64);

  it('dev takes the image image.yml built; staging and prod carry the image the environment before them ran', async () => {
    const r = await repo([0.95, 0.96]);
    expect(await run(r, { image: built }).p).toMatchObject({ env: 'dev', image: built, changed: true });
    expect(await pinText(r, 'dev')).toContain(`image: ${built}`);
    expect(await run(r, { env: 'staging' }).p).toMatchObject({ version: r.ids[1], image: built });
    const { p, out } = run(r, { env: 'prod' });
    expect(await p).toMatchObject({ version: r.ids[1], image: built });
    expect(await pinText(r, 'prod')).toContain(`image: ${built}`);
    const lock = await readLock(r.lockPath);
    expect(lock.models[MODEL]?.promotions.map((x) => [x.env, x.image])).toEqual([
      ['dev', built],
      ['staging', built],
      ['prod', built],
    ]);
    expect(out.join('')).toContain('pinned demo-classifier prod');
  });

  it('a new image for the version dev runs is a promotion of its own; the same again changes nothing', async () => {
    const r = await repo([0.95], [['dev', 1]]);
    const { p } = run(r, { image: built });
    expect(await p).toMatchObject({ version: r.ids[0], from: r.ids[0], image: built, changed: true });
    expect((await readLock(r.lockPath)).models[MODEL]?.promotions.at(-1)).toMatchObject({
      env: 'dev',
      from: r.ids[0],
      to: r.ids[0],
      image: built,
    });
    const before = await snapshot(r);
    expect(await run(r, { image: built }).p).toMatchObject({ changed: false });
    expect(await snapshot(r)).toEqual(before);
  });

  it('staging refuses an image without a digest (or none) from dev, naming what to do; nothing changes', async () => {
    const none = await repo([0.95], [['dev', 1, null]]);
    const { err } = await refused(none, { env: 'staging' });
    expect(err.code).toBe('INVALID');
    expect(err.message).toBe(
      'staging runs only images by digest, and dev has no image recorded: nothing was changed\n  → promote dev with --image <registry>/model-server@sha256:<hex> (promote.yml passes the image image.yml built and attested), then promote from there',
    );
    const tagged = await repo([0.95], [['dev', 1, 'ghcr.io/acme/model-server:main']]);
    expect((await refused(tagged, { env: 'staging' })).err.message).toContain(
      'staging runs only images by digest, and dev runs ghcr.io/acme/model-server:main, a tag without a digest',
    );
    // dev itself may run a tag (a local or demo deployment).
    expect(await run(tagged, { image: 'ghcr.io/acme/model-server:pr-7' }).p).toMatchObject({ changed: true });
  });

  it('refuses an --image that is not an image reference', async () => {
    const r = await repo([0.95]);
    const { err } = await refused(r, { image: 'model server!' });
    expect(err.code).toBe('USAGE');
    expect(err.message).toContain('--image model server! is not an image reference');
  });
});

describe('rollback', () => {
  it('restores the image the previous state ran, not the newest one', async () => {
    const r = await repo(
      [0.95, 0.96],
      [
        ['prod', 1, testImage(1)],
        ['prod', 2, testImage(2)],
      ],
    );
    expect(await run(r, { mode: 'rollback', env: 'prod' }).p).toMatchObject({
      version: r.ids[0],
      image: testImage(1),
    });
    expect(await pinText(r, 'prod')).toContain(`image: ${testImage(1)}`);
  });

  it('pins the version the environment ran before, checking its digests only', async () => {
    const r = await repo(
      [0.95, 0.5],
      [
        ['prod', 1],
        ['prod', 2],
      ],
    );
    const { p, out } = run(r, { mode: 'rollback', env: 'prod' });
    expect(await p).toMatchObject({ version: r.ids[0], from: r.ids[1], changed: true });
    expect((await readLock(r.lockPath)).models[MODEL]?.pins.prod).toBe(r.ids[0]);
    expect(out.join('')).toMatch(/^verifyDigests .* pass$/m);
    expect(out.join('')).not.toContain('minMetric');
    expect(await pinText(r, 'prod')).toContain(`ml.gitops/model-version: ${r.ids[0]}`);
  });

  it('with no earlier pin, says there is nothing to roll back to', async () => {
    const r = await repo([0.95], [['prod', 1]]);
    const { err } = await refused(r, { mode: 'rollback', env: 'prod' });
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(
      `prod has no previous version of model "demo-classifier" to roll back to (pinned now: ${r.ids[0]})`,
    );
  });

  it('refuses to roll back to a version whose artifact no longer verifies', async () => {
    const r = await repo(
      [0.95, 0.96],
      [
        ['prod', 1],
        ['prod', 2],
      ],
    );
    await rm(join(r.root, 'artifacts', 'v1', 'model.json'));
    const { err } = await refused(r, { mode: 'rollback', env: 'prod' });
    expect(err.code).toBe('GATE_FAILED');
    expect(err.message).toContain('model.json');
  });
});

describe('bad input', () => {
  it('a lock edited by hand into an invalid state is refused, naming the field, and nothing changes', async () => {
    const r = await repo([0.95]);
    const lock = JSON.parse(await readFile(r.lockPath, 'utf8'));
    lock.models[MODEL] = { pins: { dev: 'vaaaaaaaaaaaa' }, promotions: [] };
    await writeFile(r.lockPath, JSON.stringify(lock, null, 2));
    const { err } = await refused(r, {});
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain(r.lockPath);
    expect(err.message).toContain('/models/demo-classifier/pins/dev');
  });

  it('a lock that is not JSON names the line and column', async () => {
    const r = await repo([0.95]);
    await writeFile(r.lockPath, '{\n  "lockfileVersion": 2,\n  "models": {,}\n}\n');
    const { err } = await refused(r, {});
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain(`${r.lockPath}:3:`);
  });

  it('a pin file the file system refuses to write (for root too): the error is reported, nothing changes', async () => {
    const r = await repo([0.95]);
    // File modes do not stop root; a folder where the kernel creates no file does: sysfs
    // refuses new files to every user (EACCES; EROFS where /sys is mounted read-only).
    const dev = join(r.environmentsDir, 'dev');
    await rm(dev, { recursive: true });
    await symlink('/sys/kernel', dev);
    const { err } = await refused(r, {});
    expect(err.code).toBe('INVALID');
    expect(err.message).toMatch(
      new RegExp(
        `^cannot write ${dev}/model-pin\\.yaml \\((EACCES|EROFS)\\)\n  → check that the environment folder`,
      ),
    );
    expect(['EACCES', 'EROFS']).toContain((err.cause as NodeJS.ErrnoException).code);
    expect((await readLock(r.lockPath)).models[MODEL]?.pins.dev).toBeUndefined();
  });
});
