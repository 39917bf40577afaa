import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { uncausedProjectErrors } from '../testing/error-causes.ts';
import { CODE_FOLDERS, tsFiles } from '../testing/import-graph.ts';
import { exitCodeOf, httpStatusOf, ProjectError } from './errors.ts';
import { readJsonFile } from './fs.ts';

const ROOT = join(import.meta.dirname, '..');

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
  it('keeps the error it wraps as cause', async () => {
    const missing = join(ROOT, 'no-such-file.json');
    const err = (await readJsonFile(missing).catch((e: unknown) => e)) as ProjectError;
    expect(err.code).toBe('NOT_FOUND');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    const wrapped = new ProjectError('UNAVAILABLE', 'x', { cause: err });
    expect(wrapped.cause).toBe(err);
  });
});

describe('every ProjectError made while handling a caught error carries it as cause', () => {
  it('in the code', () => {
    const code = tsFiles(ROOT, [...CODE_FOLDERS, 'testing', 'bench']).filter((f) => !/\.test\.ts$/.test(f));
    expect(code.length).toBeGreaterThan(100);
    expect(code.flatMap((f) => uncausedProjectErrors(readFileSync(join(ROOT, f), 'utf8'), f))).toEqual([]);
  });

  it('the check can fail: catch blocks, .catch and error listeners are all seen', () => {
    const source = [
      'try { f(); } catch (e) { throw new ProjectError("INVALID", "x"); }',
      'try { f(); } catch (e) { throw new ProjectError("INVALID", "x", { cause: e }); }',
      'try { f(); } catch { throw new ProjectError("INVALID", "deliberately without cause"); }',
      'p.catch((err) => { throw new ProjectError("INVALID", "x", { subject: "s" }); });',
      'stream.on("error", (e) => fail(new ProjectError("INVALID", "x")));',
      'stream.on("close", () => fail(new ProjectError("INVALID", "not a caught error")));',
      'const cause = 1; try { f(); } catch (e) { throw new ProjectError("INVALID", "→", { cause }); }',
    ].join('\n');
    expect(uncausedProjectErrors(source, 'x.ts')).toEqual(['x.ts:1', 'x.ts:4', 'x.ts:5']);
  });
});
