import { describe, expect, it } from '@jest/globals';
import { parseJsonText, versionIdOf } from '../../lock/index.ts';
import { fakeFiles, makeEntry } from '../../testing/lock/fixtures.ts';
import { forkLockNote } from './train-pr.ts';

describe("forkLockNote (a fork's lock entry, which the job cannot push)", () => {
  it('gives the entry of a run on the MLflow server, for provenance.yml to check', () => {
    const entry = makeEntry(fakeFiles(1), {
      artifactUri: 'mlflow-artifacts:/1/abc/artifacts/model',
      mlflow: { runId: 'abc', modelVersion: '4', trackingUri: 'https://mlflow.example.com' },
    });
    const note = forkLockNote('demo', entry, 'models.lock.json');
    expect(note.split('\n')[0]).toBe(
      `Lock: not committed (the job cannot push to a fork). Add this entry as the file \`models.lock.d/demo/${versionIdOf(entry.rootDigest)}.json\` (a new version of \`demo\`); \`provenance.yml\` checks it against MLflow run \`abc\`:`,
    );
    const json = /```json\n([\s\S]*?)\n```/.exec(note)?.[1] ?? '';
    expect(parseJsonText(json, 'the note')).toEqual(entry);
  });

  it('says a local run cannot be added from a pull request', () => {
    expect(forkLockNote('demo', makeEntry(fakeFiles(1)), 'models.lock.json')).toContain(
      'tracked in the local store only, so its entry cannot be added from a pull request',
    );
  });
});
