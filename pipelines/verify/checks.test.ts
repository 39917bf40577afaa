import { describe, expect, it } from '@jest/globals';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import {
  checkApplication,
  checkDeployment,
  checkPods,
  checkRolloutOfDeployment,
  selectorToString,
} from './checks.ts';

const deployment = (
  over: {
    version?: string;
    env?: string;
    status?: V1Deployment['status'];
    generation?: number;
    replicas?: number;
  } = {},
): V1Deployment => ({
  metadata: { name: 'model-server', namespace: 'ml-dev', generation: over.generation ?? 2 },
  spec: {
    replicas: over.replicas ?? 2,
    selector: { matchLabels: { app: 'model-server' } },
    template: {
      metadata: { annotations: { 'ml.gitops/model-version': over.version ?? '3' } },
      spec: {
        containers: [
          {
            name: 'server',
            image: 'x',
            env: [{ name: 'SERVING_MODEL_VERSION', value: over.env ?? over.version ?? '3' }],
          },
        ],
      },
    },
  },
  status: over.status ?? {
    observedGeneration: 2,
    replicas: 2,
    updatedReplicas: 2,
    availableReplicas: 2,
    readyReplicas: 2,
  },
});

const pod = (name: string, version: string, ready = true): V1Pod => ({
  metadata: { name, annotations: { 'ml.gitops/model-version': version } },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('checkApplication', () => {
  it('passes when Synced and Healthy', () => {
    expect(
      checkApplication({ status: { sync: { status: 'Synced' }, health: { status: 'Healthy' } } }),
    ).toEqual({
      ok: true,
      state: 'ok',
      detail: 'sync=Synced health=Healthy',
    });
  });
  it('waits and says what it saw when OutOfSync', () => {
    const r = checkApplication({
      status: { sync: { status: 'OutOfSync' }, health: { status: 'Progressing' } },
    });
    expect(r.ok).toBe(false);
    expect(r.detail).toBe('sync=OutOfSync health=Progressing');
  });
  it('requires the revision when given, accepting a 7+ character prefix', () => {
    const app = {
      status: { sync: { status: 'Synced', revision: 'abcdef0123456789' }, health: { status: 'Healthy' } },
    };
    expect(checkApplication(app, 'abcdef0').ok).toBe(true);
    const r = checkApplication(app, '1234567');
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('(expected 1234567)');
  });
  it('reports a missing Application', () => {
    expect(checkApplication(undefined)).toEqual({ ok: false, state: 'waiting', detail: 'not found' });
  });
});

describe('checkDeployment', () => {
  it('passes a complete rollout at the pinned version', () => {
    const r = checkDeployment(deployment(), '3');
    expect(r.ok).toBe(true);
    expect(r.detail).toBe('2/2 updated, 2 available, template version 3');
  });
  it('waits while replicas are being updated', () => {
    const r = checkDeployment(
      deployment({
        status: { observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 0 },
      }),
      '3',
    );
    expect(r.ok).toBe(false);
    expect(r.detail).toBe('1/2 updated, 0 available, 2 old, template version 3');
  });
  it('waits until the new generation is observed', () => {
    const r = checkDeployment(deployment({ generation: 3 }), '3');
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('generation 3 not observed yet (observed 2)');
  });
  it('names the version the template carries when it is not the pin', () => {
    const r = checkDeployment(deployment({ version: '2' }), '3');
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('annotation ml.gitops/model-version is 2, expected 3');
    expect(r.detail).toContain('SERVING_MODEL_VERSION is 2, expected 3');
  });
  it('catches an env var that disagrees with the annotation', () => {
    const r = checkDeployment(deployment({ version: '3', env: '2' }), '3');
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('SERVING_MODEL_VERSION is 2, expected 3');
  });
});

describe('checkPods', () => {
  it('passes when every Ready pod carries the version', () => {
    const r = checkPods([pod('b', '3'), pod('a', '3'), pod('c', '2', false)], '3');
    expect(r.ok).toBe(true);
    expect(r.detail).toBe('a (version 3, Ready), b (version 3, Ready), c (version 2, Running)');
  });
  it('fails while an old Ready pod still serves', () => {
    const r = checkPods([pod('a', '3'), pod('b', '2')], '3');
    expect(r.ok).toBe(false);
    expect(r.detail).toBe('a (version 3, Ready), b (version 2, Ready); 1 Ready pod(s) not at version 3');
  });
  it('needs at least one Ready pod', () => {
    expect(checkPods([], '3').detail).toBe('none found');
    expect(checkPods([pod('a', '3', false)], '3').detail).toBe('a (version 3, Running); none Ready');
  });
});

describe('selectorToString', () => {
  it('writes matchLabels sorted and matchExpressions', () => {
    expect(
      selectorToString({
        matchLabels: { b: '2', a: '1' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['x', 'y'] },
          { key: 'old', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('a=1,b=2,tier in (x,y),!old');
  });
});

describe('checkRolloutOfDeployment (a Deployment an Argo Rollouts Rollout runs)', () => {
  const template = deployment({ replicas: 0, generation: 4, status: {} });
  const healthy = {
    phase: 'Healthy',
    stableRS: 'abc',
    currentPodHash: 'abc',
    availableReplicas: 2,
    workloadObservedGeneration: '4',
  };
  it('is ok once the Rollout read the template, promoted it and has pods available', () => {
    expect(checkRolloutOfDeployment({ status: healthy }, template, '3')).toEqual({
      ok: true,
      state: 'ok',
      detail: 'phase Healthy, stable abc, current abc, 2 available, template version 3',
    });
  });
  it('waits for a canary in progress, an unread template, an abort or another version, naming each', () => {
    expect(
      checkRolloutOfDeployment(
        { status: { ...healthy, phase: 'Paused', currentPodHash: 'def', message: 'CanaryPauseStep' } },
        template,
        '3',
      ).detail,
    ).toBe(
      'phase Paused, stable abc, current def, 2 available, template version 3; canary def not promoted yet (CanaryPauseStep)',
    );
    expect(
      checkRolloutOfDeployment({ status: { ...healthy, workloadObservedGeneration: '3' } }, template, '3'),
    ).toMatchObject({
      ok: false,
      detail: expect.stringContaining('Deployment generation 4 not read by the Rollout yet (read 3)'),
    });
    expect(
      checkRolloutOfDeployment(
        {
          status: {
            ...healthy,
            phase: 'Degraded',
            abort: true,
            currentPodHash: 'def',
            message: 'RolloutAborted: Rollout aborted update to revision 3',
          },
        },
        template,
        '3',
      ),
    ).toMatchObject({
      ok: false,
      detail: expect.stringContaining('aborted: RolloutAborted: Rollout aborted update to revision 3'),
    });
    expect(checkRolloutOfDeployment({ status: healthy }, template, '4')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('annotation ml.gitops/model-version is 3, expected 4'),
    });
  });
});
