/**
 * Test helper: Kustomize as tests need it, `needs(kustomizeInstalled())`
 * (lib/testing/services.ts). Which one runs (`kubectl kustomize` with
 * Kustomize v5, else `kustomize build`) is findKustomize()'s choice, made in
 * the test's beforeAll: a kubectl too old with no kustomize beside it fails
 * there, naming the set-up step.
 */
import { type Requirement, requirement } from '../../testing/services.ts';
import { findTool } from '../tools.ts';

export const kustomizeInstalled = (): Requirement =>
  requirement(
    'kubectl or kustomize',
    findTool('kubectl') ?? findTool('kustomize'),
    'run `bash scripts/setup.d/20-kube-tools.sh` (builds kustomize into ~/.cache/gitops-ml/bin)',
  );
