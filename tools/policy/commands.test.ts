/**
 * One list of commands (issue 25.5): docs/cli.md names every npm script a
 * user or a workflow runs; the ones the workflows run as their own steps are
 * named `ci:` and listed apart; every `npm run <name>` written in the docs,
 * the workflows and the code names a script that exists; no command writes
 * its usage by hand (platform/cli.ts helpText generates every one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runSync } from '../../platform/shell.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const scripts = Object.keys(
  (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts,
);
/** The development loop itself, not commands of the template. */
const TOOLING = ['jest', 'test', 'typecheck', 'lint'];

/** The `npm run [-s] <name>` of `text`. */
const runs = (text: string) =>
  [...text.matchAll(/\bnpm run (?:-s )?([a-z](?:[\w-]|:(?=\w))*)/g)].map((m) => m[1]!);

const cli = read('docs/cli.md');
const [users = '', ci = ''] = cli.split('## What CI runs');

describe('the commands', () => {
  it('docs/cli.md names every npm script, CI steps apart under their ci: names', () => {
    const named = new Set(
      [...cli.matchAll(/`(?:npm run (?:-s )?)?([a-z][\w:-]*)/g)]
        .map((m) => m[1]!)
        .filter((n) => scripts.includes(n)),
    );
    expect(scripts.filter((s) => !TOOLING.includes(s) && !named.has(s))).toEqual([]);
    const ciScripts = scripts.filter((s) => s.startsWith('ci:'));
    expect(ciScripts.length).toBeGreaterThan(0);
    expect([...new Set(runs(ci.split("Maintainers' tools")[0]!))].sort()).toEqual(ciScripts.sort());
    expect(runs(users).filter((n) => n.startsWith('ci:'))).toEqual([]);
  });

  it('every npm script a workflow runs is a ci: step or a command of the user table', () => {
    const userCommands = new Set(runs(users));
    const files = runSync('git', ['ls-files', '-z', '.github/workflows'], { cwd: ROOT })
      .stdout.split('\0')
      .filter((f) => f.endsWith('.yml'));
    const stray = files.flatMap((f) =>
      runs(read(f))
        .filter((n) => !n.startsWith('ci:') && !userCommands.has(n) && !TOOLING.includes(n))
        .map((n) => `${f}: npm run ${n}`),
    );
    expect(stray).toEqual([]);
  });

  it('every `npm run <name>` in the docs, the workflows and the code names a script that exists', () => {
    const files = runSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: ROOT,
    })
      .stdout.split('\0')
      .filter((f) => /\.(md|ya?ml|ts)$/.test(f) && !f.startsWith('bench/results/'));
    const missing = files.flatMap((f) =>
      runs(read(f))
        .filter((n) => !scripts.includes(n))
        .map((n) => `${f}: npm run ${n}`),
    );
    expect([...new Set(missing)]).toEqual([]);
  });
});

describe('help', () => {
  it('no command writes its usage text by hand: each parses with parseCommand or command, whose help is generated', () => {
    const files = runSync(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard', 'scripts', 'bench'],
      {
        cwd: ROOT,
      },
    )
      .stdout.split('\0')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const handWritten = files.filter((f) => /[`'"]usage: /.test(read(f)));
    expect(handWritten).toEqual([]);
    const byHand = files.filter((f) => /\bparse(Args|Flags)\(/.test(read(f)));
    expect(byHand).toEqual([]);
  });
});

describe('names', () => {
  it('a flag name has one kind in every command (a boolean --commit never takes a value elsewhere)', () => {
    const files = runSync(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard', 'scripts', 'bench', 'pipelines'],
      {
        cwd: ROOT,
      },
    )
      .stdout.split('\0')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const kinds = new Map<string, Set<string>>();
    for (const f of files) {
      for (const m of read(f).matchAll(/^\s+'?([a-z][\w-]*)'?: \{\s*type: '(string|boolean)'/gm)) {
        const [, name, type] = m as unknown as [string, string, string];
        kinds.set(name, (kinds.get(name) ?? new Set()).add(`${type} (${f})`));
      }
    }
    const mixed = [...kinds].filter(([, k]) => new Set([...k].map((t) => t.split(' ')[0])).size > 1);
    expect(mixed.map(([n, k]) => `--${n}: ${[...k].join(', ')}`)).toEqual([]);
    // The check reads the flag tables it should: the promotion's and the lock's.
    expect(kinds.get('commit')).toBeDefined();
    expect(kinds.get('git-commit')).toBeDefined();
  });
});
