/** Test helper: a server logger (serving/logger.ts) that keeps its lines in memory, parsed. */
import { createLogger, type Logger } from '../../serving/logger.ts';

export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger((l) => {
    lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return Object.assign(logger, { lines });
}
