import { redactText } from '../platform/redact.ts';

/** A JSON-lines logger: one object per line, the shape log collectors parse. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Write JSON lines to `write` (default stdout), without URL credentials (platform/redact.ts: an artifact URI may carry them). */
export function createLogger(write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const log =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      write(`${redactText(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }))}\n`);
  return { info: log('info'), warn: log('warn'), error: log('error') };
}

/** A logger that keeps its lines in memory (tests). */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger((l) => {
    lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return Object.assign(logger, { lines });
}
