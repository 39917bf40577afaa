import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { distance } from 'fastest-levenshtein';
import { exitCodeOf, isProjectError, ProjectError } from './errors.ts';
import { envSecrets, redactText } from './redact.ts';

/** What a script takes from its process, passed in so that tests can replace each part. */
export interface ScriptDeps {
  env: Record<string, string | undefined>;
  cwd: string;
  /** Writes text as it is (the script adds the newlines). */
  print: (text: string) => void;
  now: () => Date;
  fetch?: typeof fetch;
}

/** A script's deps: what a test passed, the process's own for the rest (the edge: only scripts call it). */
export function scriptDeps(deps: Partial<ScriptDeps> = {}): ScriptDeps {
  return {
    env: process.env,
    cwd: process.cwd(),
    print: (t) => process.stdout.write(t),
    now: () => new Date(),
    ...deps,
  };
}

/** True when the module at `importMetaUrl` is the process entry point (zx's isMain guard). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

type ParseOption = NonNullable<ParseArgsConfig['options']>[string];

/** One flag: node's parseArgs option, with the help the usage text is generated from. */
export type FlagDef = ParseOption & {
  /** What the flag is for; its default is added from `default`. Lines after the first are indented. */
  help: string;
  /** The value's placeholder in the help (default `<name>` for a string flag). */
  value?: string;
};

type FlagOptions = Record<string, FlagDef>;

/** A USAGE error (exit 2) whose message ends with the command's usage. */
export function usageError(message: string, usage: string): ProjectError {
  return new ProjectError('USAGE', `${message}\n\n${usage}`);
}

/**
 * A flag's allowed values: a list, or a function of the parsed flags and the
 * command's working folder, read after parsing (e.g. the environments, the
 * folders of environments/ under a `--root`: gitops environmentChoices).
 */
export type Choices = readonly string[] | ChoiceReader;

/** Allowed values read at parse time, and where they come from (said in the error). */
export type ChoiceReader = (
  values: Record<string, unknown>,
  cwd: string,
) => { values: readonly string[]; where: string };

/**
 * What a command accepts, and its help, generated from this (helpText): how
 * it is run, what it does, its subcommands and arguments, its flags with
 * their help (`--help`/`-h` is added), notes, and what exit codes 0 and 1 mean.
 */
export interface CommandSpec<T extends FlagOptions> {
  /** How a user runs it, up to its arguments: `npm run render --`. */
  run: string;
  /** What it does: a paragraph under the usage line. */
  summary: string;
  /** The arguments in the usage line: `<image folder>`, `<command>`. */
  args?: string;
  /** Subcommands: name (with its own arguments and flags) → what it does. */
  commands?: Record<string, string>;
  /** After the flags: environment variables, outputs, examples. */
  notes?: string;
  /** What exit codes 0 and 1 mean for this command (2 is always bad usage). */
  exit?: { 0?: string; 1?: string };
  options: T;
  /** Flags parsed but left out of the help: a sibling command's, which this one refuses by name. */
  hidden?: readonly (keyof T & string)[];
  /** Exactly n positional arguments, or [min, max] (default 0). */
  positionals?: number | readonly [min: number, max: number];
  /** Flags that must be given. */
  required?: readonly (keyof T & string)[];
  /** Flags whose values must be one of a set: anything else is USAGE with a did-you-mean. */
  choices?: { [K in keyof T & string]?: Choices };
}

/**
 * ` (did you mean "prod"?)` for the candidate nearest to `value` by edit
 * distance (fastest-levenshtein), when one is near enough to be a typo or
 * `value` is its prefix; '' otherwise. `show` formats the candidate (`--env`).
 */
