/**
 * submitTrainingJob against a real kube-apiserver + etcd (testing/kube.ts):
 * the Job and its pod template are validated by the real API server. No Job
 * controller or kubelet runs, so the test plays them: it creates the pod from
 * the Job's template, sets the pod's terminated state (with the trainer's
 * termination message) and writes the Job's terminal conditions.
 *
 * Not covered here: following real container logs (that needs a kubelet; the
 * API server answers the log request with an error, which submitTrainingJob
 * reports as `logs.streamed: false` and falls back to the termination message).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { BatchV1Api, CoreV1Api, type V1Job } from '@kubernetes/client-node';
import { initLock, readLock, versionIdOf } from '../../../lock/index.ts';
import { ProjectError } from '../../../platform/errors.ts';
import { main as trainMain } from '../../../scripts/train.ts';
import {
  ensureNamespace,
  type KubeApiServer,
  kubeApiServerInstalled,
  startKubeApiServer,
} from '../../../testing/kube.ts';
import { fakeFiles, makeEntry } from '../../../testing/lock/fixtures.ts';
import { needs } from '../../../testing/services.ts';
import { type Cluster, loadCluster } from '../../verify/index.ts';
import { CHECKOUT_SCRIPT, submitTrainingJob } from './index.ts';

const NS = 'ml-training';
/** The commit a Job is asked to check out. */
const SHA = 'c0ffee'.padEnd(40, '0');
let kube: KubeApiServer | undefined;
let cluster: Cluster;
let batch: BatchV1Api;
let core: CoreV1Api;

// Every test needs the API server; jest runs no hook of a file whose tests are all skipped.
const withKube = needs(...kubeApiServerInstalled()).it;

beforeAll(async () => {
  kube = await startKubeApiServer();
  cluster = loadCluster({ kubeconfig: kube.kubeconfigPath });
  batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await ensureNamespace(cluster.kubeConfig, NS);
}, 180_000);

afterAll(async () => {
  await kube?.stop();
});

async function waitForJob(name: string): Promise<V1Job> {
  for (;;) {
    try {
      return await batch.readNamespacedJob({ name, namespace: NS });
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Play the Job controller and the kubelet: run one pod of the Job to the end with `exitCode`. */
async function finishJob(name: string, exitCode: number, terminationMessage: string): Promise<void> {
  const job = await waitForJob(name);
  const tpl = job.spec?.template;
  const podName = `${name}-abcde`;
  const pod = await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: {
        name: podName,
        labels: tpl?.metadata?.labels,
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata?.uid ?? '', controller: true },
        ],
      },
      spec: { ...tpl?.spec, containers: tpl?.spec?.containers ?? [] },
    },
  });
  const now = new Date();
  await core.replaceNamespacedPodStatus({
    name: podName,
    namespace: NS,
    body: {
      ...pod,
      status: {
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        startTime: now,
        containerStatuses: [
          {
            name: 'trainer',
            image: tpl?.spec?.containers[0]?.image ?? '',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: {
              terminated: {
                exitCode,
                reason: exitCode === 0 ? 'Completed' : 'Error',
                message: terminationMessage,
                startedAt: now,
                finishedAt: now,
              },
            },
          },
        ],
      },
    },
  });
  const fresh = await batch.readNamespacedJob({ name, namespace: NS });
  const conditions =
    exitCode === 0
      ? [
          {
            type: 'SuccessCriteriaMet',
            status: 'True',
            reason: 'CompletionsReached',
            lastProbeTime: now,
            lastTransitionTime: now,
          },
          {
            type: 'Complete',
            status: 'True',
            reason: 'CompletionsReached',
            lastProbeTime: now,
            lastTransitionTime: now,
          },
        ]
      : [
          {
            type: 'FailureTarget',
            status: 'True',
            reason: 'BackoffLimitExceeded',
            message: 'Job has reached the specified backoff limit',
            lastProbeTime: now,
            lastTransitionTime: now,
          },
          {
            type: 'Failed',
            status: 'True',
            reason: 'BackoffLimitExceeded',
            message: 'Job has reached the specified backoff limit',
            lastProbeTime: now,
            lastTransitionTime: now,
          },
        ];
  await batch.replaceNamespacedJobStatus({
    name,
    namespace: NS,
    body: {
      ...fresh,
      status: {
        startTime: now,
        ...(exitCode === 0 ? { completionTime: now, succeeded: 1 } : { failed: 1 }),
        active: 0,
        ready: 0,
        terminating: 0,
        uncountedTerminatedPods: {},
        conditions,
      },
    },
  });
}

