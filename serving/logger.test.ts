import { describe, expect, it } from '@jest/globals';
import { memoryLogger } from '../testing/serving/logger.ts';
import { createLogger } from './logger.ts';

describe('the server log (pino)', () => {
  it('writes one JSON object per line: ISO time, the level by name, msg, then the fields', () => {
    const lines: string[] = [];
    const log = createLogger((l) => lines.push(l));
    log.warn('model loaded', { version: 'v1', ms: 12 });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(o).toEqual({
      level: 'warn',
      time: expect.any(String),
      msg: 'model loaded',
      version: 'v1',
      ms: 12,
    });
    expect(new Date(o.time as string).toISOString()).toBe(o.time);
  });

  it('a child logger carries its fields on every line (a request id)', () => {
    const log = memoryLogger();
    const request = log.child({ request_id: 'r-1' });
    request.error('request failed', { code: 'INTERNAL' });
    request.info('done');
    expect(log.lines.map((l) => [l.level, l.msg, l.request_id, l.code])).toEqual([
      ['error', 'request failed', 'r-1', 'INTERNAL'],
      ['info', 'done', 'r-1', undefined],
    ]);
  });

  it('credentials in a URL never reach the log (platform/redact.ts on every line)', () => {
    const log = memoryLogger();
    log.info('fetching https://user:s3cret@mlflow.example.com/artifacts/x', {
      uri: 'https://user:s3cret@mlflow.example.com/a?token=abc123',
    });
    expect(JSON.stringify(log.lines)).not.toMatch(/s3cret|abc123/);
    expect(log.lines[0]!.msg).toContain('mlflow.example.com/artifacts/x');
  });
});
