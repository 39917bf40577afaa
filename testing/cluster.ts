/**
 * The local cluster stack (tools/cluster: `npm run cluster -- up`), as tests
 * need it: `needs(clusterInstalled())`, or `clusterInstalled({ rollouts: true })`
 * for Argo Rollouts too. Missing, it names each missing build and the set-up
 * step that makes it (findClusterTools' message).
 */

import { expect } from '@jest/globals';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { ProjectError } from '../platform/errors.ts';
import { readManifests } from '../tools/cluster/kube.ts';
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