const base = {
  namespace: NS,
  image: 'ghcr.io/acme/gitops-ml:test',
  args: ['npm', 'run', 'train', '--', '--config', 'training/configs/default.json'],
  pollMs: 100,
  maxPollMs: 300,
  timeoutMs: 30_000,
};

describe('submitTrainingJob against a real API server', () => {
  withKube('submits the GPU Job, waits for Complete and returns the trainer result', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    const pending = submitTrainingJob(
      { ...base, name: 'train-ok' },
      { cluster, stdout: out, log: (l) => lines.push(l) },
    );
    await finishJob('train-ok', 0, '{"model":"demo-classifier","version":"4","metrics":{"accuracy":0.93}}');
    const result = await pending;
    expect(result).toMatchObject({
      jobName: 'train-ok',
      namespace: NS,
      state: 'succeeded',
      reason: 'CompletionsReached',
      podName: 'train-ok-abcde',
      exitCode: 0,
      result: { model: 'demo-classifier', version: '4', metrics: { accuracy: 0.93 } },
      resultSource: 'termination-message',
    });
    // No kubelet runs here: the API server cannot serve logs, and the result says so.
    expect(result.logs.streamed).toBe(false);
    expect(result.logs.error).toMatch(/^logs of pod train-ok-abcde: /);
    expect(lines[0]).toBe(`submitted Job ${NS}/train-ok (image ghcr.io/acme/gitops-ml:test, 1 GPU)`);
    // What the API server stored is the GPU Job we built.
    const stored = await batch.readNamespacedJob({ name: 'train-ok', namespace: NS });
    const c = stored.spec?.template.spec?.containers[0];
    expect(c?.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(stored.spec?.template.spec?.tolerations?.[0]?.key).toBe('nvidia.com/gpu');
    expect(stored.spec?.template.spec?.securityContext?.runAsNonRoot).toBe(true);
  });

  withKube(
    'submits the repository template manifests/training-job/job.yaml, accepted by the API server',
    async () => {
      const templateDir = fileURLToPath(new URL('../../../manifests/training-job', import.meta.url));
      await core
        .createNamespacedServiceAccount({
          namespace: NS,
          body: { metadata: { name: 'model-training' }, automountServiceAccountToken: false },
        })
        .catch(() => {});
      const pending = submitTrainingJob(
        { ...base, name: 'train-tpl', templateDir, gpus: 2 },
        { cluster, stdout: new PassThrough() },
      );
      await finishJob('train-tpl', 0, 'done\n{"version":"5"}');
      const result = await pending;
      expect(result).toMatchObject({ state: 'succeeded', exitCode: 0, result: { version: '5' } });
      const stored = await batch.readNamespacedJob({ name: 'train-tpl', namespace: NS });
      const c = stored.spec?.template.spec?.containers[0];
      expect(stored.spec?.template.spec?.serviceAccountName).toBe('model-training');
      expect(c?.image).toBe(base.image);
      expect(c?.args).toEqual(base.args);
      expect(c?.resources?.requests?.['nvidia.com/gpu']).toBe('2');
      expect(c?.resources?.limits?.['nvidia.com/gpu']).toBe('2');
      expect(c?.env?.find((e) => e.name === 'TRAIN_RESULT_FILE')?.value).toBe('/dev/termination-log');
    },
  );

  withKube('returns a failed Job with its reason and exit code', async () => {
    const pending = submitTrainingJob(
      { ...base, name: 'train-fail' },
      { cluster, stdout: new PassThrough() },
    );
    await finishJob('train-fail', 2, 'Error: dataset digest mismatch\n');
    const result = await pending;
    expect(result).toMatchObject({ state: 'failed', reason: 'BackoffLimitExceeded', exitCode: 2 });
    expect(result.result).toBeUndefined();
  });

  withKube('refuses a Job name that already exists', async () => {
    const err = await submitTrainingJob(
      { ...base, name: 'train-ok' },
      { cluster, stdout: new PassThrough() },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('CONFLICT');
    expect((err as Error).message).toContain(`Job ${NS}/train-ok already exists on ${kube!.server}`);
  });

  withKube('times out with what it saw when nothing runs the Job', async () => {
    const err = await submitTrainingJob(
      { ...base, name: 'train-stuck', timeoutMs: 600 },
      { cluster, stdout: new PassThrough() },
    ).catch((e) => e);
    expect((err as Error).message).toContain(
      `Job ${NS}/train-stuck did not finish in time: 0 active pod(s), last pod none`,
    );
  });
  withKube(
    '`scripts/train.ts --on kubernetes` submits the Job from manifests/training-job: a checkout of the ref, then the trainer in it',
    async () => {
      const out = new PassThrough();
      const printed: string[] = [];
      const repo = fileURLToPath(new URL('../../../', import.meta.url));
      const pending = trainMain(
        [
          ...['--config', join(repo, 'training/configs/demo.json'), '--out', 'unused', '--on', 'kubernetes'],
          ...['--image', 'ghcr.io/acme/gitops-ml:pr-7', '--namespace', NS, '--job-name', 'train-script'],
          ...['--git-repo', 'https://github.com/acme/models.git', '--git-ref', SHA],
          ...['--kubeconfig', kube!.kubeconfigPath],
        ],
        {
          env: {},
          cwd: repo,
          stdout: out,
          print: (l) => printed.push(l),
          templateDir: join(repo, 'manifests/training-job'),
        },
      );
      await finishJob('train-script', 0, '{"model":"demo-classifier","accuracy":0.97,"runId":"r1"}');
      expect(await pending).toBe(0);
      const table = printed.join('\n');
      expect(table).toMatch(/^job\s+ml-training\/train-script$/m);
      expect(table).toMatch(/^state\s+succeeded \(CompletionsReached\)$/m);
      expect(table).toMatch(new RegExp(`^checkout\\s+${SHA} of https://github.com/acme/models.git$`, 'm'));
      expect(table).toMatch(/^accuracy\s+0\.97$/m);
      const stored = await batch.readNamespacedJob({ name: 'train-script', namespace: NS });
      const pod = stored.spec?.template.spec;
      const c = pod?.containers[0];
      expect(c?.image).toBe('ghcr.io/acme/gitops-ml:pr-7');
      // The config by its path in the repository: the Job reads it from its checkout.
      expect(c?.args).toEqual([
        ...['npm', 'run', 'train', '--', '--config', 'training/configs/demo.json'],
        ...['--out', '/work/runs/artifact', '--no-progress'],
      ]);
      expect(c?.workingDir).toBe('/work/src');
      const env = (list: { name: string; value?: string }[] | undefined) =>
        Object.fromEntries((list ?? []).map((e) => [e.name, e.value]));
      expect(env(c?.env)).toMatchObject({
        TRAINING_GIT_REPOSITORY: 'https://github.com/acme/models.git',
        TRAINING_GIT_REF: SHA,
      });
      const checkout = pod?.initContainers?.[0];
      expect(checkout?.name).toBe('checkout');
      expect(checkout?.image).toBe('ghcr.io/acme/gitops-ml:pr-7');
      expect(checkout?.command).toEqual(['sh', '-c', CHECKOUT_SCRIPT]);
      expect(env(checkout?.env)).toMatchObject({ TRAINING_GIT_REF: SHA, HOME: '/tmp' });
      expect(checkout?.volumeMounts?.map((m) => m.mountPath)).toContain('/work/src');
      expect(checkout?.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(pod?.volumes?.map((v) => v.name)).toContain('src');
      // The template's secret reference for the MLflow token stays a reference.
      expect(c?.env?.find((e) => e.name === 'MLFLOW_TRACKING_TOKEN')?.valueFrom?.secretKeyRef?.name).toBe(
        'mlflow-credentials',
      );
    },
  );

  withKube(
    '`--on kubernetes --lock` adds the candidate the Job reports to the lock, exactly as training on the runner does',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kube-lock-'));
      try {
        const lockPath = join(dir, 'models.lock.json');
        await initLock(lockPath);
        const entry = makeEntry(fakeFiles(41), { artifactUri: 'mlflow-artifacts:/3/abc/artifacts/model' });
        const printed: string[] = [];
        const pending = trainMain(
          [
            ...['--config', 'training/configs/demo.json', '--out', 'unused', '--on', 'kubernetes'],
            ...['--image', 'img:1', '--namespace', NS, '--job-name', 'train-lock', '--lock', lockPath],
            ...['--git-repo', 'https://github.com/acme/models.git', '--git-ref', SHA],
            ...['--kubeconfig', kube!.kubeconfigPath],
          ],
          {
            env: {},
            stdout: new PassThrough(),
            print: (l) => printed.push(l),
            templateDir: 'manifests/training-job',
          },
        );
        // What scripts/train.ts writes inside the Job: its summary with the lock entry.
        await finishJob('train-lock', 0, JSON.stringify({ model: 'demo-classifier', runId: 'abc', entry }));
        expect(await pending).toBe(0);
        const lock = await readLock(lockPath);
        const version = versionIdOf(entry.rootDigest);
        expect(lock.models['demo-classifier']?.versions[version]).toEqual(entry);
        expect(printed.join('\n')).toMatch(
          new RegExp(`^lock version\\s+demo-classifier ${version} \\(candidate\\)$`, 'm'),
        );

        // A run that never reached MLflow left its artifact in the pod: refused, the lock unchanged.
        const before = await readFile(lockPath, 'utf8');
        const local = makeEntry(fakeFiles(42), { artifactUri: '/work/runs/artifact' });
        const refused = trainMain(
          [
            ...['--config', 'training/configs/demo.json', '--out', 'unused', '--on', 'kubernetes'],
            ...['--image', 'img:1', '--namespace', NS, '--job-name', 'train-lock-local', '--lock', lockPath],
            ...['--git-repo', 'https://github.com/acme/models.git', '--git-ref', SHA],
            ...['--kubeconfig', kube!.kubeconfigPath],
          ],
          { env: {}, stdout: new PassThrough(), print: () => {}, templateDir: 'manifests/training-job' },
        ).catch((e: unknown) => e);
        await finishJob('train-lock-local', 0, JSON.stringify({ model: 'demo-classifier', entry: local }));
        const err = await refused;
        expect((err as Error).message).toContain(
          `Job ${NS}/train-lock-local: the run's artifact stayed in the pod (/work/runs/artifact)`,
        );
        expect(await readFile(lockPath, 'utf8')).toBe(before);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  withKube('`scripts/train.ts --on kubernetes` exits 1 when the Job fails', async () => {
    const pending = trainMain(
      [
        ...['--config', 'training/configs/demo.json', '--out', 'x', '--on', 'kubernetes'],
        ...['--image', 'img:1', '--namespace', NS, '--job-name', 'train-script-fail'],
        ...['--kubeconfig', kube!.kubeconfigPath, '--git-repo', 'https://github.com/acme/models.git'],
        ...['--git-ref', SHA],
      ],
      { env: {}, stdout: new PassThrough(), print: () => {}, templateDir: 'manifests/training-job' },
    ).catch((e: unknown) => e);
    await finishJob('train-script-fail', 1, 'out of memory');
    const err = await pending;
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).message).toMatch(
      /^training Job ml-training\/train-script-fail failed \(BackoffLimitExceeded\)/,
    );
  });
});
