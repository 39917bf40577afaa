import { describe, expect, it } from '@jest/globals';
import { exitCodeOf, httpStatusOf, ProjectError } from './errors.ts';

describe('errors', () => {
  it('maps usage to exit 2 and everything else to 1', () => {
    expect(exitCodeOf(new ProjectError('USAGE', 'bad flag'))).toBe(2);
    expect(exitCodeOf(new ProjectError('INVALID', 'bad'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
  });
  it('maps codes to HTTP statuses in one place', () => {
    expect(httpStatusOf(new ProjectError('TOO_LARGE', 'big'))).toBe(413);
    expect(httpStatusOf(new ProjectError('UNSUPPORTED_MEDIA', 'x'))).toBe(415);
    expect(httpStatusOf(new ProjectError('NOT_FOUND', 'x'))).toBe(404);
    expect(httpStatusOf(new Error('boom'))).toBe(500);
  });
  it('appends the hint on its own line', () => {
    const e = new ProjectError('NOT_FOUND', 'models.lock.json: no model "x"', {
      hint: 'run npm run lock -- show',
    });
    expect(e.message).toBe('models.lock.json: no model "x"\n  → run npm run lock -- show');
  });
});
