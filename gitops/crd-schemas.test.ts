import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { needs, requirement } from '../testing/services.ts';
import { ARGO_ROLLOUTS_VERSION, argoRolloutsDir } from '../tools/cluster/tools.ts';
import {
  ARGO_ROLLOUTS_SCHEMA_VERSION,
  crdSchemaFilePath,
  generateCrdSchemaFile,
  strictSchema,
} from './crd-schemas.ts';
import { schemaProblems } from './schemas.ts';

const rollout = (spec: Record<string, unknown>) => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'model-server' },
  spec: {
    selector: { matchLabels: { a: 'b' } },
    workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'model-server', scaleDown: 'onsuccess' },
    ...spec,
  },
});

describe('Argo Rollouts schemas from its CRDs', () => {
  test('are of the version the set-up step builds', () => {
    expect(ARGO_ROLLOUTS_SCHEMA_VERSION).toBe(ARGO_ROLLOUTS_VERSION);
  });

  test('a Rollout with canary steps and an AnalysisTemplate with a Prometheus metric are valid', async () => {
    expect(
      await schemaProblems(
        rollout({
          strategy: {
            canary: {
              steps: [
                { setWeight: 25 },
                { pause: { duration: '2m' } },
                {
                  analysis: {
                    templates: [{ templateName: 't' }],
                    args: [{ name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } }],
                  },
                },
              ],
            },
          },
        }),
      ),
    ).toEqual([]);
    expect(
      await schemaProblems({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 't' },
        spec: {
          args: [{ name: 'canary-hash' }],
          metrics: [
            {
              name: 'error-ratio',
              interval: '1m',
              successCondition: 'result[0] <= 0.01',
              provider: { prometheus: { address: 'http://p:9090', query: 'vector(0)', timeout: 30 } },
            },
          ],
        },
      }),
    ).toEqual([]);
  });

  test('a misspelled field and a wrong type are named (strict field validation, as the API server does)', async () => {
    expect(
      await schemaProblems(
        rollout({
          workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', scaledown: 'never' },
          strategy: { canary: { steps: [{ setWeight: 'half' }] } },
        }),
      ),
    ).toEqual([
      '/spec/strategy/canary/steps/0/setWeight: must be integer',
      '/spec/workloadRef: unknown field "scaledown"',
    ]);
    expect(
      await schemaProblems({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 't' },
        spec: { metrics: [{ name: 'm', provider: { prometheus: { adress: 'http://p' } } }] },
      }),
    ).toEqual(['/spec/metrics/0/provider/prometheus: unknown field "adress"']);
  });

  test('strictSchema closes declared objects, except where unknown fields are preserved', () => {
    expect(
      strictSchema({
        type: 'object',
        required: ['properties'],
        properties: {
          properties: { type: 'object', properties: { a: { type: 'string' } } },
          free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: {} },
          map: { type: 'object', additionalProperties: { type: 'string' } },
        },
      }),
    ).toEqual({
      type: 'object',
      required: ['properties'],
      additionalProperties: false,
      properties: {
        properties: { type: 'object', additionalProperties: false, properties: { a: { type: 'string' } } },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: {} },
        map: { type: 'object', additionalProperties: { type: 'string' } },
      },
    });
  });
});

const crds = join(argoRolloutsDir(), 'crds');
const copied = requirement(
  "Argo Rollouts' CRDs",
  existsSync(join(crds, 'rollout-crd.yaml')) ? crds : undefined,
  'run `bash scripts/setup.d/64-argo-rollouts.sh`',
);
needs(copied).describe('the kept schema file', () => {
  test('is what `npm run crd-schemas` makes of the CRDs the set-up step copied out of the module', async () => {
    expect(await readFile(crdSchemaFilePath(), 'utf8')).toBe(await generateCrdSchemaFile(crds));
  });
});