export function didYouMean(
  value: string,
  candidates: readonly string[],
  show: (candidate: string) => string = (c) => `"${c}"`,
): string {
  const v = value.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.toLowerCase().startsWith(v) && v.length >= 2 ? 0 : distance(v, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  const near = v.length <= 2 ? 1 : Math.max(2, Math.ceil(v.length * 0.4));
  return best !== undefined && bestDistance <= near ? ` (did you mean ${show(best)}?)` : '';
}

/** USAGE unless each value of flag `name` is one of `choices` (the allowed values and where they come from). */
export function checkChoice(
  name: string,
  given: string | readonly string[] | undefined,
  allowed: { values: readonly string[]; where?: string },
  usage: string,
): void {
  for (const value of typeof given === 'string' ? [given] : (given ?? [])) {
    if (allowed.values.includes(value)) continue;
    const from = allowed.where ? ` (${allowed.where})` : '';
    const problem = allowed.values.length
      ? `is not one of ${allowed.values.join(', ')}${from}${didYouMean(value, allowed.values)}`
      : `: there is none to choose from${from}`;
    throw usageError(`--${name} "${value}"${problem.startsWith(':') ? '' : ' '}${problem}`, usage);
  }
}

const HELP = { help: { type: 'boolean', short: 'h', default: false, help: 'print this help' } } as const;

/** Flags that mean the same in every command that takes them: one name, one meaning, one help. */
export const SHARED_FLAGS = {
  kubeconfig: {
    type: 'string',
    value: '<file>',
    help: 'the kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)',
  },
  context: { type: 'string', value: '<name>', help: 'the kubeconfig context' },
  lock: { type: 'string', default: 'models.lock.json', value: '<file>', help: 'the lock file' },
  model: { type: 'string', value: '<name>', help: "the model in the lock (default: the lock's only model)" },
} as const;

const EXIT_0 = 'done';
const EXIT_1 = 'failed: the message says what and what to do';

/** A flag's left column: `--name <value>`, `-s, --name`. */
function flagColumn(name: string, def: FlagDef): string {
  const short = def.short ? `-${def.short}, ` : '';
  const value = def.type === 'string' ? ` ${def.value ?? `<${name}>`}` : '';
  return `${short}--${name}${value}${def.multiple ? '...' : ''}`;
}

/** A flag's help with what it defaults to and whether it repeats. */
function flagHelp(def: FlagDef): string {
  const extra = [
    def.multiple ? 'repeatable' : '',
    def.default !== undefined && def.default !== false && !(Array.isArray(def.default) && !def.default.length)
      ? `default: ${def.default}`
      : '',
  ].filter(Boolean);
  return extra.length ? `${def.help} (${extra.join('; ')})` : def.help;
}

/** Two columns, the second aligned (at most 30 wide on the left), continuation lines under it. */
function twoColumns(rows: [string, string][]): string {
  const width = Math.min(30, Math.max(...rows.map(([l]) => l.length)));
  return rows
    .map(([left, right]) => {
      const [first = '', ...rest] = right.split('\n');
      const head =
        left.length > width
          ? `  ${left}\n  ${' '.repeat(width)}  ${first}`
          : `  ${left.padEnd(width)}  ${first}`;
      return [head, ...rest.map((r) => `  ${' '.repeat(width)}  ${r.trim()}`)].join('\n').trimEnd();
    })
    .join('\n');
}

/** The help of a command, generated from its spec: one style for every command (docs/cli.md). */
export function helpText<T extends FlagOptions>(spec: CommandSpec<T>): string {
  const required = (spec.required ?? []).map((n) => flagColumn(n, spec.options[n]!));
  const usage = ['usage:', spec.run, spec.args, ...required, '[flags]'].filter(Boolean).join(' ');
  const shown = Object.entries({ ...spec.options, ...HELP } as FlagOptions).filter(
    ([n]) => !spec.hidden?.includes(n),
  );
  const flags = shown.map(([n, def]) => [flagColumn(n, def), flagHelp(def)] as [string, string]);
  const parts = [usage, spec.summary.trim()];
  if (spec.commands) parts.push(`commands:\n${twoColumns(Object.entries(spec.commands))}`);
  parts.push(`flags:\n${twoColumns(flags)}`);
  if (spec.notes) parts.push(spec.notes.trim());
  parts.push(
    `exit codes: 0 ${spec.exit?.[0] ?? EXIT_0}; 1 ${spec.exit?.[1] ?? EXIT_1}; 2 bad usage, nothing done (docs/cli.md)`,
  );
  return parts.join('\n\n');
}

const helpCache = new WeakMap<object, string>();
/** {@link helpText}, once per spec. */
export function usageOf<T extends FlagOptions>(spec: CommandSpec<T>): string {
  const cached = helpCache.get(spec);
  if (cached !== undefined) return cached;
  const text = helpText(spec);
  helpCache.set(spec, text);
  return text;
}

/**
 * The one prelude of every script: parse `argv` strictly; `--help` prints the
 * usage and returns undefined (the script returns 0); an unknown flag, a
 * missing value, a wrong number of arguments or a missing required flag is a
 * USAGE error naming it, followed by the usage (exit 2).
 */
export function parseCommand<T extends FlagOptions>(
  argv: string[],
  spec: CommandSpec<T>,
  print: (text: string) => void = console.log,
  cwd: string = process.cwd(),
) {
  const usage = usageOf(spec);
  const parsed = parseFlags(argv, { ...spec.options, ...HELP } as T & typeof HELP, usage);
  if ((parsed.values as { help?: boolean }).help) {
    print(usage);
    return undefined;
  }
  delete (parsed.values as { help?: boolean }).help;
  const [min, max] =
    typeof spec.positionals === 'number'
      ? [spec.positionals, spec.positionals]
      : (spec.positionals ?? [0, 0]);
  const n = parsed.positionals.length;
  if (n > max) {
    throw usageError(
      max === 0 ? `unexpected argument "${parsed.positionals[max]}"` : `too many arguments (at most ${max})`,
      usage,
    );
  }
  if (n < min) throw usageError(`${min - n} argument(s) missing`, usage);
  for (const name of spec.required ?? []) {
    if ((parsed.values as Record<string, unknown>)[name] === undefined) {
      throw usageError(`--${name} is required`, usage);
    }
  }
  const values = parsed.values as Record<string, string | string[] | undefined>;
  for (const [name, choices] of Object.entries(spec.choices ?? {}) as [string, Choices][]) {
    // A flag's own default is the command's choice, not the user's: only what was given is checked.
    if (values[name] === undefined || values[name] === (spec.options[name] as { default?: unknown }).default)
      continue;
    const allowed = typeof choices === 'function' ? choices(values, cwd) : { values: choices };
    checkChoice(name, values[name], allowed, usage);
  }
  return parsed;
}

/** What {@link parseCommand} returns for a spec, once --help was not asked. */
export type ParsedCommand<T extends FlagOptions> = NonNullable<ReturnType<typeof parseCommand<T>>>;

/**
 * A script's `main(argv, deps)`: the one prelude (parse `argv` with `spec`;
 * `--help` prints the usage to `deps.print` and returns 0), then `run`.
 * Scripts export it for tests and call it under {@link isMain}.
 */
export function command<T extends FlagOptions, D extends { print?: (text: string) => void }>(
  spec: CommandSpec<T>,
  run: (cli: ParsedCommand<T>, deps: D) => Promise<number>,
): (argv: string[], deps?: D) => Promise<number> {
  return async (argv, deps = {} as D) => {
    const cli = parseCommand(argv, spec, deps.print, (deps as { cwd?: string }).cwd);
    return cli ? run(cli, deps) : 0;
  };
}

/** Run `main` with the process's arguments when the module at `importMetaUrl` is the entry point. */
export async function runIfMain(
  importMetaUrl: string,
  main: (argv: string[]) => Promise<number | undefined>,
) {
  if (isMain(importMetaUrl)) await runMain(() => main(process.argv.slice(2)));
}

/**
 * A duration flag (`--soak 10m`) in milliseconds: `0`, a whole number of
 * seconds (`90`), or units as Prometheus writes them, largest first
 * (`1h30m`, `10m`, `45s`, `500ms`): the one duration format of every
 * command's flags. USAGE naming the flag otherwise (and for 0 when `positive`).
 */
export function parseDurationFlag(flag: string, value: string, options: { positive?: boolean } = {}): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const text = value.trim();
  // A bare number is seconds: read as `<n>s`.
  const parts = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(
    /^\d+$/.test(text) ? `${text}s` : text,
  );
  if (!parts || text === '') {
    throw new ProjectError(
      'USAGE',
      `--${flag} ${JSON.stringify(value)} is not a duration: use e.g. 10m, 90s, 1h30m or a number of seconds`,
      { subject: `--${flag}` },
    );
  }
  const [, h, m, s, ms] = parts;
  const total =
    Number(h ?? 0) * units.h! +
    Number(m ?? 0) * units.m! +
    Number(s ?? 0) * units.s! +
    Number(ms ?? 0) * units.ms!;
  if (options.positive && total <= 0) {
    throw new ProjectError('USAGE', `--${flag} must be over 0, got ${JSON.stringify(value)}`, {
      subject: `--${flag}`,
    });
  }
  return total;
}

