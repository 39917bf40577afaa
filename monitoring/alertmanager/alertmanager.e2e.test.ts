/**
 * The Alertmanager config, checked by the real amtool, and the whole path
 * with a real Alertmanager: a firing drift alert → Alertmanager's webhook over
 * HTTPS, with the shared secret → the alert relay → a workflow_dispatch of
 * drift.yml on the FAKE GitHub API (testing/fake-github.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { runSync } from '../../platform/shell.ts';
import { type FakeGithub, startFakeGithub } from '../../testing/fake-github.ts';
import { freePort } from '../../testing/ports.ts';
import { needs, tool } from '../../testing/services.ts';
import { requestTls, type SelfSigned, selfSignedCert } from '../../testing/tls.ts';
import { createAlertRelay } from '../alert-relay.ts';

const CONFIG = join(dirname(fileURLToPath(import.meta.url)), 'alertmanager.yml');
/** The shared secret Alertmanager sends and the relay checks (a Secret in a cluster). */
const SHARED_SECRET = 'relay-secret-from-the-test-0123456789';
const INSTALL = 'apt-get install prometheus-alertmanager (scripts/setup.d/55-alertmanager.sh)';
const amtool = tool('amtool', INSTALL);
const alertmanager = tool('prometheus-alertmanager', INSTALL);
const { describe } = needs(amtool, alertmanager);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('monitoring/alertmanager', () => {
  let dir: string;
  let gh: FakeGithub;
  let relay: Server;
  let tls: SelfSigned;
  let am: ChildProcess | undefined;
  let amLog = '';
  const relayLog: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'alertmanager-'));
    gh = await startFakeGithub({ token: 'relay-token' });
    // The relay serves HTTPS, as manifests/alert-relay runs it, with a certificate for this address.
    tls = selfSignedCert(dir, ['127.0.0.1']);
    relay = createServer(
      { cert: tls.cert, key: tls.key },
      createAlertRelay({
        api: { token: 'relay-token', apiUrl: gh.url, owner: gh.owner, repo: gh.repo },
        token: SHARED_SECRET,
        log: (l) => void relayLog.push(l),
      }),
    );
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    if (am && am.exitCode === null) {
      const exited = new Promise<void>((r) => am?.once('exit', () => r()));
      am.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((r) => relay?.close(() => r()));
    await gh?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('amtool check-config accepts the config and routes the drift alerts to the relay', () => {
    expect(runSync(amtool.path, ['check-config', CONFIG]).stdout).toContain('SUCCESS');
    const route = (labels: string) =>
      runSync(amtool.path, [
        'config',
        'routes',
        'test',
        `--config.file=${CONFIG}`,
        ...labels.split(' '),
      ]).stdout.trim();
    expect(route('alertname=ServingFeatureDrift namespace=ml-prod')).toBe('retrain-relay');
    expect(route('alertname=ServingPredictionDrift')).toBe('retrain-relay');
    expect(route('alertname=ServingDriftDisabled')).toBe('default');
    expect(route('alertname=ServingHighErrorRate')).toBe('default');
  });

  it('the relay refuses a caller without the shared secret: nothing reaches GitHub', async () => {
    const relayUrl = `https://127.0.0.1:${(relay.address() as AddressInfo).port}/alerts`;
    const body = JSON.stringify({
      version: '4',
      status: 'firing',
      groupKey: 'k',
      alerts: [{ status: 'firing', labels: { alertname: 'ServingFeatureDrift' } }],
    });
    expect((await requestTls(relayUrl, tls.cert, { method: 'POST', body })).status).toBe(401);
    expect(
      (
        await requestTls(relayUrl, tls.cert, {
          method: 'POST',
          headers: { authorization: 'Bearer guess' },
          body,
        })
      ).status,
    ).toBe(401);
    expect(gh.dispatches).toEqual([]);
  });

  it('a firing drift alert reaches GitHub as a workflow_dispatch of drift.yml through a real Alertmanager, which sends the secret over TLS', async () => {
    const config = parse(await readFile(CONFIG, 'utf8'));
    const relayUrl = `https://127.0.0.1:${(relay.address() as AddressInfo).port}/alerts`;
    config.route.group_wait = '1s';
    config.route.routes[0].group_wait = '1s';
    const webhook = config.receivers.find((r: { name: string }) => r.name === 'retrain-relay')
      .webhook_configs[0];
    expect(webhook.url).toBe('https://alert-relay.ml-monitoring.svc:8080/alerts');
    webhook.url = relayUrl;
    // The config's http_config, with the Secret's mounted files where this test keeps them.
    expect(webhook.http_config.authorization).toEqual({
      type: 'Bearer',
      credentials_file: '/etc/alertmanager/secrets/alert-relay/token',
    });
    expect(webhook.http_config.tls_config).toEqual({
      ca_file: '/etc/alertmanager/secrets/alert-relay/ca.crt',
      min_version: 'TLS12',
    });
    webhook.http_config.authorization.credentials_file = join(dir, 'relay-token');
    webhook.http_config.tls_config.ca_file = tls.certFile;
    await writeFile(join(dir, 'relay-token'), `${SHARED_SECRET}\n`);
    const file = join(dir, 'alertmanager.yml');
    await writeFile(file, stringify(config));
    const port = await freePort();
    am = spawn(
      alertmanager.path,
      [
        `--config.file=${file}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    am.stderr?.on('data', (d) => {
      amLog += String(d);
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor('Alertmanager ready', async () => ((await fetch(`${base}/-/ready`)).ok ? true : undefined));
    const post = await fetch(`${base}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: {
            alertname: 'ServingFeatureDrift',
            namespace: 'ml-prod',
            feature: 'brightness',
            method: 'psi',
          },
          annotations: { summary: 'Input drift on brightness (psi)' },
        },
        { labels: { alertname: 'ServingDriftDisabled', namespace: 'ml-prod' }, annotations: {} },
      ]),
    });
    expect(post.status).toBe(200);
    const dispatch = await waitFor('the workflow_dispatch', async () => gh.dispatches[0]).catch(
      (e: Error) => {
        throw new Error(`${e.message}\nalertmanager log:\n${amLog}`);
      },
    );
    expect(dispatch).toEqual({
      workflow: 'drift.yml',
      ref: 'main',
      inputs: { reason: 'ServingFeatureDrift (ml-prod): Input drift on brightness (psi)' },
    });
    const req = gh.requests.find(
      (r) => r.path === '/repos/acme/models/actions/workflows/drift.yml/dispatches',
    );
    expect(req?.authorization).toBe('token relay-token');
    expect(relayLog.filter((l) => l.includes('refused an unauthenticated POST'))).toHaveLength(2); // the test's two, not Alertmanager's
  });
});
