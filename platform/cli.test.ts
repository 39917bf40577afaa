import { describe, expect, it } from '@jest/globals';
import { parseDurationFlag } from './cli.ts';

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
