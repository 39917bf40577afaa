/**
 * The checkout script of the training Job's init container
 * (pipelines/training/kubernetes/manifest.ts CHECKOUT_SCRIPT), run by a real `sh` with a
 * real git against a bare repository: it fetches exactly TRAINING_GIT_REF,
 * refuses a package-lock.json the trainer image was not built with, and links
 * the image's node_modules into the checkout.
 */
import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runSync } from '../../../platform/shell.ts';
import { CHECKOUT_SCRIPT } from './manifest.ts';

let dir: string;
let origin: string;
let first: string;
let second: string;
const env = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' });
const git = (cwd: string, ...args: string[]) =>
  runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    env: env(),
  }).stdout.trim();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checkout-'));
  origin = join(dir, 'origin.git');
  const work = join(dir, 'work');
  git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
  git(dir, 'init', '-q', '-b', 'main', work);
  await writeFile(join(work, 'package-lock.json'), '{"lockfileVersion":3}\n');
  await writeFile(join(work, 'README.md'), 'first\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'first');
  first = git(work, 'rev-parse', 'HEAD');
  await writeFile(join(work, 'package-lock.json'), '{"lockfileVersion":3,"packages":{"x":{}}}\n');
  git(work, 'commit', '-q', '-am', 'a new dependency');
  second = git(work, 'rev-parse', 'HEAD');
  git(work, 'push', '-q', origin, 'main');
  // The trainer image's /app: the lock it was built with, and its node_modules.
  await mkdir(join(dir, 'app', 'node_modules'), { recursive: true });
  await writeFile(join(dir, 'app', 'package-lock.json'), '{"lockfileVersion":3}\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const checkout = (ref: string, src: string) =>
  runSync('sh', ['-c', CHECKOUT_SCRIPT], {
    env: {
      ...env(),
      TRAINING_GIT_REPOSITORY: `file://${origin}`,
      TRAINING_GIT_REF: ref,
      TRAINING_SRC_DIR: join(dir, src),
      TRAINING_APP_DIR: join(dir, 'app'),
    },
    nothrow: true,
  });

it('checks out exactly the commit asked for (not the branch tip) and links the image node_modules', async () => {
  const r = checkout(first, 'src-1');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`checked out ${first} (${first} of file://${origin})`);
  expect(git(join(dir, 'src-1'), 'rev-parse', 'HEAD')).toBe(first);
  expect(await readlink(join(dir, 'src-1', 'node_modules'))).toBe(join(dir, 'app', 'node_modules'));
});

it('refuses a revision whose package-lock.json is not the one the image was built with (exit 3)', () => {
  const r = checkout(second, 'src-2');
  expect(r.code).toBe(3);
  expect(r.stderr).toContain(
    `package-lock.json at ${second} is not the one the trainer image was built with: build the trainer image from it`,
  );
});

it('fails naming the ref when the repository does not have it', () => {
  const r = checkout('f'.repeat(40), 'src-3');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/f{40}/);
});
