import { describe, expect, test } from '@jest/globals';
import { schemaProblems } from './schemas.ts';

describe('schemaProblems', () => {
  test('a valid Deployment, ServiceMonitor, ApplicationSet and AppProject have none', async () => {
    const objs = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'x' },
        spec: {
          selector: { matchLabels: { a: 'b' } },
          template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
        },
      },
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: 'x' },
        spec: { selector: {}, endpoints: [{ port: 'http', path: '/metrics' }] },
      },
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'ApplicationSet',
        metadata: { name: 'x' },
        spec: {
          generators: [
            {
              git: {
                repoURL: 'https://example.invalid/r.git',
                revision: 'HEAD',
                directories: [{ path: 'e/*' }],
              },
            },
          ],
          template: { metadata: {}, spec: { project: 'p', destination: {} } },
        },
      },
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AppProject',
        metadata: { name: 'p' },
        spec: { sourceRepos: ['*'] },
      },
    ];
    for (const o of objs) expect(await schemaProblems(o)).toEqual([]);
  });

  test('names the field of a wrong type', async () => {
    expect(
      await schemaProblems({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's' },
        spec: { ports: [{ port: 'eighty' }] },
      }),
    ).toEqual(['/spec/ports/0/port: must be integer']);
  });

  test('a kind with no schema is a problem, not a pass', async () => {
    expect(await schemaProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: {} })).toEqual([
      'no schema for example.com/v1 Widget: add a kubernetes-models package for it to gitops/schemas.ts',
    ]);
    expect(await schemaProblems({ apiVersion: '../../x/v1', kind: 'Deployment' })).toHaveLength(1);
    expect(await schemaProblems({ kind: 'Deployment' })).toEqual(['missing apiVersion or kind']);
  });
});
