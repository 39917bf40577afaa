/**
 * `npm run cluster -- argocd`: README step 4 on the local cluster. Applies
 * what `kubectl apply -k manifests/argocd` and `kubectl apply -k
 * manifests/ci-access` apply (rendered by real Kustomize), with one change:
 * the Argo CD objects' GitHub repository URL (the fork's, or the template's
 * placeholder) becomes the local Git server's, which serves this checkout's
 * git directory, so Argo CD syncs the environments from the local commits.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { findKustomize, runKustomize } from '../../gitops/index.ts';
import { applyObjects, parseManifests } from './kube.ts';

/** The folders step 4 applies, in order. */
export const ARGOCD_FOLDERS = ['manifests/argocd', 'manifests/ci-access'] as const;

const GITHUB_REPO_URL = /https:\/\/github\.com\/[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+?\.git\b/g;

/** `text` with every GitHub repository URL (`https://github.com/<owner>/<name>.git`) replaced by `gitUrl`. */
export function pointAtLocalGit(text: string, gitUrl: string): string {
  return text.replace(GITHUB_REPO_URL, gitUrl);
}

/** Render and apply {@link ARGOCD_FOLDERS} of `root` (server-side apply); resolves to what was applied, per folder. */
export async function applyArgoCd(
  kc: KubeConfig,
  root: string,
  gitUrl: string,
): Promise<{ folder: string; objects: string[] }[]> {
  const kustomize = await findKustomize();
  const out: { folder: string; objects: string[] }[] = [];
  for (const folder of ARGOCD_FOLDERS) {
    const text = pointAtLocalGit(await runKustomize(kustomize, `${root}/${folder}`), gitUrl);
    const objects = parseManifests(text, folder);
    await applyObjects(kc, objects);
    out.push({
      folder,
      objects: objects.map(
        (o) => `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`,
      ),
    });
  }
  return out;
}
