// Renders the real overlays with real Kustomize in a temp copy of the repo
// (with a temp lock and generated pins), and checks that a broken object, a
// missing probe or limit, and a pin that is not in the lock each fail with
// the exact message a user sees.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { isProjectError } from '../errors.ts';
import { inCI } from '../testing/services.ts';
import { writePin } from './pin.ts';
import { formatTable, renderAll, summarize, writeRendered } from './render.ts';
import { edit, fakeEntry, fakeLock, MODEL, tempRepo } from './testing/repo.ts';
import { findKustomize, type KustomizeTool } from './tools.ts';

let kustomize: KustomizeTool | undefined;
const roots: string[] = [];

beforeAll(async () => {
  // Like requireTool: a missing Kustomize skips locally and fails in CI.
  try {
    kustomize = await findKustomize();
  } catch (e) {
    if (inCI()) throw e;
    console.warn(`skipping: ${(e as Error).message}`);
  }
});
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

/** A temp repo with every environment pinned as the lock says. */
async function pinnedRepo(): Promise<string> {
  const root = await tempRepo();
  roots.push(root);
  const lock = fakeLock();
  for (const [env, version] of Object.entries(lock.models[MODEL]!.pins!)) {
    await writePin(join(root, 'environments', env), { model: MODEL, version, entry: fakeEntry(version) });
  }
  return root;
}

/** The problems of a render that must fail (only `envs` when given, to keep the test quick). */
async function problemsOf(root: string, envs?: string[]): Promise<string[]> {
  try {
    await renderAll({ root, kustomize: kustomize!, envs });
  } catch (e) {
    if (isProjectError(e) && e.code === 'INVALID') return e.details as string[];
    throw e;
  }
  throw new Error('render passed, a problem was expected');
}

const run = (name: string, fn: () => Promise<void>) =>
  test(name, async () => {
    if (!kustomize) return; // skipped outside CI: requireTool printed why
    await fn();
  });

