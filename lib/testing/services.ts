/**
 * Test-only helpers for external services (MLflow, Prometheus, Chromium,
 * kubectl, promtool...). Outside CI a missing tool makes the suite skip with a
 * message; in CI (`CI=true`) a missing tool is a failure, never a skip.
 */
import { existsSync } from 'node:fs';
import { which } from 'zx';

export const inCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

/** Absolute path of an executable on PATH (or at an absolute path), or undefined. */
export function findExecutable(name: string): string | undefined {
  if (name.startsWith('/')) return existsSync(name) ? name : undefined;
  return which.sync(name, { nothrow: true }) ?? undefined;
}

/**
 * Resolve a required tool: its path, or undefined outside CI (caller skips),
 * or throw in CI so the run fails with what to install.
 */
export function requireTool(name: string, howToInstall: string): string | undefined {
  const found = findExecutable(name);
  if (found) return found;
  const msg = `${name} not found: ${howToInstall}`;
  if (inCI()) throw new Error(`CI=true and ${msg}`);
  console.warn(`skipping: ${msg}`);
  return undefined;
}
