/**
 * Test helper: Kustomize as tests need it, `needs(kustomizeInstalled())`
 * (testing/services.ts). Which one runs (`kubectl kustomize` with
 * Kustomize v5, else `kustomize build`) is findKustomize()'s choice, made in
 * the test's beforeAll: a kubectl too old with no kustomize beside it fails
 * there, naming the set-up step.
 */

import { findTool } from '../../gitops/tools.ts';
import { type Requirement, requirement } from '../services.ts';

export const kustomizeInstalled = (): Requirement =>
  requirement(
    'kubectl or kustomize',
    findTool('kubectl') ?? findTool('kustomize'),
    'run `bash scripts/setup.d/20-kube-tools.sh` (builds kustomize into ~/.cache/gitops-ml/bin)',
  );
