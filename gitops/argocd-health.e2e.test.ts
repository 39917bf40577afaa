/**
 * manifests/argocd/argocd-cm.yaml's health check of HorizontalPodAutoscalers,
 * run by Argo CD itself: `argocd admin settings resource-overrides health`
 * evaluates an object with the Lua of a local argocd-cm, in the same Lua
 * sandbox as the application-controller (a check that needs a library the
 * sandbox lacks fails here as it fails there). The HPA conditions are the
 * ones the local cluster's HPA controller writes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { run } from '../platform/shell.ts';
import { needs, requirement } from '../testing/services.ts';
import { argocdDir } from '../tools/cluster/tools.ts';

const ARGOCD_CM = new URL('../manifests/argocd/argocd-cm.yaml', import.meta.url).pathname;
const argocdBin = join(argocdDir(), 'bin', 'argocd');
const argocd = requirement(
  'argocd',
  existsSync(argocdBin) ? argocdBin : undefined,
  'bash scripts/setup.d/62-argocd.sh',
);

needs(argocd).describe(
  "the HPA health check of manifests/argocd/argocd-cm.yaml, in Argo CD's Lua engine",
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'argocd-health-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const able = {
      type: 'AbleToScale',
      status: 'True',
      reason: 'SucceededGetScale',
      message: "the HPA controller was able to get the target's current scale",
    };
    /** Argo CD's verdict on an HPA with these conditions: [status, message]. */
    async function health(name: string, conditions: object[]): Promise<[string, string]> {
      const path = join(dir, `${name}.json`);
      await writeFile(
        path,
        JSON.stringify({
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: 'model-server', namespace: 'ml-dev' },
          spec: {
            minReplicas: 1,
            maxReplicas: 2,
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'model-server' },
          },
          status: { currentReplicas: 1, desiredReplicas: 1, conditions },
        }),
      );
      const r = await run(
        argocd.path,
        ['admin', 'settings', 'resource-overrides', 'health', path, '--argocd-cm-path', ARGOCD_CM],
        {
          env: { PATH: process.env.PATH ?? '', HOME: dir, ARGOCD_BINARY_NAME: 'argocd' },
          timeoutMs: 60_000,
        },
      );
      const status = /^STATUS: (.*)$/m.exec(r.stdout)?.[1] ?? `none (${r.stdout}${r.stderr})`;
      return [status, /^MESSAGE: (.*)$/m.exec(r.stdout)?.[1] ?? ''];
    }

    test('no CPU sample of the new pods yet, right after a rollout: Progressing, not Degraded', async () => {
      const message =
        'the HPA was unable to compute the replica count: failed to get cpu utilization: did not receive metrics for targeted pods (pods might be unready)';
      expect(
        await health('fresh', [
          able,
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric', message },
        ]),
      ).toEqual(['Progressing', message]);
    });

    test('no metrics API at all, or a custom metric nobody serves: Degraded, as Argo CD says by default', async () => {
      const noApi =
        'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)';
      expect(
        await health('no-api', [
          able,
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric', message: noApi },
        ]),
      ).toEqual(['Degraded', noApi]);
      const noAdapter =
        'the HPA was unable to compute the replica count: unable to get metric serving_http_requests_in_flight: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered';
      expect(
        await health('no-adapter', [
          able,
          { type: 'ScalingActive', status: 'False', reason: 'FailedGetPodsMetric', message: noAdapter },
        ]),
      ).toEqual(['Degraded', noAdapter]);
    });

    test('scaling on a valid metric: Healthy; no condition yet: Progressing', async () => {
      expect(
        await health('healthy', [
          { ...able, reason: 'ReadyForNewScale', message: 'recommended size matches current size' },
          {
            type: 'ScalingActive',
            status: 'True',
            reason: 'ValidMetricFound',
            message:
              'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)',
          },
          {
            type: 'ScalingLimited',
            status: 'False',
            reason: 'DesiredWithinRange',
            message: 'the desired count is within the acceptable range',
          },
        ]),
      ).toEqual(['Healthy', 'recommended size matches current size']);
      expect(await health('new', [])).toEqual(['Progressing', 'Waiting to Autoscale']);
    });
  },
);
