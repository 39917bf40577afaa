/**
 * The local cluster stack (lib/cluster: `npm run cluster -- up`), as tests
 * need it: `needs(clusterInstalled())`, or `clusterInstalled({ rollouts: true })`
 * for Argo Rollouts too. Missing, it names each missing build and the set-up
 * step that makes it (findClusterTools' message).
 */

import { findClusterTools, findRolloutsTools } from '../cluster/tools.ts';
import { ProjectError } from '../errors.ts';
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
