/**
 * The Actions plumbing through @actions/core: outputs and summaries land in the files
 * Actions gives (several files in one process, each the one it was given), annotations
 * name the file and line, groups and masks are workflow commands; and a real script run
 * as Actions runs it masks its secrets before anything is printed and annotates its failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { ProjectError } from '../errors.ts';
import { readJsonFile } from '../fs.ts';
import { annotateError, annotationOf, logGroup, maskSecrets } from './actions.ts';
import { appendJobSummary, setOutputs } from './summary.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actions-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What `fn` writes to process.stdout (where @actions/core issues its commands). */
async function stdoutOf(fn: () => unknown): Promise<string> {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** GITHUB_OUTPUT's multi-line form: name<<DELIM, value, DELIM. */
function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i + 2 < lines.length; ) {
    const [name, delim] = (lines[i] as string).split('<<') as [string, string];
    const end = lines.indexOf(delim, i + 1);
    out[name] = lines.slice(i + 1, end).join('\n');
    i = end + 1;
  }
  return out;
}

describe('step outputs and the job summary', () => {
  it('setOutputs: core.setOutput blocks in the file given (created when missing), multi-line values kept', async () => {
    const a = join(dir, 'output-a');
    const b = join(dir, 'output-b');
    await setOutputs(a, { verified: 'true', reason: 'line 1\nline 2' });
    await setOutputs(b, { verified: 'false' });
    await setOutputs(a, { version: 'v5b0e2c41d7a9' });
    expect(parseOutputs(await readFile(a, 'utf8'))).toEqual({
      verified: 'true',
      reason: 'line 1\nline 2',
      version: 'v5b0e2c41d7a9',
    });
    expect(parseOutputs(await readFile(b, 'utf8'))).toEqual({ verified: 'false' });
    expect(process.env.GITHUB_OUTPUT).toBeUndefined(); // restored
  });

  it('appendJobSummary: appends to each file it is given (core.summary, one per write), without credentials', async () => {
    const a = join(dir, 'summary-a.md');
    const b = join(dir, 'summary-b.md');
    await writeFile(a, '');
    await writeFile(b, '');
    await appendJobSummary(a, '### one');
    await appendJobSummary(b, 'see https://bob:hunter22@mlflow.example.com/#/runs/1\n');
    await appendJobSummary(a, '### two\n');
    expect(await readFile(a, 'utf8')).toBe('### one\n### two\n');
    expect(await readFile(b, 'utf8')).toBe('see https://***@mlflow.example.com/#/runs/1\n');
  });

  it('a summary file Actions did not make is an INVALID error naming it', async () => {
    const missing = join(dir, 'nowhere', 'summary.md');
    await expect(appendJobSummary(missing, 'x')).rejects.toThrow(
      `cannot write the job summary to ${missing} (GITHUB_STEP_SUMMARY): Unable to access summary file`,
    );
  });
});

describe('annotations, groups and masks', () => {
  it('an error that names a file of the workspace is annotated at its file and line', async () => {
    await writeFile(join(dir, 'gates.json'), '{\n  "a": 1\n  "b": 2\n}\n');
    const e = await readJsonFile(join(dir, 'gates.json')).catch((x: unknown) => x);
    expect(annotationOf(e, { GITHUB_WORKSPACE: dir }, '/')).toEqual({ file: 'gates.json', startLine: 3 });
    const out = await stdoutOf(() =>
      annotateError(e, 'bad gates', { GITHUB_ACTIONS: 'true', GITHUB_WORKSPACE: dir }, dir),
    );
    expect(out).toBe('::error title=error,file=gates.json,line=3::bad gates\n');
    // A URL, a file outside the workspace, or no Actions: no file, or no annotation.
    const url = new ProjectError('UNAVAILABLE', 'down', { subject: 'https://mlflow.example.com' });
    expect(annotationOf(url, { GITHUB_WORKSPACE: dir }, dir)).toEqual({});
    expect(annotationOf(e, { GITHUB_WORKSPACE: join(dir, 'sub') }, dir)).toEqual({});
    expect(await stdoutOf(() => annotateError(e, 'bad gates', {}, dir))).toBe('');
  });

  it('logGroup folds a step in Actions only; maskSecrets masks every secret variable', async () => {
    const inside = await stdoutOf(() =>
      logGroup({ GITHUB_ACTIONS: 'true' }, 'train', async () => {
        process.stdout.write('epoch 1\n');
      }),
    );
    expect(inside).toBe('::group::train\nepoch 1\n::endgroup::\n');
    expect(await stdoutOf(() => logGroup({}, 'train', async () => undefined))).toBe('');
    const env = {
      GITHUB_ACTIONS: 'true',
      MLFLOW_TRACKING_TOKEN: 'mlflow-token-1',
      GITHUB_TOKEN: 'ghs_token2',
      PROMETHEUS_TOKEN: 'prom-token-3',
      REGISTRY_PASSWORD: 'registry-pass-4',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-5',
      PROMETHEUS_URL: 'https://ops:prom-pass-6@prometheus.example.com',
    };
    const masks = (await stdoutOf(() => maskSecrets(env))).split('\n').filter(Boolean).sort();
    expect(masks).toEqual(
      [
        'mlflow-token-1',
        'ghs_token2',
        'prom-token-3',
        'registry-pass-4',
        'aws-secret-5',
        'prom-pass-6',
        Buffer.from('ops:prom-pass-6').toString('base64'),
      ]
        .map((s) => `::add-mask::${s}`)
        .sort(),
    );
    expect(await stdoutOf(() => maskSecrets({ ...env, GITHUB_ACTIONS: undefined }))).toBe('');
  });

  it('a script run as Actions runs it: its secrets masked first, its failure an ::error at the file and line', async () => {
    const work = join(dir, 'repo');
    await mkdir(join(work, 'environments', 'dev'), { recursive: true });
    await writeFile(join(work, 'models.lock.json'), '{ "lockfileVersion": 2, "models": {} }\n');
    await writeFile(
      join(work, 'environments', 'promotion-gates.json'),
      '{\n  "version": 1\n  "environments": {}\n}\n',
    );
    const r = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'scripts', 'promote.ts'), '--env', 'dev', '--no-render'],
      {
        cwd: work,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          GITHUB_ACTIONS: 'true',
          GITHUB_WORKSPACE: work,
          GITHUB_ACTOR: 'octocat',
          GITHUB_REPOSITORY: 'acme/models',
          GITHUB_SHA: 'a'.repeat(40),
          MLFLOW_TRACKING_TOKEN: 'mlflow-secret-token',
        },
      },
    );
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('::add-mask::mlflow-secret-token');
    expect(lines.find((l) => l.startsWith('::error'))).toMatch(
      /^::error title=error,file=environments\/promotion-gates\.json,line=3::.*environments\/promotion-gates\.json: not valid JSON/,
    );
    expect(r.stderr).not.toContain('error:');
  });
});
