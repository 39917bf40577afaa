import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { bearerMatches, createAlertRelay, dispatchFor } from './alert-relay.ts';

// Alertmanager's documented webhook body (version 4).
const webhook = (status: 'firing' | 'resolved', alertname = 'ServingPredictionDrift') => ({
  receiver: 'retrain-relay',
  status,
  alerts: [
    {
      status,
      labels: { alertname, namespace: 'ml-prod', severity: 'warning' },
      annotations: { summary: 'Predicted class distribution shifted' },
      startsAt: '2026-03-04T05:00:00.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint: '1a30ba71cca2921f',
    },
  ],
  groupLabels: { alertname },
  commonLabels: { alertname, namespace: 'ml-prod', severity: 'warning' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager:9093',
  version: '4',
  groupKey: `{}/{alertname=~"..."}:{alertname="${alertname}"}`,
  truncatedAlerts: 0,
});

const TOKEN = 'relay-shared-secret-0123456789';
let gh: FakeGithub;
let server: Server;
let url: string;
let failing = false;
const logs: string[] = [];
beforeAll(async () => {
  gh = await startFakeGithub({ token: 't' });
  server = createServer(
    createAlertRelay({
      api: { token: 't', apiUrl: gh.url, owner: gh.owner, repo: gh.repo },
      token: TOKEN,
      log: (l) => void logs.push(l),
      dispatch: async (type, payload) => {
        if (failing) throw new Error('GitHub API: repository_dispatch failed (HTTP 503)');
        const { sendRepositoryDispatch } = await import('../platform/github/pulls.ts');
        await sendRepositoryDispatch(
          { token: 't', apiUrl: gh.url, owner: gh.owner, repo: gh.repo },
          type,
          payload,
        );
      },
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await gh.close();
});

const post = (body: unknown, path = '/alerts', authorization: string | null = `Bearer ${TOKEN}`) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: authorization ? { authorization } : {},
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('the alert relay', () => {
  it('refuses a caller without the shared secret (401, nothing dispatched, the secret never echoed)', async () => {
    const n = gh.dispatches.length;
    for (const auth of [
      null,
      'Bearer wrong',
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      `Bearer ${TOKEN}x`,
      'Bearer ',
    ]) {
      const res = await post(webhook('firing'), '/alerts', auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="alert-relay"');
      const text = await res.text();
      expect(text).toContain('authentication required');
      expect(text).not.toContain(TOKEN);
    }
    expect(gh.dispatches.length).toBe(n);
    expect(logs.filter((l) => l.includes('refused an unauthenticated POST from 127.0.0.1'))).toHaveLength(5);
    expect(logs.join('\n')).not.toContain(TOKEN);
    // /healthz stays open for the probes.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('compares in constant time over digests, and refuses a secret that is too short', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
    expect(bearerMatches('Bearer ', '')).toBe(false);
    expect(() =>
      createAlertRelay({ api: { token: 't', apiUrl: 'http://x', owner: 'o', repo: 'r' }, token: 'short' }),
    ).toThrow("the alert relay's shared secret has 5 characters, fewer than 16");
  });

  it('sends repository_dispatch "drift-alert" for a firing drift alert', async () => {
    const res = await post(webhook('firing'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      dispatched: true,
      eventType: 'drift-alert',
      alerts: ['ServingPredictionDrift'],
    });
    expect(gh.dispatches.at(-1)).toEqual({
      event_type: 'drift-alert',
      client_payload: {
        alerts: [
          {
            alertname: 'ServingPredictionDrift',
            summary: 'Predicted class distribution shifted',
            labels: { alertname: 'ServingPredictionDrift', namespace: 'ml-prod', severity: 'warning' },
            startsAt: '2026-03-04T05:00:00.000Z',
          },
        ],
        groupKey: '{}/{alertname=~"..."}:{alertname="ServingPredictionDrift"}',
        externalURL: 'http://alertmanager:9093',
      },
    });
  });

  it('acknowledges resolved notifications and other alerts without dispatching', async () => {
    const n = gh.dispatches.length;
    expect(await (await post(webhook('resolved'))).json()).toEqual({
      dispatched: false,
      reason: 'resolved notification',
    });
    expect(await (await post(webhook('firing', 'ServingDriftDisabled'))).json()).toEqual({
      dispatched: false,
      reason: 'no firing drift alert',
    });
    expect(gh.dispatches.length).toBe(n);
    expect(
      dispatchFor(webhook('firing', 'ServingDriftDisabled') as never, ['ServingDriftDisabled']).dispatched,
    ).toBe(true);
  });

  it('answers 400 naming the field for a body that is not Alertmanager webhook v4, 404 elsewhere', async () => {
    const res = await post({ ...webhook('firing'), version: '3' });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/^Alertmanager webhook body is invalid:\n.*version/);
    expect((await post('{not json')).status).toBe(400);
    expect((await post(webhook('firing'), '/other')).status).toBe(404);
  });

  it('answers 502 when GitHub fails, so that Alertmanager retries', async () => {
    failing = true;
    try {
      const res = await post(webhook('firing'));
      expect(res.status).toBe(502);
      expect((await res.json()).error).toContain('HTTP 503');
    } finally {
      failing = false;
    }
  });
});
