import { describe, expect, it } from '@jest/globals';
import type { V1EnvVar, V1PodTemplateSpec } from '@kubernetes/client-node';
import { type ConfigMapData, type SecretData, templateEnv } from './pod-template.ts';

const template = (env: V1EnvVar[]): V1PodTemplateSpec => ({
  spec: { containers: [{ name: 'server', image: 'x', env, envFrom: [{ configMapRef: { name: 'cm' } }] }] },
});
const CM: Record<string, Record<string, string>> = { cm: { A: 'from-cm', B: 'from-cm', 'not a name': 'x' } };
const configMaps: ConfigMapData = async (name) => CM[name] ?? {};
const secrets: SecretData = async (name, key) => (name === 's' && key === 'k' ? 'from-secret' : undefined);
const secretEnv = (name: string, key: string, optional?: boolean): V1EnvVar => ({
  name: 'S',
  valueFrom: { secretKeyRef: { name, key, ...(optional === undefined ? {} : { optional }) } },
});

describe('templateEnv', () => {
  it('takes ConfigMap keys that are variable names, then env over them, and a Secret key as the kubelet does', async () => {
    const { env } = await templateEnv(
      template([{ name: 'B', value: 'from-env' }, secretEnv('s', 'k')]),
      'server',
      'here',
      configMaps,
      secrets,
    );
    expect(env).toEqual({ A: 'from-cm', B: 'from-env', S: 'from-secret' });
  });

  it('sets nothing for an optional Secret key that is not there, and refuses a required one', async () => {
    const optional = await templateEnv(
      template([secretEnv('s', 'other', true)]),
      'server',
      'here',
      configMaps,
      secrets,
    );
    expect(optional.env).not.toHaveProperty('S');
    await expect(
      templateEnv(template([secretEnv('gone', 'k')]), 'server', 'here', configMaps, secrets),
    ).rejects.toThrow('here: env S: Secret gone has no key k (the pod would not start)');
  });

  it('refuses a Secret reference when no Secrets are given, and any other valueFrom', async () => {
    await expect(templateEnv(template([secretEnv('s', 'k')]), 'server', 'here', configMaps)).rejects.toThrow(
      'here: env S takes its value from elsewhere (valueFrom)',
    );
    const field: V1EnvVar = { name: 'F', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
    await expect(templateEnv(template([field]), 'server', 'here', configMaps, secrets)).rejects.toThrow(
      'env F takes its value from elsewhere',
    );
  });
});
