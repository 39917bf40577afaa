import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@jest/globals';
import type { ProjectError } from '../../platform/errors.ts';
import { freePort } from '../../tools/cluster/ports.ts';
import { loadCluster, makeSmokePng, verifyRollout } from './index.ts';

test('an API server that does not answer fails at once, naming its URL and the kubeconfig context', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
  const port = await freePort();
  try {
    const path = join(dir, 'config');
    await writeFile(
      path,
      `apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: gone-ctx, context: {cluster: gone, user: u}}]
current-context: gone-ctx
`,
    );
    const err = await verifyRollout(
      { env: 'dev', version: '3', timeoutMs: 60_000, image: makeSmokePng() },
      { cluster: loadCluster({ kubeconfig: path }) },
    ).catch((e: unknown) => e);
    expect((err as ProjectError).code).toBe('UNAVAILABLE');
    expect((err as Error).message).toBe(
      `Kubernetes API server https://127.0.0.1:${port} does not answer (ECONNREFUSED) while reading Application argocd/model-server-dev [kubeconfig ${path}, context gone-ctx]\n` +
        '  → check that the cluster is up and that --kubeconfig/--context point at it (kubectl --context ... cluster-info)',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
