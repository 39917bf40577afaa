/**
 * The server's log: pino (https://getpino.io), JSON lines that log collectors
 * parse (`time` ISO 8601, `level` as a name, `msg`, then the fields), with
 * per-request child loggers, and readable colour output when stdout is a
 * terminal (pino-pretty). Every line passes the one sanitiser
 * (platform/redact.ts): an artifact URI may carry credentials.
 */
import pino from 'pino';
import pretty from 'pino-pretty';
import { redactText } from '../platform/redact.ts';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line also carries `fields` (e.g. a request's `request_id`). */
  child(fields: Record<string, unknown>): Logger;
}

function wrap(p: pino.Logger): Logger {
  return {
    info: (msg, fields = {}) => p.info(fields, msg),
    warn: (msg, fields = {}) => p.warn(fields, msg),
    error: (msg, fields = {}) => p.error(fields, msg),
    child: (fields) => wrap(p.child(fields)),
  };
}

const OPTIONS: pino.LoggerOptions = {
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
  hooks: { streamWrite: (line) => redactText(line) },
};

/**
 * JSON lines to `write` (default: stdout; a terminal gets pino-pretty's
 * output instead), synchronously, so nothing is lost when the process exits.
 */
export function createLogger(write?: (line: string) => void): Logger {
  if (write) return wrap(pino(OPTIONS, { write }));
  if (process.stdout.isTTY)
    return wrap(pino(OPTIONS, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l' })));
  return wrap(pino(OPTIONS, pino.destination({ dest: 1, sync: true })));
}
