import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { LOCAL_RUN_FORMAT, LocalRunStore } from './local-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LocalRunStore', () => {
  it('writes the documented v1 layout: run.json, metrics.jsonl, artifacts/', async () => {
    const store = new LocalRunStore(join(dir, 'mlruns-local'));
    const run = await store.createRun({
      experiment: 'shapes',
      runName: 'r1',
      startTime: 1000,
      tags: { backend: 'cpu' },
    });
    await store.updateRun(run.run_id, (r) => {
      r.params.epochs = '3';
    });
    await store.appendMetrics(run.run_id, [
      { key: 'loss', value: 0.5, step: 0, timestamp: 1001 },
      { key: 'loss', value: 0.25, step: 1, timestamp: 1002 },
    ]);
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'model.json'), '{}');
    await store.copyArtifacts(run.run_id, src, 'model');

    const runDir = join(dir, 'mlruns-local', 'v1', 'runs', run.run_id);
    const json = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
    expect(json).toEqual({
      format: LOCAL_RUN_FORMAT,
      run_id: run.run_id,
      run_name: 'r1',
      experiment: 'shapes',
      status: 'RUNNING',
      start_time: 1000,
      params: { epochs: '3' },
      tags: { backend: 'cpu' },
      uploads: {},
    });
    expect(await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).toBe(
      '{"key":"loss","value":0.5,"step":0,"timestamp":1001}\n{"key":"loss","value":0.25,"step":1,"timestamp":1002}\n',
    );
    expect(await readFile(join(runDir, 'artifacts', 'model', 'model.json'), 'utf8')).toBe('{}');
    expect((await store.listRuns()).map((r) => r.run_id)).toEqual([run.run_id]);
  });

  it('drops a torn last metrics line from a crash, but names a bad line in the middle', async () => {
    const store = new LocalRunStore(dir);
    const run = await store.createRun({ experiment: 'e', startTime: 1 });
    const file = join(store.runDir(run.run_id), 'metrics.jsonl');
    await appendFile(file, '{"key":"loss","value":1,"step":0,"timestamp":1}\n{"key":"lo');
    expect(await store.readMetrics(run.run_id)).toEqual([{ key: 'loss', value: 1, step: 0, timestamp: 1 }]);
    await writeFile(file, 'garbage\n{"key":"loss","value":1,"step":0,"timestamp":1}\n');
    await expect(store.readMetrics(run.run_id)).rejects.toThrow(`${file}:1:`);
  });

  it('names every bad field of a hand-edited run.json', async () => {
    const store = new LocalRunStore(dir);
    const run = await store.createRun({ experiment: 'e', startTime: 1 });
    const path = join(store.runDir(run.run_id), 'run.json');
    const json = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...json, status: 'DONE', params: { a: 1 } }));
    await expect(store.readRun(run.run_id)).rejects.toThrow(
      /\/status: must be equal to one of the allowed values[\s\S]*\/params\/a: must be string/,
    );
  });

  it('lists nothing when the store does not exist yet', async () => {
    expect(await new LocalRunStore(join(dir, 'none')).listRuns()).toEqual([]);
  });
});
