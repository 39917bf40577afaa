/**
 * Who and where a promotion runs, read once from the environment at the
 * edge. In GitHub Actions (GITHUB_ACTIONS=true) the workflow context must be
 * complete: a promotion record names its actor, and a run without it is not
 * the run promote.yml gives.
 * @see https://docs.github.com/en/actions/reference/variables-reference
 */
import { ProjectError } from '../../platform/errors.ts';

export interface PromotionEnv {
  /** Who promotes: GITHUB_ACTOR in Actions, else USER (or undefined). */
  by?: string;
  inActions: boolean;
  /** The commit the workflow runs on (GITHUB_SHA), in Actions. */
  sha?: string;
}

/** The GitHub context variables a promotion in Actions needs. */
export const REQUIRED_ACTIONS_VARS = ['GITHUB_ACTOR', 'GITHUB_REPOSITORY', 'GITHUB_SHA'] as const;

/** Read the promotion's context; INVALID naming every missing variable when Actions' context is incomplete. */
export function promotionEnvFrom(env: Record<string, string | undefined>): PromotionEnv {
  if (env.GITHUB_ACTIONS !== 'true') {
    const by = env.PROMOTE_BY || env.GITHUB_ACTOR || env.USER;
    return { inActions: false, ...(by ? { by } : {}) };
  }
  const missing = REQUIRED_ACTIONS_VARS.filter((k) => !env[k]);
  if (missing.length) {
    throw new ProjectError(
      'INVALID',
      `GITHUB_ACTIONS=true but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set: this is not the context a GitHub Actions job gives, so the promotion cannot say who made it`,
      {
        subject: missing[0],
        details: { missing },
        hint: 'run it from .github/workflows/promote.yml, or locally without GITHUB_ACTIONS=true',
      },
    );
  }
  const sha = env.GITHUB_SHA as string;
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) {
    throw new ProjectError('INVALID', `GITHUB_SHA "${sha}" is not a commit id (40 hex digits)`, {
      subject: 'GITHUB_SHA',
    });
  }
  return { inActions: true, by: env.GITHUB_ACTOR as string, sha };
}
