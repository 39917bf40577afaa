import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { exitCodeOf, isProjectError, ProjectError } from './errors.ts';

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

/** Parse flags strictly; an unknown flag or missing value is a USAGE error (exit 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new ProjectError('USAGE', `${(e as Error).message}\n\n${usage}`);
  }
}

/**
 * Run a script's main function: print a clear message on failure and set
 * process.exitCode (never process.exit) so pending output is flushed.
 */
export async function runMain(main: () => Promise<number | undefined>): Promise<void> {
  try {
    const code = await main();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    const message = isProjectError(e) ? e.message : ((e as Error)?.stack ?? String(e));
    console.error(`error: ${message}`);
    process.exitCode = exitCodeOf(e);
  }
}