/** A port flag's number (0: any free port); USAGE naming the flag for anything but 0-65535. */
export function parsePortFlag(value: string, flag = 'port'): number {
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ProjectError('USAGE', `--${flag} "${value}" is not a port number (0-65535)`, {
      subject: `--${flag}`,
    });
  }
  return port;
}

/** Parse flags strictly; an unknown flag or missing value is a USAGE error (exit 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new ProjectError('USAGE', `${flagProblem(e as NodeJS.ErrnoException, options)}\n\n${usage}`, {
      cause: e,
    });
  }
}

/** Node's parser error in our words: an unknown flag with the nearest known one. */
function flagProblem(e: NodeJS.ErrnoException, options: object): string {
  const flag = /^Unknown option '(-{1,2}[^']*)'/.exec(e.message)?.[1];
  if (e.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || !flag) return e.message;
  if (!flag.startsWith('--')) return `unknown flag ${flag}`;
  const name = flag.slice(2).split('=')[0]!;
  return `unknown flag --${name}${didYouMean(name, Object.keys(options), (c) => `--${c}`)}`;
}

type Write = NodeJS.WriteStream['write'];
const redacting = new WeakSet<NodeJS.WriteStream>();

/**
 * The last line of defence of platform/redact.ts for a script's own output:
 * every chunk written to `streams` loses URL credentials and the secrets
 * `env` holds (envSecrets). The code below already prints clean URLs
 * (MlflowConfig.trackingUri, safeUrl); this catches what it missed, e.g. a
 * library's error text that quotes a URL. Output of child processes with
 * inherited stdio does not pass through here (platform/shell.ts pipes its own).
 */
