/**
 * Every shell-out of the project (git, kustomize, kubectl, promtool, curl,
 * go) goes through zx's `$`: zx quotes each argument (no command line is
 * built by hand), `nothrow` gives the exit code to the caller, a timeout
 * kills a hung tool, and with verbose logging on (CI, see {@link setShellVerbose})
 * each command is echoed to the log. A failure is a ProjectError that names
 * the command, where it ran and the end of its stderr.
 * @see https://google.github.io/zx/api
 */
import { $ } from 'zx';
import { ProjectError } from './errors.ts';
import { redactText } from './redact.ts';

export interface RunOptions {
  cwd?: string;
  /** The whole environment of the command (default: this process's). */
  env?: Record<string, string | undefined>;
  /** Kill the command after this many ms (default 10 minutes). */
  timeoutMs?: number;
  /** Text written to the command's stdin. */
  input?: string;
  /** Resolve with a non-zero exit instead of throwing. */
  nothrow?: boolean;
  /** Secrets to keep out of error messages (e.g. a token in an argument). */
  secrets?: readonly string[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

let verbose = false;

/** Echo every command (and its output) to stderr: scripts turn it on in CI (platform/cli.ts runMain). */
export function setShellVerbose(on: boolean): void {
  verbose = on;
}

/** The last lines of a tool's stderr (or stdout), for an error message. */
export function tailOf(text: string, lines = 3): string {
  return text.trim().split('\n').slice(-lines).join(' ');
}

/**
 * Run `command` with `args` (each quoted by zx). Resolves with stdout/stderr
 * and the exit code; throws ProjectError: NOT_FOUND when the command is not
 * installed, UNAVAILABLE when it timed out, INVALID when it exited non-zero
 * (unless `nothrow`).
 */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const where = options.cwd ? ` in ${options.cwd}` : '';
  const shown = `${command} ${args.join(' ')}`.trim();
  const sh = $({
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: (options.env ?? process.env) as NodeJS.ProcessEnv,
    quiet: !verbose,
    verbose,
    nothrow: true,
    timeout: timeoutMs,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  const out = await sh`${command} ${args}`;
  const result: RunResult = { code: out.exitCode ?? -1, stdout: out.stdout, stderr: out.stderr };
  const redact = (t: string) => redactText(t, options.secrets);
  if (out.exitCode === null) {
    throw new ProjectError('UNAVAILABLE', `${redact(shown)} did not finish within ${timeoutMs} ms${where}`, {
      subject: command,
      details: { args, signal: out.signal },
      hint: 'retry; if it hangs again, run it by hand to see why',
    });
  }
  // bash answers 127 for a command it cannot find.
  if (out.exitCode === 127 && /command not found|No such file/.test(out.stderr)) {
    throw new ProjectError('NOT_FOUND', `${command} is not installed (not on PATH)`, {
      subject: command,
      hint: 'run bash scripts/setup.sh, which installs every tool the project uses',
    });
  }
  if (result.code !== 0 && !options.nothrow) {
    throw new ProjectError(
      'INVALID',
      `${redact(shown)} failed${where}: ${redact(tailOf(result.stderr) || tailOf(result.stdout) || `exit ${result.code}`)}`,
      { subject: options.cwd ?? command, details: { args, ...result, stderr: redact(result.stderr) } },
    );
  }
  return result;
}

/**
 * The synchronous form of {@link run}, for the few callers that cannot wait
 * (test set-up helpers, a git lookup in a constructor). Same quoting, same errors.
 */
export function runSync(command: string, args: readonly string[], options: RunOptions = {}): RunResult {
  const out = $.sync({
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: (options.env ?? process.env) as NodeJS.ProcessEnv,
    quiet: !verbose,
    verbose,
    nothrow: true,
    timeout: options.timeoutMs ?? 600_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
  })`${command} ${args}`;
  const result: RunResult = { code: out.exitCode ?? -1, stdout: out.stdout, stderr: out.stderr };
  if (result.code !== 0 && !options.nothrow) {
    const where = options.cwd ? ` in ${options.cwd}` : '';
    throw new ProjectError(
      'INVALID',
      redactText(
        `${command} ${args.join(' ')} failed${where}: ${tailOf(result.stderr) || tailOf(result.stdout) || `exit ${result.code}`}`,
        options.secrets,
      ),
      { subject: options.cwd ?? command, details: { args, ...result } },
    );
  }
  return result;
}
