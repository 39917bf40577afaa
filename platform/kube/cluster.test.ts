import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { clusterErrorOf, loadCluster } from './cluster.ts';

let dir: string;
let path: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kcfg-'));
  path = join(dir, 'config');
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: one, context: {cluster: a, user: u}}, {name: two, context: {cluster: a, user: u}}]
current-context: one
`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadCluster', () => {
  it('says which file and context it uses', () => {
    const c = loadCluster({ kubeconfig: path, context: 'two' });
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(c.source).toBe(`kubeconfig ${path}, context two`);
  });
  it('lists the contexts when the one asked for is missing', () => {
    expect(() => loadCluster({ kubeconfig: path, context: 'three' })).toThrow(
      `kubeconfig ${path}: no context "three" (contexts: one, two)`,
    );
  });
  it('names a kubeconfig file that does not exist', () => {
    expect(() => loadCluster({ kubeconfig: join(dir, 'nope') })).toThrow(`cannot load ${join(dir, 'nope')}`);
  });
});

describe('clusterErrorOf', () => {
  const where = { server: 'https://127.0.0.1:6443', source: 'kubeconfig x, context one' };
  it('explains a 401 with the server and context', () => {
    const e = clusterErrorOf(
      new ApiException(401, 'Unauthorized', '{"message":"Unauthorized"}', {}),
      where,
      'Deployment ml-dev/model-server',
    );
    expect(e?.code).toBe('UNAVAILABLE');
    expect(e?.message).toBe(
      'Kubernetes API server https://127.0.0.1:6443 refused Deployment ml-dev/model-server: HTTP 401 Unauthorized [kubeconfig x, context one]\n' +
        '  → the credentials in the kubeconfig are not accepted: refresh them',
    );
  });
  it('leaves a 404 to the caller', () => {
    expect(clusterErrorOf(new ApiException(404, 'NotFound', '', {}), where, 'x')).toBeUndefined();
  });
});
