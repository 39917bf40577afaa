import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { parseJsonText, versionIdOf } from '../../lock/index.ts';
import { fakeFiles, makeEntry, tempDir } from '../../testing/lock/fixtures.ts';
import { MAX_REPORT_CHARS, readHandoff, writeHandoff } from './handoff.ts';
import { forkLockNote } from './publish-pr.ts';

describe("forkLockNote (a fork's lock entry, which the job cannot push)", () => {
  it('gives the checked entry of a run on the MLflow server, for the author to add', () => {
    const entry = makeEntry(fakeFiles(1), {
      artifactUri: 'mlflow-artifacts:/1/abc/artifacts/model',
      mlflow: { runId: 'abc', modelVersion: '4', trackingUri: 'https://mlflow.example.com' },
    });
    const note = forkLockNote('demo', entry, 'models.lock.json');
    expect(note.split('\n')[0]).toBe(
      `Lock: not committed (the job cannot push to a fork). The entry matches MLflow run \`abc\` (checked with the base branch's code): add it as the file \`models.lock.d/demo/${versionIdOf(entry.rootDigest)}.json\` (a new version of \`demo\`); \`provenance.yml\` checks it again:`,
    );
    const json = /```json\n([\s\S]*?)\n```/.exec(note)?.[1] ?? '';
    expect(parseJsonText(json, 'the note')).toEqual(entry);
  });
});

describe("the train job's handoff, read as untrusted data by the publish job", () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips the candidate (its version computed, never read) and the report', async () => {
    dir = await tempDir('handoff-');
    const entry = makeEntry(fakeFiles(2));
    await writeHandoff(dir, { model: 'demo', entry, report: '## report\n' });
    expect(await readHandoff(dir)).toEqual({
      model: 'demo',
      version: versionIdOf(entry.rootDigest),
      entry,
      report: '## report\n',
    });
  });

  it('refuses a model name the lock does not allow (a path out of models.lock.d/), naming the file and field', async () => {
    dir = await tempDir('handoff-');
    const entry = makeEntry(fakeFiles(2));
    await writeFile(join(dir, 'candidate.json'), JSON.stringify({ model: '../../.github/x', entry }));
    await expect(readHandoff(dir)).rejects.toThrow(
      `${join(dir, 'candidate.json')} is invalid:\n  - /model: must match pattern`,
    );
  });

  it('refuses an entry that does not follow the lock schema, and extra fields', async () => {
    dir = await tempDir('handoff-');
    const entry = { ...makeEntry(fakeFiles(2)), rootDigest: 'not-a-digest' };
    await writeFile(join(dir, 'candidate.json'), JSON.stringify({ model: 'demo', entry }));
    await expect(readHandoff(dir)).rejects.toThrow(/candidate\.json: entry is invalid:\n {2}- \/rootDigest/);
    await writeFile(
      join(dir, 'candidate.json'),
      JSON.stringify({ model: 'demo', entry: makeEntry(fakeFiles(2)), pins: { prod: 'v1' } }),
    );
    await expect(readHandoff(dir)).rejects.toThrow('is invalid:\n  - /: unknown field "pins"');
  });

  it('refuses a link or a folder in place of a file, and a missing candidate', async () => {
    dir = await tempDir('handoff-');
    await expect(readHandoff(dir)).rejects.toThrow(
      `${join(dir, 'candidate.json')}: no such file; the train job writes it`,
    );
    await symlink('/etc/passwd', join(dir, 'candidate.json'));
    await expect(readHandoff(dir)).rejects.toThrow(`${join(dir, 'candidate.json')} is not a regular file`);
    await rm(join(dir, 'candidate.json'));
    await mkdir(join(dir, 'candidate.json'));
    await expect(readHandoff(dir)).rejects.toThrow('is not a regular file');
  });

  it("cuts a long report and neutralises HTML comments (another comment's hidden marker)", async () => {
    dir = await tempDir('handoff-');
    const entry = makeEntry(fakeFiles(2));
    const report = `<!-- gitops-ml:train:other -->\n${'x'.repeat(MAX_REPORT_CHARS + 10)}`;
    await writeHandoff(dir, { model: 'demo', entry, report });
    const read = await readHandoff(dir);
    expect(read.report.startsWith('&lt;!-- gitops-ml:train:other -->\n')).toBe(true);
    expect(read.report).not.toContain('<!--');
    expect(read.report.endsWith(`(report cut at ${MAX_REPORT_CHARS} characters)\n`)).toBe(true);
    expect(read.report.length).toBeLessThan(MAX_REPORT_CHARS + 100);
  });
});
