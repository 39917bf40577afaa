/**
 * The promotion context: everything a promotion, a rollback or a revert
 * needs besides what it moves, built once at the edge from a command's flags
 * and environment ({@link promotionContext}) and passed to promote(),
 * rollback() and revert() (./promote.ts): where the lock, the environments
 * and the gates config are, how git commits and pushes, who promotes and
 * where the GitHub job summary goes, the clock, the log, the checks a
 * move runs (artifact digests, golden sets, the Kustomize render), and
 * MLflow's registry, whose aliases follow the pins.
 *
 * In GitHub Actions (GITHUB_ACTIONS=true) the workflow context must be
 * complete: a promotion record names its actor, and a run without it is not
 * the run promote.yml gives.
 * @see https://docs.github.com/en/actions/reference/variables-reference
 */
import { dirname, join, resolve } from 'node:path';
import type { Lock } from '../../lock/index.ts';
import { SIGNING_POLICY_PATH } from '../../model/signing/policy.ts';
import { ProjectError } from '../../platform/errors.ts';
import type { GithubApi } from '../../platform/github/client.ts';
import { readRepoContext } from '../../platform/github/context.ts';
import { httpOptionsOf, MlflowClient, mlflowConfigFromEnv } from '../../platform/mlflow/index.ts';
import type { ApplyPinDeps } from './apply.ts';
import { type DigestVerifier, type GoldenReader, lockDigestVerifier, lockGoldenReader } from './gates.ts';
import { githubImageAttestations, type ImageAttestationChecker } from './image-attestation.ts';
import { renderCheck } from './render-check.ts';
import { prometheusShadowReader, type ShadowReader } from './shadow-evidence.ts';
import { policySignatureChecker, type SignatureChecker } from './signature.ts';

/** How a move reaches git: committed, pushed, or left in the working tree. */
export interface PromotionGit {
  /** Commit the lock and the pin file. */
  commit: boolean;
  /** Push the commit to `remote` (needs `commit`), redoing the move on top of a moved branch. */
  push: boolean;
  remote: string;
  /** Environment of git (credentials of the checkout, identity variables). */
  env: NodeJS.ProcessEnv;
  /** Push attempts before giving up on a push race (default 5). */
  maxPushAttempts?: number;
  /** First wait after a rejected push, doubled each time (default 200 ms). */
  pushBackoffMs?: number;
}

export interface PromotionContext {
  /** The repository: the lock's folder, where git runs. */
  root: string;
  /** models.lock.json */
  lockPath: string;
  /** The folder holding one folder per environment (environments/). */
  environmentsDir: string;
  /** environments/promotion-gates.json */
  gatesPath: string;
  git: PromotionGit;
  /** Who promotes: a GitHub login (GITHUB_ACTOR) or a local user; recorded on the promotion. */
  by?: string;
  /** GitHub's job summary file (GITHUB_STEP_SUMMARY): a revert appends what it did. */
  jobSummary?: string;
  now: () => Date;
  /** Writes text as it is (the caller adds the newlines). */
  print: (text: string) => void;
  verifyDigests: DigestVerifier;
  /** Verifies the pinned image's attestation for the imageAttested gate (./image-attestation.ts). */
  checkImage?: ImageAttestationChecker;
  /** Verifies a version's signature for the signed gate (manifests/base/signing-policy.json, ./signature.ts). */
  checkSignature?: SignatureChecker;
  /** Reads golden.json of a version for the pairedNonInferiority gate (gates.ts lockGoldenReader). */
  readGolden?: GoldenReader;
  /** Reads shadow traffic's evidence for the shadow gate (./shadow-evidence.ts, from PROMETHEUS_URL). */
  readShadow?: ShadowReader;
  /** Render the environment with the new pin and lock before the lock is written (throw to refuse). */
  render?: (lock: Lock, env: string) => Promise<void>;
  /** MLflow's registry, where each move points the environment's alias (./aliases.ts); none without MLFLOW_TRACKING_URI. */
  mlflow?: MlflowClient;
  /** Hooks into the pin move, for tests that make a write fail. */
  applyDeps?: ApplyPinDeps;
}

/** What a command knows when it builds the context: its flags, its environment, its side effects. */
export interface PromotionContextOptions {
  /** Where relative paths are resolved. */
  cwd: string;
  /** The promotion's variables: who promotes, MLflow, GITHUB_STEP_SUMMARY. */
  env: Record<string, string | undefined>;
  /** The process's environment: PATH and credentials for git and Kustomize (`env` wins). */
  processEnv: Record<string, string | undefined>;
  lock: string;
  environments: string;
  gates: string;
  commit: boolean;
  push: boolean;
  remote: string;
  /** Render the environment with Kustomize before the lock is written. */
  render: boolean;
  print: (text: string) => void;
  now: () => Date;
  /** Fetch for artifact files (digest and golden-set checks). */
  fetch?: typeof fetch;
}

/** Build the context once, at the edge; INVALID when GitHub Actions' context is incomplete (promotionEnvFrom). */
export function promotionContext(o: PromotionContextOptions): PromotionContext {
  const who = promotionEnvFrom(o.env);
  const lockPath = resolve(o.cwd, o.lock);
  const environmentsDir = resolve(o.cwd, o.environments);
  const store = { lockDir: dirname(lockPath), mlflow: mlflowConfigFromEnv(o.env), fetch: o.fetch };
  const toolEnv = { ...o.processEnv, ...o.env } as NodeJS.ProcessEnv;
  return {
    root: dirname(lockPath),
    lockPath,
    environmentsDir,
    gatesPath: resolve(o.cwd, o.gates),
    git: { commit: o.commit, push: o.push, remote: o.remote, env: toolEnv },
    by: who.by,
    jobSummary: o.env.GITHUB_STEP_SUMMARY || undefined,
    now: o.now,
    print: o.print,
    verifyDigests: lockDigestVerifier(store),
    checkSignature: policySignatureChecker(join(dirname(environmentsDir), SIGNING_POLICY_PATH)),
    checkImage: githubImageAttestations(
      githubApiOf(o.env),
      join(dirname(environmentsDir), SIGNING_POLICY_PATH),
    ),
    readGolden: lockGoldenReader(store),
    readShadow: prometheusShadowReader(o.env, o.fetch ? { fetch: o.fetch } : {}),
    render: o.render ? renderCheck(dirname(environmentsDir), toolEnv) : undefined,
    mlflow: store.mlflow && new MlflowClient(httpOptionsOf(store.mlflow, o.fetch ? { fetch: o.fetch } : {})),
  };
}

/** The repository's API when GITHUB_REPOSITORY and GITHUB_TOKEN are set (in Actions), else undefined. */
function githubApiOf(env: Record<string, string | undefined>): GithubApi | undefined {
  if (!env.GITHUB_REPOSITORY || !env.GITHUB_TOKEN) return undefined;
  const { owner, repo, token, apiUrl } = readRepoContext(env);
  return { owner, repo, token, apiUrl };
}

/** Who and where a promotion runs, read from the environment. */
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
    return { inActions: false, by: env.PROMOTE_BY || env.GITHUB_ACTOR || env.USER || undefined };
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
