/**
 * Which version a promotion moves (the model is chosen by lock
 * chooseModel): the version is named, or follows the environment's
 * `source` in the gates config (newest candidate for dev: the latest
 * `createdAt` among the versions never reverted, so the lock's content alone decides, whatever order two
 * candidates were merged in; the pin of the
 * environment before it for staging and prod: dev → staging → prod).
 */

import { type Lock, type LockedModel, revertsOf, versionsOldestFirst } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import type { GatesConfig } from './config.ts';

/** The rule of `env` in the gates config; NOT_FOUND naming the configured environments. */
export function ruleOf(config: GatesConfig, env: string, gatesPath: string) {
  const rule = config.environments[env];
  if (!rule) {
    throw new ProjectError(
      'NOT_FOUND',
      `${gatesPath} has no rule for environment "${env}" (environments: ${Object.keys(config.environments).sort().join(', ')})`,
      {
        subject: env,
        hint: `add "${env}" to ${gatesPath} in a reviewed pull request, or promote to one of those listed`,
      },
    );
  }
  return rule;
}

/**
 * The version to promote to `env`: `requested` when given (it must exist),
 * else by the rule's source: `newest` → the version trained last
 * (lock versionsOldestFirst: createdAt, then id); an
 * environment → the version pinned there.
 */
export function chooseVersion(
  lock: Lock,
  model: string,
  env: string,
  source: string,
  requested: string | undefined,
): string {
  const m = lock.models[model] as LockedModel;
  const known = versionsOldestFirst(m);
  if (requested !== undefined) {
    if (!m.versions[requested]) {
      throw new ProjectError(
        'NOT_FOUND',
        `model "${model}" has no version "${requested}" to promote to ${env} (versions: ${known.join(', ') || 'none'})`,
        { subject: `${model}@${requested}`, hint: 'name one of the versions listed with --version' },
      );
    }
    return requested;
  }
  if (source === 'newest') {
    // A version that a revert took out of an environment is no candidate any more (docs/rollout.md "Automatic revert").
    const candidates = known.filter((id) => revertsOf(lock, model, id).length === 0);
    const newest = candidates[candidates.length - 1];
    if (newest === undefined) {
      const why = known.length ? `every version (${known.join(', ')}) was reverted` : 'it has no versions';
      throw new ProjectError('NOT_FOUND', `model "${model}" has no candidate to promote to ${env}: ${why}`, {
        subject: model,
        hint: known.length
          ? 'train a new candidate, or promote a reverted one by name: --version <id> --allow-reverted "<why>"'
          : 'train a candidate first',
      });
    }
    return newest;
  }
  const pinned = m.pins[source];
  if (pinned === undefined) {
    throw new ProjectError(
      'NOT_FOUND',
      `${env} is promoted from ${source}, and ${source} has no pin for model "${model}" yet`,
      {
        subject: `${model}/${source}`,
        hint: `promote to ${source} first (npm run promote -- --env ${source})`,
      },
    );
  }
  return pinned;
}
