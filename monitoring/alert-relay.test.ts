import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sendWorkflowDispatch } from '../platform/github/pulls.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { bearerMatches, createAlertRelay, dispatchFor, ReplayGuard } from './alert-relay.ts';

// Alertmanager's documented webhook body (version 4); `fingerprint` and `startsAt` tell one firing from another.
const webhook = (
  status: 'firing' | 'resolved',
  alertname = 'ServingPredictionDrift',
  fingerprint = '1a30ba71cca2921f',
  startsAt = '2026-03-04T05:00:00.000Z',
) => ({
  receiver: 'retrain-relay',
  status,
  alerts: [
    {
      status,
      labels: { alertname, namespace: 'ml-prod', severity: 'warning' },
      annotations: { summary: 'Predicted class distribution shifted' },
      startsAt,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint,
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
      dispatch: async (d) => {
        if (failing) throw new Error('GitHub API: workflow_dispatch of drift.yml on main failed (HTTP 503)');
        await sendWorkflowDispatch({ token: 't', apiUrl: gh.url, owner: gh.owner, repo: gh.repo }, d);
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

  it('dispatches drift.yml on main for a firing drift alert, with the alerts as its reason input', async () => {
    const res = await post(webhook('firing'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      dispatched: true,
      workflow: 'drift.yml',
      ref: 'main',
      alerts: ['ServingPredictionDrift'],
    });
    // The fake takes the inputs drift.yml declares and refuses others (422), as GitHub does.
    expect(gh.dispatches.at(-1)).toEqual({
      workflow: 'drift.yml',
      ref: 'main',
      inputs: { reason: 'ServingPredictionDrift (ml-prod): Predicted class distribution shifted' },
    });
    expect(gh.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: '/repos/acme/models/actions/workflows/drift.yml/dispatches',
    });
  });

  it('dispatches the same firing alerts once: a repeat or a replayed request starts nothing more (issue 23, finding 9)', async () => {
    const alert = webhook('firing', 'ServingFeatureDrift', 'c0ffee0000000001', '2026-03-05T06:00:00.000Z');
    const n = gh.dispatches.length;
    const first = await post(alert);
    expect((await first.json()).dispatched).toBe(true);
    // Concurrent and later copies of the same notification: answered 200 (Alertmanager stops retrying), nothing sent.
    const copies = await Promise.all([post(alert), post(alert), post(alert)]);
    for (const c of copies) {
      expect(c.status).toBe(200);
      expect(await c.json()).toEqual({
        dispatched: false,
        reason: 'already dispatched for these firing alerts (a repeat or a replay)',
      });
    }
    expect(gh.dispatches.length).toBe(n + 1);
    // The same alert firing anew (another start) is a new reason to retrain.
    const again = webhook('firing', 'ServingFeatureDrift', 'c0ffee0000000001', '2026-03-07T06:00:00.000Z');
    expect((await (await post(again)).json()).dispatched).toBe(true);
    expect(gh.dispatches.length).toBe(n + 2);
    expect(logs.filter((l) => l.includes('(a repeat or a replay); nothing sent'))).toHaveLength(3);
  });

  it('the replay window ends, and a failed dispatch frees the alerts for the retry', () => {
    let now = 0;
    const guard = new ReplayGuard(1000, () => now);
    expect(guard.take('a')).toBe(true);
    expect(guard.take('a')).toBe(false);
    now = 999;
    expect(guard.take('a')).toBe(false);
    now = 1000;
    expect(guard.take('a')).toBe(true);
    guard.release('a');
    expect(guard.take('a')).toBe(true);
    // Bounded: past `max` keys the oldest go first.
    const small = new ReplayGuard(1000, () => now, 2);
    for (const k of ['x', 'y', 'z']) expect(small.take(k)).toBe(true);
    expect(small.take('x')).toBe(true);
    expect(small.take('z')).toBe(false);
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

  it('answers 502 when GitHub fails, so that Alertmanager retries, and the retry dispatches', async () => {
    const alert = webhook('firing', 'ServingConfidenceDrop', 'c0ffee0000000002');
    const n = gh.dispatches.length;
    failing = true;
    try {
      const res = await post(alert);
      expect(res.status).toBe(502);
      expect((await res.json()).error).toContain('HTTP 503');
    } finally {
      failing = false;
    }
    expect((await (await post(alert)).json()).dispatched).toBe(true);
    expect(gh.dispatches.length).toBe(n + 1);
  });

  it('GitHub refuses an input the workflow does not declare, and a workflow without workflow_dispatch', async () => {
    const api = { token: 't', apiUrl: gh.url, owner: gh.owner, repo: gh.repo };
    await expect(
      sendWorkflowDispatch(api, { workflow: 'drift.yml', ref: 'main', inputs: { alerts: 'x' } }),
    ).rejects.toThrow(/workflow_dispatch of drift.yml on main.*Unexpected inputs provided: \["alerts"\]/s);
    await expect(sendWorkflowDispatch(api, { workflow: 'ci.yml', ref: 'main' })).rejects.toThrow(
      /workflow_dispatch of ci.yml on main/,
    );
  });
});
