import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildTrainingJob, loadJobTemplate } from './manifest.ts';
import { jobOutcome, parseResultLine, trainerTermination } from './result.ts';

const spec = {
  name: 'train-demo-1',
  namespace: 'ml-training',
  image: 'ghcr.io/acme/gitops-ml:abc',
  args: ['npm', 'run', 'train'],
};

describe('buildTrainingJob', () => {
  it('builds a GPU Job with a non-root security context', () => {
    const job = buildTrainingJob({ ...spec, env: { MLFLOW_TRACKING_URI: 'http://mlflow:5000' } });
    const pod = job.spec?.template.spec;
    const c = pod?.containers[0];
    expect(job.kind).toBe('Job');
    expect(job.spec?.backoffLimit).toBe(0);
    expect(pod?.restartPolicy).toBe('Never');
    expect(pod?.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(pod?.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(c?.name).toBe('trainer');
    expect(c?.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(c?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
    });
    expect(c?.env).toEqual([
      { name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow:5000' },
      { name: 'TRAIN_RESULT_FILE', value: '/dev/termination-log' },
    ]);
  });
  it('marks the checkout safe for git in both containers (the emptyDir is root\'s: "dubious ownership" otherwise)', () => {
    const job = buildTrainingJob({
      ...spec,
      git: { repository: 'https://example.com/r.git', ref: 'a'.repeat(40) },
    });
    const pod = job.spec?.template.spec;
    for (const c of [pod?.initContainers?.[0], pod?.containers[0]]) {
      expect(c?.env).toEqual(
        expect.arrayContaining([
          { name: 'GIT_CONFIG_COUNT', value: '1' },
          { name: 'GIT_CONFIG_KEY_0', value: 'safe.directory' },
          { name: 'GIT_CONFIG_VALUE_0', value: '/work/src' },
        ]),
      );
    }
  });
  it('drops the GPU limit for a CPU run', () => {
    const job = buildTrainingJob({ ...spec, gpus: 0 });
    expect(job.spec?.template.spec?.containers[0]?.resources?.limits).toEqual({ memory: '8Gi' });
  });
  it('rejects a name that is not a DNS-1123 label', () => {
    expect(() => buildTrainingJob({ ...spec, name: 'Train_1' })).toThrow(
      'Job name "Train_1" is not a DNS-1123 label',
    );
  });
  it('takes a template from a folder and overrides the run-specific fields', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'job-tpl-'));
    try {
      await writeFile(join(dir, 'kustomization.yaml'), 'resources: [job.yaml]\n');
      await writeFile(
        join(dir, 'job.yaml'),
        `apiVersion: batch/v1
kind: Job
metadata: {name: training, labels: {team: ml}}
spec:
  backoffLimit: 1
  template:
    spec:
      nodeSelector: {pool: a100}
      restartPolicy: Never
      containers:
        - name: trainer
          image: placeholder
          env: [{name: FOO, value: bar}]
`,
      );
      const tpl = await loadJobTemplate(dir);
      const job = buildTrainingJob(spec, tpl);
      expect(job.metadata?.name).toBe('train-demo-1');
      expect(job.metadata?.labels?.team).toBe('ml');
      expect(job.spec?.backoffLimit).toBe(1);
      expect(job.spec?.template.spec?.nodeSelector).toEqual({ pool: 'a100' });
      expect(job.spec?.template.spec?.containers[0]?.image).toBe(spec.image);
      expect(job.spec?.template.spec?.containers[0]?.env?.map((e) => e.name)).toEqual([
        'FOO',
        'TRAIN_RESULT_FILE',
      ]);
      await expect(loadJobTemplate(join(dir, 'missing'))).resolves.toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('result parsing', () => {
  it('takes the last JSON object line of the logs', () => {
    expect(parseResultLine('epoch 1\n{"a":1}\nepoch 2\n{"accuracy":0.9,"version":"3"}\n\n')).toEqual({
      accuracy: 0.9,
      version: '3',
    });
    expect(parseResultLine('no json here\n[1,2]\n{broken')).toBeUndefined();
  });
  it('reads terminal Job conditions', () => {
    expect(jobOutcome({ status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toEqual({
      state: 'succeeded',
    });
    expect(
      jobOutcome({
        status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] },
      })?.reason,
    ).toBe('BackoffLimitExceeded');
    expect(jobOutcome({ status: { conditions: [{ type: 'Failed', status: 'False' }] } })).toBeUndefined();
  });
  it('reads the trainer container termination', () => {
    const t = trainerTermination({
      status: {
        containerStatuses: [
          {
            name: 'trainer',
            image: 'x',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 3, message: '{"x":1}' } },
          },
        ],
      },
    });
    expect(t).toEqual({ exitCode: 3, message: '{"x":1}', reason: undefined });
  });
});
