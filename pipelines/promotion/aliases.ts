/**
 * MLflow's registry shows what runs where: after every move of a pin (a
 * promotion, a rollback, a revert, or a re-run that finds the pin already
 * there), the registered model version of the pinned lock entry gets the
 * environment's alias (`dev`, `staging`, `prod`; prod also `champion`, the
 * name MLflow's docs give the model in production), through platform/mlflow's
 * client and its rule for credentials (sent only to the tracking server's own
 * origin). Git is the truth and the alias a view of it: an alias that cannot
 * be moved is said, with the exact call that moves it, and the promotion
 * stands; a version with no registered model version (a local run) is said,
 * not an error.
 * @see https://mlflow.org/docs/latest/api_reference/rest-api.html#set-registered-model-alias
 * @see https://mlflow.org/docs/latest/ml/model-registry/#deploy-and-organize-models-with-aliases-and-tags
 */
import { readLock } from '../../lock/index.ts';
import type { MlflowClient } from '../../platform/mlflow/index.ts';
import { originOf } from '../../platform/mlflow/index.ts';
import type { PromotionContext } from './context.ts';
import type { PromoteResult } from './move.ts';

/** The aliases an environment's model version carries in MLflow's registry. */
export function aliasesOf(env: string): string[] {
  return env === 'prod' ? ['prod', 'champion'] : [env];
}

/** What the alias step did. */
export interface AliasOutcome {
  /** `set`: every alias points at the version now; the others: nothing was moved, and `message` says why. */
  status: 'set' | 'no-registered-version' | 'other-server' | 'no-tracking-server' | 'failed';
  aliases: string[];
  /** The registered model version, when the lock entry names one. */
  modelVersion?: string;
  /** The line printed. */
  message: string;
}

/** The REST call that sets `alias`, for a person to run when the tracking server answers again. */
function curlOf(uri: string, name: string, alias: string, version: string): string {
  const body = JSON.stringify({ name, alias, version });
  return `curl -fsS -X POST -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" -H 'Content-Type: application/json' -d '${body}' ${uri}/api/2.0/mlflow/registered-models/alias`;
}

/**
 * Point the environment's aliases at the registered model version of the
 * version `result` pins, on the tracking server of `mlflow` (the context's,
 * from MLFLOW_TRACKING_URI). Never throws: the outcome (also printed) says
 * what was done, or why nothing was, and what to do.
 */
export async function moveAliases(
  result: PromoteResult,
  ctx: Pick<PromotionContext, 'lockPath' | 'print'> & { mlflow?: MlflowClient },
): Promise<AliasOutcome> {
  const { model, version, env } = result;
  const aliases = aliasesOf(env);
  const at = aliases.map((a) => `@${a}`).join(' and ');
  const say = (status: AliasOutcome['status'], message: string, modelVersion?: string): AliasOutcome => {
    ctx.print(`${message}\n`);
    return { status, aliases, message, ...(modelVersion ? { modelVersion } : {}) };
  };
  const entry = (await readLock(ctx.lockPath)).models[model]?.versions[version];
  const registered = entry?.mlflow.modelVersion ?? undefined;
  const recordedAt = entry?.mlflow.trackingUri ?? undefined;
  if (!registered) {
    return say(
      'no-registered-version',
      `MLflow: ${model}@${version} has no registered model version (trained without a tracking server): no alias to move`,
    );
  }
  const client = ctx.mlflow;
  if (!client) {
    return say(
      'no-tracking-server',
      `MLflow: ${at} not moved to ${model} version ${registered}: MLFLOW_TRACKING_URI is not set${recordedAt ? ` (it was registered at ${recordedAt})` : ''}`,
      registered,
    );
  }
  if (recordedAt && originOf(recordedAt) !== originOf(client.trackingUri)) {
    return say(
      'other-server',
      `MLflow: ${at} not moved: ${model}@${version} was registered at ${recordedAt}, not at ${client.trackingUri}`,
      registered,
    );
  }
  try {
    for (const alias of aliases) await client.setAlias(model, alias, registered);
  } catch (e) {
    const calls = aliases.map((a) => `  ${curlOf(client.trackingUri, model, a, registered)}`).join('\n');
    return say(
      'failed',
      `warning: MLflow: ${at} not moved to ${model} version ${registered} (${(e as Error).message.split('\n')[0]}). The ${result.mode} stands in git; MLflow's registry shows it once the alias moves: run, when ${client.trackingUri} answers again,\n${calls}\n(the next move of ${env} sets it too)`,
      registered,
    );
  }
  return say(
    'set',
    `MLflow: ${model} version ${registered} is ${at} now (${client.trackingUri})`,
    registered,
  );
}
