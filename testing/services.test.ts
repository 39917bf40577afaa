import { describe, expect, test } from '@jest/globals';
import { gate, type JestApi, missingReason, needs, requirement, tool } from './services.ts';

const missing = requirement('gitops-ml-no-such-tool', undefined, 'apt-get install no-such-tool');
const present = requirement('node', process.execPath, 'install Node');
const REASON = 'gitops-ml-no-such-tool not found: apt-get install no-such-tool';

/** Jest functions that record what would be registered, instead of registering it. */
function recordingJest(): { api: JestApi; registered: string[] } {
  const registered: string[] = [];
  const fn = (kind: string) => {
    const record = (how: string) => (name: string) => void registered.push(`${kind}.${how} ${name}`);
    const skip = Object.assign(record('skip'), {
      each:
        (...table: unknown[]) =>
        (name: string) =>
          void registered.push(`${kind}.skip.each(${JSON.stringify(table)}) ${name}`),
    });
    return Object.assign(record('run'), { skip });
  };
  return {
    api: { test: fn('test'), it: fn('it'), describe: fn('describe') } as unknown as JestApi,
    registered,
  };
}

describe('needs: what a test needs from the machine', () => {
  test('everything there: the real jest functions, unchanged', () => {
    const { api } = recordingJest();
    expect(gate([present], { env: {}, jest: api })).toBe(api);
    expect(gate([present], { env: { CI: 'true' }, jest: api })).toBe(api);
    expect(needs(present).test).toBe(test);
  });

  test('under CI=true a missing tool throws, naming it and how to install it', () => {
    const { api, registered } = recordingJest();
    for (const CI of ['true', '1']) {
      expect(() => gate([present, missing], { env: { CI }, jest: api })).toThrow(`CI=true and ${REASON}`);
    }
    expect(registered).toEqual([]);
  });

  test('outside CI: .skip, with the reason in every title (test, it, describe, .each), and one warning', () => {
    const { api, registered } = recordingJest();
    const warnings: string[] = [];
    const other = requirement('curl', undefined, 'apt-get install curl');
    const gated = gate([missing, present, other], {
      env: { CI: 'false' },
      jest: api,
      warn: (l) => warnings.push(l),
    });
    gated.test('renders', () => {});
    gated.it('lints', () => {});
    gated.describe('a real server', () => {});
    gated.test.each([1, 2])('case %s', () => {});
    gated.it.skip('already skipped', () => {});
    const why = `${REASON}; curl not found: apt-get install curl`;
    expect(registered).toEqual([
      `test.skip renders [skipped: ${why}]`,
      `it.skip lints [skipped: ${why}]`,
      `describe.skip a real server [skipped: ${why}]`,
      `test.skip.each([[1,2]]) case %s [skipped: ${why}]`,
      `it.skip already skipped [skipped: ${why}]`,
    ]);
    expect(warnings).toEqual([`skipping: ${why}`]);
  });

  test("a requirement's path is there when found, and throws the reason when not", () => {
    expect(present.path).toBe(process.execPath);
    expect(() => missing.path).toThrow(REASON);
    expect(missingReason([present])).toBe('');
    expect(tool(process.execPath, 'x').found).toBe(process.execPath);
    expect(tool('/nonexistent/gitops-ml-tool', 'x').found).toBeUndefined();
    expect(tool('sh', 'x').found).toMatch(/\/sh$/);
  });
});
