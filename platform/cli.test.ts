import { describe, expect, it } from '@jest/globals';
import { didYouMean, helpText, parseCommand, parseDurationFlag, parsePortFlag } from './cli.ts';

describe('parseDurationFlag', () => {
  it('reads seconds, and units as Prometheus writes them', () => {
    expect(parseDurationFlag('soak', '0')).toBe(0);
    expect(parseDurationFlag('soak', '90')).toBe(90_000);
    expect(parseDurationFlag('soak', '10m')).toBe(600_000);
    expect(parseDurationFlag('soak', '45s')).toBe(45_000);
    expect(parseDurationFlag('soak', '1h30m')).toBe(5_400_000);
    expect(parseDurationFlag('soak-every', '500ms')).toBe(500);
    expect(parseDurationFlag('soak', '2m30s')).toBe(150_000);
  });

  it('anything else is bad usage naming the flag', () => {
    for (const bad of ['', 'ten', '10 m', '-5', '1.5m', 'm', '30s10m']) {
      expect(() => parseDurationFlag('soak', bad)).toThrow(
        expect.objectContaining({
          code: 'USAGE',
          message: `--soak ${JSON.stringify(bad)} is not a duration: use e.g. 10m, 90s, 1h30m or a number of seconds`,
        }),
      );
    }
  });
});

describe('durations: one format for every flag', () => {
  it('a bare number is seconds, like 90s; positive refuses 0 naming the flag', () => {
    expect(parseDurationFlag('timeout', '300')).toBe(parseDurationFlag('timeout', '5m'));
    expect(() => parseDurationFlag('timeout', '0', { positive: true })).toThrow(
      expect.objectContaining({ code: 'USAGE', message: '--timeout must be over 0, got "0"' }),
    );
    expect(() => parseDurationFlag('timeout', '0s', { positive: true })).toThrow(
      expect.objectContaining({ code: 'USAGE', message: '--timeout must be over 0, got "0s"' }),
    );
    expect(parseDurationFlag('timeout', '1ms', { positive: true })).toBe(1);
  });
});

describe('didYouMean', () => {
  it('names the nearest candidate for a typo or a prefix, nothing for a far one', () => {
    const envs = ['dev', 'staging', 'prod'];
    expect(didYouMean('prdo', envs)).toBe(' (did you mean "prod"?)');
    expect(didYouMean('stagign', envs)).toBe(' (did you mean "staging"?)');
    expect(didYouMean('stag', envs)).toBe(' (did you mean "staging"?)');
    expect(didYouMean('PROD', envs)).toBe(' (did you mean "prod"?)');
    expect(didYouMean('qa', envs)).toBe('');
    expect(didYouMean('production-eu', envs)).toBe('');
    expect(didYouMean('x', [])).toBe('');
    expect(didYouMean('dry-rn', ['dry-run', 'json'], (c) => `--${c}`)).toBe(' (did you mean --dry-run?)');
  });
});

describe('parseCommand', () => {
  const spec = {
    run: 'npx tsx thing.ts',
    summary: 'Do the thing.',
    options: {
      env: { type: 'string', default: 'prod', help: 'the environment' },
      json: { type: 'boolean', default: false, help: 'print JSON' },
    },
    choices: {
      env: (_v: Record<string, unknown>, cwd: string) => ({
        values: ['dev', 'prod'],
        where: `envs of ${cwd}`,
      }),
    },
  } as const;

  it('an unknown flag is USAGE with the nearest known flag, then the usage', () => {
    expect(() => parseCommand(['--jsn'], spec, () => undefined)).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: `unknown flag --jsn (did you mean --json?)\n\n${helpText(spec)}`,
      }),
    );
    expect(() => parseCommand(['--zzzzzz'], spec, () => undefined)).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^unknown flag --zzzzzz\n\n/) }),
    );
    expect(() => parseCommand(['-q'], spec, () => undefined)).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^unknown flag -q\n\n/) }),
    );
  });

  it('a value outside the choices is USAGE naming them, where they come from and the nearest', () => {
    expect(() => parseCommand(['--env', 'prdo'], spec, () => undefined, '/repo')).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: `--env "prdo" is not one of dev, prod (envs of /repo) (did you mean "prod"?)\n\n${helpText(spec)}`,
      }),
    );
    expect(parseCommand(['--env', 'dev'], spec, () => undefined, '/repo')?.values.env).toBe('dev');
    // The default is the command's own choice: not checked.
    const noneThere = { ...spec, choices: { env: () => ({ values: [], where: 'nowhere' }) } };
    expect(parseCommand([], noneThere, () => undefined)?.values.env).toBe('prod');
    expect(() => parseCommand(['--env', 'dev'], noneThere, () => undefined)).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^--env "dev": there is none to choose from \(nowhere\)\n/),
      }),
    );
  });
});

describe('helpText: one style, generated from the flags', () => {
  it('usage line with the required flags, summary, subcommands, flags with defaults, notes, exit codes', () => {
    const text = helpText({
      run: 'npx tsx tool.ts',
      summary: 'Does a thing\nover two lines.',
      args: '<folder>',
      commands: { pack: 'pack a folder', fetch: 'fetch it back' },
      options: {
        env: { type: 'string', help: 'the environment' },
        out: { type: 'string', value: '<dir>', default: 'out', help: 'where it goes\nsecond line' },
        tag: { type: 'string', multiple: true, help: 'a tag' },
        force: { type: 'boolean', default: false, help: 'overwrite' },
      },
      required: ['env'],
      notes: 'Reads TOOL_TOKEN.',
      exit: { 1: 'it broke' },
    });
    expect(text).toBe(
      [
        'usage: npx tsx tool.ts <folder> --env <env> [flags]',
        '',
        'Does a thing\nover two lines.',
        '',
        'commands:',
        '  pack   pack a folder',
        '  fetch  fetch it back',
        '',
        'flags:',
        '  --env <env>     the environment',
        '  --out <dir>     where it goes',
        '                  second line (default: out)',
        '  --tag <tag>...  a tag (repeatable)',
        '  --force         overwrite',
        '  -h, --help      print this help',
        '',
        'Reads TOOL_TOKEN.',
        '',
        'exit codes: 0 done; 1 it broke; 2 bad usage, nothing done (docs/cli.md)',
      ].join('\n'),
    );
  });
});

describe('parsePortFlag', () => {
  it('0 to 65535; anything else is USAGE naming the flag', () => {
    expect(parsePortFlag('0')).toBe(0);
    expect(parsePortFlag('8080')).toBe(8080);
    expect(parsePortFlag('65535', 'metrics-port')).toBe(65535);
    for (const bad of ['', ' ', '80x', '-1', '65536', '1.5']) {
      expect(() => parsePortFlag(bad)).toThrow(
        expect.objectContaining({ code: 'USAGE', message: `--port "${bad}" is not a port number (0-65535)` }),
      );
    }
  });
});
