/**
 * The render check of a move: before the lock is written, the environment
 * is rendered with real Kustomize against the new pin and lock (gitops
 * renderAll: schemas and policies), so a pin that breaks the overlay is
 * refused with nothing changed.
 */
import { join } from 'node:path';
import { findKustomize, renderAll } from '../../gitops/index.ts';
import { LOCK_FILE_NAME, type Lock } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';

/** Render environment `name` of the repository at `root` with `lock` (not written yet); `env` finds Kustomize. */
export function renderCheck(root: string, env: NodeJS.ProcessEnv) {
  return async (lock: Lock, name: string): Promise<void> => {
    const kustomize = await findKustomize(env).catch((e: ProjectError) => {
      throw new ProjectError('NOT_FOUND', e.message.split('\n')[0] as string, {
        subject: 'kustomize',
        hint: 'run `bash scripts/setup.d/20-kube-tools.sh`, or pass --no-render to skip the render check',
        cause: e,
      });
    });
    try {
      await renderAll({ root, lock, lockPath: join(root, LOCK_FILE_NAME), kustomize, envs: [name] });
    } catch (e) {
      if (e instanceof ProjectError) {
        throw new ProjectError(e.code, `the ${name} overlay does not render with the new pin: ${e.message}`, {
          subject: `environments/${name}`,
          cause: e,
          hint: 'nothing was changed; fix the overlay or the manifests first',
        });
      }
      throw e;
    }
  };
}
