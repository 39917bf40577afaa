import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import {
  createMetricsApiHandler,
  KWOK_USAGE_ANNOTATIONS,
  type PodSource,
  podMetricsOf,
} from './metrics-api.ts';

const NOW = new Date('2026-11-29T12:00:00.000Z');

const pod = (
  name: string,
  extra: { annotations?: Record<string, string>; phase?: string; node?: string } = {},
) =>
  ({
    metadata: { name, namespace: 'ml-dev', labels: { app: 'web' }, annotations: extra.annotations },
    spec: { nodeName: extra.node ?? 'kwok-cpu-0', containers: [{ name: 'server' }, { name: 'sidecar' }] },
    status: { phase: extra.phase ?? 'Running' },
  }) as V1Pod;

describe('podMetricsOf: kwok usage-from-annotation', () => {
  test("kwok's defaults (1m CPU, 1Mi memory) for every container of a running pod", () => {
    expect(podMetricsOf(pod('a'), NOW)).toEqual({
      kind: 'PodMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: {
        name: 'a',
        namespace: 'ml-dev',
        labels: { app: 'web' },
        creationTimestamp: NOW.toISOString(),
      },
      timestamp: NOW.toISOString(),
      window: '15s',
      containers: [
        { name: 'server', usage: { cpu: '1m', memory: '1Mi' } },
        { name: 'sidecar', usage: { cpu: '1m', memory: '1Mi' } },
      ],
    });
  });

  test('the usage the pod annotations name', () => {
    const m = podMetricsOf(
      pod('a', {
        annotations: { [KWOK_USAGE_ANNOTATIONS.cpu]: '450m', [KWOK_USAGE_ANNOTATIONS.memory]: '300Mi' },
      }),
      NOW,
    );
    expect(m?.containers[0]?.usage).toEqual({ cpu: '450m', memory: '300Mi' });
  });

  test('nothing for a pod that does not run, or whose annotation is no quantity', () => {
    expect(podMetricsOf(pod('a', { phase: 'Pending' }), NOW)).toBeUndefined();
    expect(podMetricsOf({ ...pod('a'), spec: { containers: [] } } as V1Pod, NOW)).toBeUndefined();
    expect(
      podMetricsOf(pod('a', { annotations: { [KWOK_USAGE_ANNOTATIONS.cpu]: 'lots' } }), NOW),
    ).toBeUndefined();
  });
});

describe('the metrics.k8s.io/v1beta1 handler', () => {
  let server: Server;
  let base: string;
  const calls: { namespace?: string; labelSelector?: string; fieldSelector?: string }[] = [];
  let failing = false;
  const pods: PodSource = {
    list: async (namespace, query) => {
      calls.push({ namespace, ...query });
      if (failing) throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
      const all = [pod('a'), pod('b', { phase: 'Pending' })];
      return query.fieldSelector
        ? all.filter((p) => query.fieldSelector === `metadata.name=${p.metadata?.name}`)
        : all;
    },
  };

  beforeAll(async () => {
    server = createServer(createMetricsApiHandler({ pods, now: () => NOW }));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((ok) => server.close(ok));
  });

  const get = async (path: string, method = 'GET') => {
    const r = await fetch(`${base}${path}`, { method });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  test('discovery: the group version lists PodMetrics', async () => {
    const r = await get('/apis/metrics.k8s.io/v1beta1');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'metrics.k8s.io/v1beta1' });
    expect(r.body.resources).toEqual([
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ]);
  });

  test('a namespace list passes the label selector on and leaves out pods that do not run', async () => {
    calls.length = 0;
    const r = await get('/apis/metrics.k8s.io/v1beta1/namespaces/ml-dev/pods?labelSelector=app%3Dweb');
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('PodMetricsList');
    expect((r.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name)).toEqual(['a']);
    expect(calls).toEqual([{ namespace: 'ml-dev', labelSelector: 'app=web', fieldSelector: undefined }]);
  });

  test('every namespace, and one pod by name (404 when it does not run)', async () => {
    calls.length = 0;
    expect((await get('/apis/metrics.k8s.io/v1beta1/pods')).status).toBe(200);
    expect(calls[0]?.namespace).toBeUndefined();
    const one = await get('/apis/metrics.k8s.io/v1beta1/namespaces/ml-dev/pods/a');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ kind: 'PodMetrics', metadata: { name: 'a' } });
    const pending = await get('/apis/metrics.k8s.io/v1beta1/namespaces/ml-dev/pods/b');
    expect(pending).toEqual({
      status: 404,
      body: expect.objectContaining({
        kind: 'Status',
        reason: 'NotFound',
        message: 'podmetrics.metrics.k8s.io "b" not found',
      }),
    });
  });

  test('unknown paths are 404 and writes 405, as Kubernetes Status objects', async () => {
    expect((await get('/apis/metrics.k8s.io/v1beta1/nodes')).status).toBe(404);
    expect((await get('/apis/metrics.k8s.io/v1beta1/pods/a')).status).toBe(404);
    const post = await get('/apis/metrics.k8s.io/v1beta1/pods', 'POST');
    expect(post.status).toBe(405);
    expect(post.body).toMatchObject({ kind: 'Status', code: 405 });
  });

  test('the API server not answering is a 503 naming the cause', async () => {
    failing = true;
    try {
      const r = await get('/apis/metrics.k8s.io/v1beta1/namespaces/ml-dev/pods');
      expect(r.status).toBe(503);
      expect(r.body.message).toBe('cannot list pods in ml-dev: connect ECONNREFUSED 127.0.0.1:6443');
    } finally {
      failing = false;
    }
  });
});