export function redactOutput(
  env: Record<string, string | undefined>,
  streams: NodeJS.WriteStream[] = [process.stdout, process.stderr],
): void {
  const secrets = envSecrets(env);
  for (const stream of streams) {
    if (redacting.has(stream)) continue;
    redacting.add(stream);
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string') return write(redactText(chunk, secrets), ...rest);
      if (chunk instanceof Uint8Array) {
        const text = Buffer.from(chunk).toString('utf8');
        const clean = redactText(text, secrets);
        return write(clean === text ? chunk : clean, ...rest);
      }
      return write(chunk, ...rest);
    }) as Write;
  }
}

/**
 * Run a script's main function: print a clear message on failure and set
 * process.exitCode (never process.exit) so pending output is flushed. All
 * its output, the error message included, is redacted ({@link redactOutput}).
 * In GitHub Actions (loaded only there: platform/github/actions.ts) every
 * secret of the environment is masked in the runner's log first, and a
 * failure is an `::error` annotation, with file and line where it names a file.
 */
export async function runMain(main: () => Promise<number | undefined>): Promise<void> {
  const actions = process.env.GITHUB_ACTIONS === 'true' ? await import('./github/actions.ts') : undefined;
  // Before redactOutput: an ::add-mask:: line must carry the secret itself, not its redaction.
  actions?.maskSecrets(process.env);
  redactOutput(process.env);
  // In CI every shell-out is echoed to the log (platform/shell.ts); loaded only there.
  if (process.env.CI === 'true' || process.env.RUNNER_DEBUG === '1') {
    (await import('./shell.ts')).setShellVerbose(true);
  }
  try {
    const code = await main();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    const message = redactText(
      isProjectError(e) ? e.message : ((e as Error)?.stack ?? String(e)),
      envSecrets(process.env),
    );
    if (actions) actions.annotateError(e, message, process.env, process.cwd());
    else console.error(`error: ${message}`);
    process.exitCode = exitCodeOf(e);
  }
}
