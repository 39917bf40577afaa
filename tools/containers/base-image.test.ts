import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../platform/errors.ts';
import {
  bundledVersions,
  debianCustomizeScript,
  mmdebstrapArgs,
  nodeBaseOf,
  SLIM_EXCLUDES,
} from './base-image.ts';

const DOCKERFILE = join(import.meta.dirname, '..', '..', 'serving', 'Dockerfile');

describe('nodeBaseOf', () => {
  it('reads the one base of serving/Dockerfile', () => {
    const base = nodeBaseOf(readFileSync(DOCKERFILE, 'utf8'), DOCKERFILE);
    expect(base.ref).toMatch(/^node:24\.\d+\.\d+-bookworm-slim$/);
    expect(base.image).toBe(`docker.io/library/${base.ref}`);
    expect(base.suite).toBe('bookworm');
    expect(base.ref).toContain(base.nodeVersion);
  });

  it('takes a digest-pinned or fully named base, and stage names are not bases', () => {
    const text = [
      `FROM docker.io/library/node:24.1.2-trixie-slim@sha256:${'a'.repeat(64)} AS deps`,
      'RUN true',
      'FROM deps AS build',
      `FROM docker.io/library/node:24.1.2-trixie-slim@sha256:${'a'.repeat(64)} AS runtime`,
    ].join('\n');
    expect(nodeBaseOf(text, 'D')).toMatchObject({ nodeVersion: '24.1.2', suite: 'trixie' });
  });

  it('refuses two different bases and a base it cannot make, naming the file and line', () => {
    const two = 'FROM node:24.1.2-bookworm-slim AS a\nFROM node:24.1.3-bookworm-slim AS b\n';
    expect(() => nodeBaseOf(two, 'x/Dockerfile')).toThrow(
      'x/Dockerfile: expected one base image for every stage, found node:24.1.2-bookworm-slim, node:24.1.3-bookworm-slim',
    );
    const alpine = '# base\nFROM node:24.1.2-alpine AS a\n';
    const err = (() => {
      try {
        nodeBaseOf(alpine, 'x/Dockerfile');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).message).toBe(
      'x/Dockerfile line 2: base node:24.1.2-alpine is not node:<x.y.z>-<debian suite>-slim, the only base this machine can make',
    );
  });
});

describe('bundledVersions', () => {
  const changelog = [
    '<a id="24.3.0"></a>',
    '## Version 24.3.0',
    '* [`aa`] - **deps**: update corepack to 0.40.1 (bot)',
    '* [`bb`] - **deps**: update undici to 7.0.0 (bot)',
    '<a id="24.2.0"></a>',
    '* [`cc`] - **deps**: upgrade npm to 11.9.0 (npm team)',
    '* [`dd`] - **deps**: upgrade npm to 11.8.0 (npm team)',
    '* [`ee`] - **deps**: update corepack to 0.39.0 (bot)',
    '<a id="24.1.0"></a>',
  ].join('\n');

  it('takes the newest entry of the release or of an older one', () => {
    expect(bundledVersions(changelog, '24.3.0', 'CHANGELOG.md')).toEqual({
      npm: '11.9.0',
      corepack: '0.40.1',
    });
    expect(bundledVersions(changelog, '24.2.0', 'CHANGELOG.md')).toEqual({
      npm: '11.9.0',
      corepack: '0.39.0',
    });
  });

  it('fails naming the file when the release or an entry is missing', () => {
    expect(() => bundledVersions(changelog, '24.9.9', 'n/CHANGELOG.md')).toThrow(
      'n/CHANGELOG.md: no section for Node 24.9.9',
    );
    expect(() => bundledVersions(changelog, '24.1.0', 'n/CHANGELOG.md')).toThrow(
      'n/CHANGELOG.md: cannot tell which npm Node 24.1.0 bundles',
    );
  });
});

describe('the Debian recipe', () => {
  it('is minbase with the slim filter, the customize hook and the three suites', () => {
    const args = mmdebstrapArgs('bookworm', 'http://deb.example', '/h.sh', '/o.tar');
    expect(args.slice(0, 2)).toEqual(['--variant=minbase', '--format=tar']);
    for (const p of SLIM_EXCLUDES) expect(args).toContain(`--dpkgopt=path-exclude=${p}`);
    expect(args).toContain('--dpkgopt=path-include=/usr/share/doc/*/copyright');
    expect(args).toContain('--customize-hook=sh /h.sh "$1"');
    expect(args.slice(-5)).toEqual([
      'bookworm',
      '/o.tar',
      'deb http://deb.example/debian bookworm main',
      'deb http://deb.example/debian bookworm-updates main',
      'deb http://deb.example/debian-security bookworm-security main',
    ]);
  });

  it('keeps the slim filter in the image and writes the deb822 sources of the official image', () => {
    const hook = debianCustomizeScript('bookworm', 'http://deb.example');
    for (const p of SLIM_EXCLUDES) expect(hook).toContain(`echo 'path-exclude ${p}'`);
    expect(hook).toContain('URIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\n');
    expect(hook).toContain('Suites: bookworm-security');
    expect(hook).toContain('exit 101');
  });
});
