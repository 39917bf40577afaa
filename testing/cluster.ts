/**
 * The local cluster stack (tools/cluster: `npm run cluster -- up`), as tests
 * need it: `needs(clusterInstalled())`, or `clusterInstalled({ rollouts: true })`
 * for Argo Rollouts too. Missing, it names each missing build and the set-up
 * step that makes it (findClusterTools' message).
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { expect } from '@jest/globals';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { ProjectError } from '../platform/errors.ts';
import { readManifests } from '../tools/cluster/kube.ts';
import { clusterSources, type PodTemplateEnv, templateEnv } from '../tools/cluster/pod-template.ts';
import { findClusterTools, findRolloutsTools } from '../tools/cluster/tools.ts';
import { type Requirement, requirement } from './services.ts';

export function clusterInstalled(options: { rollouts?: boolean } = {}): Requirement {
  const name = options.rollouts ? 'the local cluster with Argo Rollouts' : 'the local cluster';
  try {
    findClusterTools();
    if (options.rollouts) findRolloutsTools();
    return requirement(name, 'built', '');
  } catch (e) {
    if (!(e instanceof ProjectError) || e.code !== 'NOT_FOUND') throw e;
    return requirement(name, undefined, e.message);
  }
}

/**
 * Every CRD in `files` (a project's own CRD manifests) is installed in the
 * cluster as shipped and Established. Every schema field made it,
 * x-kubernetes-int-or-string and x-kubernetes-preserve-unknown-fields
 * included: a client that drops them makes a CRD that prunes or refuses what
 * the controller writes. (Both sides are in @kubernetes/client-node's model,
 * which spells them xKubernetes....)
 */
export async function expectCrdsAsShipped(kc: KubeConfig, files: readonly string[]): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const count = (o: unknown) => JSON.stringify(o).split('"xKubernetes').length - 1;
  for (const file of files) {
    for (const source of (await readManifests(file)) as V1CustomResourceDefinition[]) {
      const name = source.metadata?.name as string;
      const crd = await ext.readCustomResourceDefinition({ name });
      expect({
        name,
        established: crd.status?.conditions?.find((c) => c.type === 'Established')?.status,
      }).toEqual({ name, established: 'True' });
      expect({ name, xKubernetes: count(crd.spec.versions) }).toEqual({
        name,
        xKubernetes: count(source.spec.versions),
      });
    }
  }
}

/**
 * The environment `container` of the pod template of a Deployment (or of a
 * ReplicaSet, e.g. one of an Argo Rollouts Rollout, whose pods run the
 * template its ReplicaSet was made from) would start with, read from the
 * cluster (tools/cluster/pod-template.ts templateEnv), at the owner's generation.
 */
export async function readTemplateEnv(
  kc: KubeConfig,
  namespace: string,
  kind: 'Deployment' | 'ReplicaSet',
  name: string,
  container: string,
): Promise<PodTemplateEnv> {
  const apps = kc.makeApiClient(AppsV1Api);
  const owner =
    kind === 'Deployment'
      ? await apps.readNamespacedDeployment({ name, namespace })
      : await apps.readNamespacedReplicaSet({ name, namespace });
  const where = `${kind} ${namespace}/${name}, container ${container}`;
  return {
    ...(await templateEnv(owner.spec?.template, container, where, ...clusterSources(kc, namespace))),
    generation: owner.metadata?.generation ?? 0,
  };
}

/**
 * The environment to start the container's program with here: `template.env`
 * with the projected files written under `dir` (same relative paths) and every
 * variable that names one of them pointed at the copy.
 */
export async function localPodEnv(template: PodTemplateEnv, dir: string): Promise<Record<string, string>> {
  const env = { ...template.env };
  for (const [path, text] of Object.entries(template.files)) {
    const here = join(dir, path);
    await mkdir(dirname(here), { recursive: true });
    await writeFile(here, text);
    for (const [k, v] of Object.entries(env)) if (v === path) env[k] = here;
  }
  return env;
}
