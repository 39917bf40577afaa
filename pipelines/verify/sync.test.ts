import { describe, expect, test } from '@jest/globals';
import { buildSyncOperation, failedResources, type SyncedApplication } from './sync.ts';

const prod: SyncedApplication = {
  metadata: { name: 'model-server-prod', namespace: 'argocd', resourceVersion: '42' },
  spec: {
    source: {
      repoURL: 'https://github.com/acme/gitops-ml.git',
      path: 'environments/prod',
      targetRevision: 'HEAD',
    },
    syncPolicy: {
      syncOptions: ['RespectIgnoreDifferences=true', 'ServerSideApply=true'],
      retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } },
    },
  },
};

describe('the sync operation argocd-server would write', () => {
  test("the Application's source, sync options and retry; no revision: the target revision, resolved by the controller", () => {
    expect(buildSyncOperation(prod, { initiatedBy: 'octocat' })).toEqual({
      sync: {
        prune: false,
        syncOptions: ['RespectIgnoreDifferences=true', 'ServerSideApply=true'],
        source: prod.spec?.source,
      },
      initiatedBy: { username: 'octocat' },
      retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } },
    });
  });

  test('a revision and prune when asked; the sources of a multi-source Application', () => {
    const multi: SyncedApplication = { spec: { sources: [{ path: 'a' }, { path: 'b' }] } };
    expect(buildSyncOperation(multi, { initiatedBy: 'ci', revision: 'a'.repeat(40), prune: true })).toEqual({
      sync: { revision: 'a'.repeat(40), prune: true, sources: [{ path: 'a' }, { path: 'b' }] },
      initiatedBy: { username: 'ci' },
    });
  });
});

test('failedResources lists what did not sync, one line each', () => {
  const app: SyncedApplication = {
    status: {
      operationState: {
        phase: 'Failed',
        syncResult: {
          resources: [
            { kind: 'Deployment', namespace: 'ml-prod', name: 'model-server', status: 'Synced' },
            {
              kind: 'ServiceMonitor',
              namespace: 'ml-prod',
              name: 'model-server',
              status: 'SyncFailed',
              message: 'the server could not find the requested resource',
            },
            { kind: 'ConfigMap', namespace: 'ml-prod', name: 'old', status: 'Pruned' },
          ],
        },
      },
    },
  };
  expect(failedResources(app)).toEqual([
    'ServiceMonitor ml-prod/model-server: SyncFailed (the server could not find the requested resource)',
  ]);
});
