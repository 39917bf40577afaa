/**
 * testing/services.ts as jest reports it: a real jest run of
 * fixtures/needs.fixture.ts (a test that needs a tool no machine has, beside
 * one that needs nothing), once outside CI and once with CI=true.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { run } from '../platform/shell.ts';

const ROOT = join(import.meta.dirname, '..');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'needs-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface JestJson {
  numFailedTestSuites: number;
  testResults: {
    message: string;
    assertionResults: { title: string; status: string }[];
  }[];
}

/** Run jest (the unit project's settings) on the fixture alone; its --json report. */
async function jestOnFixture(ci: boolean): Promise<JestJson> {
  const { default: config } = (await import(join(ROOT, 'jest.config.js'))) as {
    default: { projects: Record<string, unknown>[] };
  };
  const project = {
    ...config.projects[0],
    rootDir: ROOT,
    testMatch: ['<rootDir>/testing/fixtures/needs.fixture.ts'],
    testPathIgnorePatterns: ['/node_modules/'],
  };
  const out = join(dir, `report-${ci}.json`);
  const env = { ...process.env };
  delete env.CI;
  if (ci) env.CI = 'true';
  await run(
    process.execPath,
    [
      '--experimental-vm-modules',
      '--no-warnings=ExperimentalWarning',
      join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--config',
      JSON.stringify(project),
      '--json',
      `--outputFile=${out}`,
    ],
    { cwd: ROOT, env, nothrow: true, timeoutMs: 120_000 },
  );
  return JSON.parse(await readFile(out, 'utf8')) as JestJson;
}

test('outside CI: the test without its tool is reported skipped, its title saying why', async () => {
  const report = await jestOnFixture(false);
  expect(report.numFailedTestSuites).toBe(0);
  expect(report.testResults[0]!.assertionResults.map((a) => [a.title, a.status])).toEqual([
    ['uses the tool [skipped: gitops-ml-no-such-tool not found: apt-get install no-such-tool]', 'pending'],
    ['needs nothing', 'passed'],
  ]);
});

test('with CI=true: the suite fails, naming the tool and how to install it', async () => {
  const report = await jestOnFixture(true);
  expect(report.numFailedTestSuites).toBe(1);
  expect(report.testResults[0]!.message).toContain(
    'CI=true and gitops-ml-no-such-tool not found: apt-get install no-such-tool',
  );
});