describe('renderAll (real Kustomize)', () => {
  run('renders every environment and manifests folder, valid, deterministic', async () => {
    const root = await pinnedRepo();
    const report = await renderAll({ root, kustomize: kustomize! });
    expect(report.targets.map((t) => t.target.id)).toEqual([
      'environments/dev',
      'environments/prod',
      'environments/staging',
      'manifests/argocd',
      'manifests/monitoring',
      'manifests/training-job',
    ]);
    const rows = summarize(report);
    const byId = Object.fromEntries(rows.map((r) => [r.target, r]));
    expect(byId['environments/dev']).toMatchObject({
      namespace: 'ml-dev',
      replicas: '1 (hpa 1-2)',
      model: `${MODEL}@2`,
      image: 'ghcr.io/OWNER/model-server:latest',
    });
    expect(byId['environments/prod']).toMatchObject({
      namespace: 'ml-prod',
      replicas: '3 (hpa 3-10)',
      model: `${MODEL}@1`,
    });
    expect(byId['environments/staging']?.replicas).toBe('2 (hpa 2-4)');
    expect(formatTable(rows)).toMatch(
      /^environments\/prod +ml-prod +8 +3 \(hpa 3-10\) +demo-classifier@1 +ghcr/m,
    );

    const dev = report.targets.find((t) => t.target.id === 'environments/dev')!;
    const kinds = dev.objects.map((o) => o.kind).sort();
    expect(kinds).toEqual([
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
    const dep = dev.objects.find((o) => o.kind === 'Deployment')!;
    const env = Object.fromEntries(
      dep.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(env.SERVING_MODEL_VERSION).toBe('2');
    expect(env.SERVING_MODEL_SHA256).toBe(fakeEntry('2').rootDigest);
    expect(dep.spec.template.metadata.annotations['ml.gitops/model-version']).toBe('2');

    const out1 = join(root, 'out1');
    const out2 = join(root, 'out2');
    const paths = await writeRendered(out1, report);
    await writeRendered(out2, await renderAll({ root, kustomize: kustomize! }));
    expect(paths.map((p) => p.slice(out1.length + 1))).toEqual([
      'environments/dev.yaml',
      'environments/prod.yaml',
      'environments/staging.yaml',
      'manifests/argocd.yaml',
      'manifests/monitoring.yaml',
      'manifests/training-job.yaml',
    ]);
    for (const p of paths) {
      expect(await readFile(p, 'utf8')).toBe(await readFile(p.replace(out1, out2), 'utf8'));
    }
  });

  run(
    'the HPA scales on CPU; the hpa-requests-in-flight component adds in-flight requests per pod',
    async () => {
      const root = await pinnedRepo();
      const metricsOf = async () => {
        const report = await renderAll({ root, kustomize: kustomize!, envs: ['prod'] });
        const prod = report.targets.find((t) => t.target.id === 'environments/prod')!;
        return prod.objects.find((o) => o.kind === 'HorizontalPodAutoscaler')!.spec.metrics;
      };
      const cpu = {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
      };
      expect(await metricsOf()).toEqual([cpu]);
      await edit(
        root,
        'environments/prod/kustomization.yaml',
        'patches:\n',
        'components:\n  - ../../manifests/components/hpa-requests-in-flight\npatches:\n',
      );
      expect(await metricsOf()).toEqual([
        cpu,
        {
          type: 'Pods',
          pods: {
            metric: { name: 'serving_http_requests_in_flight' },
            target: { type: 'AverageValue', averageValue: '8' },
          },
        },
      ]);
    },
  );

  run('a pin that names a version not in the lock fails', async () => {
    const root = await pinnedRepo();
    await writePin(join(root, 'environments', 'dev'), { model: MODEL, version: '7', entry: fakeEntry('7') });
    expect(await problemsOf(root, ['dev'])).toEqual([
      `environments/dev: pins ${MODEL} version "7", which is not in models.lock.json (versions: 1, 2)`,
    ]);
  });

  run('a pin whose digests are not the lock entry fails', async () => {
    const root = await pinnedRepo();
    await writePin(join(root, 'environments', 'staging'), {
      model: MODEL,
      version: '2',
      entry: fakeEntry('1'),
    });
    expect(await problemsOf(root, ['staging'])).toEqual([
      `environments/staging: Deployment/model-server: SERVING_MODEL_URI is "mlflow-artifacts:/1/run1/artifacts/model", models.lock.json ${MODEL}@2 says "mlflow-artifacts:/1/run2/artifacts/model"`,
      `environments/staging: Deployment/model-server: SERVING_MODEL_DIGESTS differs from models.lock.json ${MODEL}@2 digests`,
      `environments/staging: Deployment/model-server: SERVING_MODEL_SHA256 is "${fakeEntry('1').rootDigest}", models.lock.json ${MODEL}@2 says "${fakeEntry('2').rootDigest}"`,
      `environments/staging: Deployment/model-server: pod annotation ml.gitops/model-sha256 is "${fakeEntry('1').rootDigest}", expected "${fakeEntry('2').rootDigest}"`,
    ]);
  });

  run('an environment without model-pin.yaml fails and names the promote command', async () => {
    const root = await pinnedRepo();
    await rm(join(root, 'environments', 'prod', 'model-pin.yaml'));
    expect(await problemsOf(root, ['prod'])).toEqual([
      'environments/prod: no model-pin.yaml: no model version is pinned to prod; promote one first (npm run promote -- --env prod)',
    ]);
  });

  run('a missing readiness probe fails in every environment', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/base/deployment.yaml', /\n {10}readinessProbe:\n(?: {12}.*\n)+/, '\n');
    expect(await problemsOf(root)).toEqual(
      ['dev', 'prod', 'staging'].map(
        (e) => `environments/${e}: Deployment/model-server container "server": no readinessProbe`,
      ),
    );
  });

  run('a missing memory limit fails', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/base/deployment.yaml', '              memory: 1Gi\n', '');
    await edit(root, 'environments/dev/resources.yaml', '              memory: 512Mi\n', '');
    expect(await problemsOf(root, ['dev'])).toEqual([
      'environments/dev: Deployment/model-server container "server": no resources.limits.memory',
    ]);
  });

  run('a container that may escalate privileges fails', async () => {
    const root = await pinnedRepo();
    await edit(
      root,
      'manifests/training-job/job.yaml',
      'allowPrivilegeEscalation: false',
      'allowPrivilegeEscalation: true',
    );
    expect(await problemsOf(root, ['dev'])).toEqual([
      'manifests/training-job: Job/model-training container "trainer": allowPrivilegeEscalation is not false',
    ]);
  });

  run('an object that breaks its schema fails, naming the field', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/base/hpa.yaml', 'averageUtilization: 70', 'averageUtilization: high');
    await edit(root, 'manifests/argocd/applicationset.yaml', 'goTemplate: true', 'goTemplate: "yes"');
    expect(await problemsOf(root)).toEqual([
      ...['dev', 'prod', 'staging'].map(
        (e) =>
          `environments/${e}: HorizontalPodAutoscaler/model-server: schema: /spec/metrics/0/resource/target/averageUtilization: must be integer`,
      ),
      'manifests/argocd: ApplicationSet/model-server: schema: /spec/goTemplate: must be boolean',
    ]);
  });

  run('a kind the AppProject does not allow fails', async () => {
    const root = await pinnedRepo();
    await edit(
      root,
      'manifests/argocd/appproject.yaml',
      '    - group: policy\n      kind: PodDisruptionBudget\n',
      '',
    );
    expect(await problemsOf(root)).toEqual(
      ['dev', 'prod', 'staging'].map(
        (e) =>
          `environments/${e}: kind PodDisruptionBudget (group "policy") is not in AppProject/ml-serving namespaceResourceWhitelist`,
      ),
    );
  });
});
