/**
 * Policy checks on the GitHub Actions workflows, beyond what actionlint
 * checks (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions):
 * - least privilege: top-level `permissions` is `{}` or read-only, every
 *   job declares its own `permissions`, and no job passes `secrets: inherit`
 *   (a called workflow gets the secrets it names, not all of them);
 * - every action from another repository is pinned to a full 40-hex commit
 *   SHA, with a `# vX` comment naming the release;
 * - self-hosted runners are reached only through the gate: a workflow on
 *   `pull_request` (or `pull_request_review[_comment]`) has no self-hosted
 *   job at all, because GitHub runs the pull request's own copy of that
 *   file and a fork can edit any `if:` away; in a `pull_request_target`
 *   workflow (the base branch's file), the gate job runs
 *   `npm run -s ci:authorize-training` on a GitHub-hosted runner without
 *   checking out the pull request, and every job that runs on a self-hosted
 *   runner or checks out another ref `needs` it and runs only
 *   `if: needs.<gate>.outputs.authorized == 'true'` (platform/github/authorize.ts).
 * - in a workflow that a writer can start by hand or call
 *   (`workflow_dispatch`, `workflow_call`, `repository_dispatch`), every
 *   self-hosted job runs only on main (`if: github.ref == 'refs/heads/main'`):
 *   a dispatch from another branch gets no cluster runner. A branch can edit
 *   its copy of the file, so the runner group's "selected workflows"
 *   (docs/gitops.md) are what enforce it; this keeps the YAML saying so;
 * - a job on a runner labelled `gpu` that trains (`npm run train`,
 *   `ci:train`, `retrain`) sets up the GPU backend first
 *   (scripts/setup.d/71-tfjs-native-gpu.sh) and trains with
 *   `TRAINING_BACKEND: tensorflow-gpu`, so that it fails the GPU preflight
 *   rather than train on the CPU unseen;
 * - the pull request's code runs read-only (issue 23.3): in a workflow on
 *   `pull_request` every job runs it, so none may write; in a
 *   `pull_request_target` workflow a job that checks out anything but the
 *   base branch (a `ref:` other than the base's, or another `repository:`)
 *   may not write, so a job that writes checks out the base branch only
 *   (train.yml: `train` hands its products as an artifact to `publish`);
 * - a push to main (`--push`: promote, rollback, revert, pin-images) uses
 *   the promotion App's token, which main's ruleset lets bypass required
 *   reviews: the step's `GITHUB_TOKEN` is the output of an
 *   actions/create-github-app-token step of the job, the job token does not
 *   write, and the job has an `environment` (the App's private key is an
 *   environment secret limited to main, never a repository secret that a
 *   workflow on any branch could read).
 * @see https://securitylab.github.com/resources/github-actions-preventing-pwn-requests/
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';

/** Triggers for which GitHub runs the pull request's copy of the workflow file. */
const PR_FILE_TRIGGERS = ['pull_request', 'pull_request_review', 'pull_request_review_comment'];
/** The gate's command (scripts/authorize-training.ts). */
const GATE_SCRIPT = 'ci:authorize-training';

/** Triggers by which a writer starts a workflow from a branch of their choosing. */
const BY_HAND_TRIGGERS = ['workflow_dispatch', 'workflow_call', 'repository_dispatch'];
const MAIN_ONLY = "github.ref == 'refs/heads/main'";

/** The GPU backend's set-up step (docs/native-backend.md#gpu-runners). */
const GPU_SETUP = 'scripts/setup.d/71-tfjs-native-gpu.sh';
/** npm scripts that train a model. */
const TRAIN_SCRIPT = /\bnpm run(?: -s)? (?:train|ci:train|retrain)\b/;

/** A GitHub Actions expression `${{ e }}` as the YAML spells it. */
function expression(e: string): string {
  return ['$', '{{ ', e, ' }}'].join('');
}
/** What `ref:` of actions/checkout names the base branch in a pull_request_target run (none: the default, the base). */
const BASE_REFS = [
  'github.event.pull_request.base.sha',
  'github.event.pull_request.base.ref',
  'github.base_ref',
].map((e) => expression(e));
/** The action that mints a GitHub App's installation token. */
const APP_TOKEN_ACTION = 'actions/create-github-app-token@';
/** A run step that pushes (the promotion scripts' flag). */
const PUSH_FLAG = /(?:^|\s)--push\b/;

/** A YAML mapping (workflow YAML is read field by field, each field checked before use). */
type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The steps of a job that are mappings (anything else is actionlint's to report). */
const stepsOf = (job: Mapping): Mapping[] => (Array.isArray(job.steps) ? job.steps.filter(isMapping) : []);

function triggers(on: unknown): string[] {
  if (typeof on === 'string') return [on];
  if (Array.isArray(on)) return on.map(String);
  if (isMapping(on)) return Object.keys(on);
  return [];
}

function runsOnLabels(runsOn: unknown): string[] {
  if (typeof runsOn === 'string') return [runsOn];
  if (Array.isArray(runsOn)) return runsOn.map(String);
  if (isMapping(runsOn) && runsOn.labels) return runsOnLabels(runsOn.labels);
  return [];
}

/** True when a step of `job` runs `npm run [-s] <script>`. */
function runsScript(job: Mapping, script: string): boolean {
  const re = new RegExp(`\\bnpm run (-s )?${script}\\b`);
  return stepsOf(job).some((step) => typeof step.run === 'string' && re.test(step.run));
}

/** The `ref:` of each actions/checkout step of `job` (none: the event's default commit). */
function checkoutRefs(job: Mapping): string[] {
  return stepsOf(job)
    .filter((step) => typeof step.uses === 'string' && step.uses.startsWith('actions/checkout@'))
    .map((step) => (isMapping(step.with) ? step.with.ref : undefined))
    .filter((ref): ref is string => typeof ref === 'string' && ref !== '');
}

/** The scopes a job's `permissions` grant write to (`write-all`: every one). */
function writeScopes(job: Mapping): string[] {
  const p = job.permissions;
  if (p === 'write-all') return ['write-all'];
  if (!isMapping(p)) return [];
  return Object.entries(p)
    .filter(([, v]) => v === 'write')
    .map(([k]) => k);
}

/** What each actions/checkout step of `job` checks out besides the base branch (`ref:`, or `repository:`). */
function nonBaseCheckouts(job: Mapping): string[] {
  const out: string[] = [];
  for (const step of stepsOf(job)) {
    if (typeof step.uses !== 'string' || !step.uses.startsWith('actions/checkout@')) continue;
    const w = isMapping(step.with) ? step.with : {};
    if (
      typeof w.repository === 'string' &&
      w.repository !== '' &&
      w.repository !== expression('github.repository')
    )
      out.push(`repository ${w.repository}`);
    if (typeof w.ref === 'string' && w.ref !== '' && !BASE_REFS.includes(w.ref)) out.push(w.ref);
  }
  return out;
}

/** Problems of a job that runs the pull request's code (issue 23.3): it may not write. */
function pullRequestCodeProblems(where: string, job: Mapping, prFile: string[], target: boolean): string[] {
  const writes = writeScopes(job);
  if (writes.length === 0) return [];
  const grant = writes.map((w) => (w === 'write-all' ? w : `${w}: write`)).join(', ');
  const fix =
    "a job that runs the pull request's code may only read: hand what it makes to a job that runs the base branch's code (an artifact), and write there";
  if (prFile.length > 0) {
    return [`${where}: runs the pull request's code (on ${prFile.join(', ')}) with ${grant}; ${fix}`];
  }
  const other = target ? nonBaseCheckouts(job) : [];
  return other.length > 0
    ? [`${where}: checks out ${other.join(', ')} (the pull request's code) with ${grant}; ${fix}`]
    : [];
}

/** Problems of a job whose steps push (`--push`): the promotion App's token, from an environment, a read-only job token. */
function pushProblems(where: string, job: Mapping): string[] {
  const steps = stepsOf(job);
  const pushes = steps.filter((s) => typeof s.run === 'string' && PUSH_FLAG.test(s.run));
  const minted = steps.filter((s) => typeof s.uses === 'string' && s.uses.startsWith(APP_TOKEN_ACTION));
  const out: string[] = [];
  if (minted.length > 0 && job.environment === undefined) {
    out.push(
      `${where}: mints a GitHub App token without an environment: its private key would be a repository secret, which a workflow on any branch can read; keep it in an environment limited to main`,
    );
  }
  if (pushes.length === 0) return out;
  if (writeScopes(job).some((w) => w === 'contents' || w === 'write-all')) {
    out.push(
      `${where}: pushes with the job token (contents: write), which a main that requires reviews refuses; push with the promotion App's token and give the job contents: read`,
    );
  }
  for (const step of pushes) {
    const i = steps.indexOf(step);
    const env = isMapping(step.env) ? step.env : {};
    const ok = minted.some(
      (m) =>
        steps.indexOf(m) < i &&
        typeof m.id === 'string' &&
        env.GITHUB_TOKEN === expression(`steps.${m.id}.outputs.token`),
    );
    if (!ok) {
      out.push(
        `${where}: \`${String(step.run).split('\n')[0]}\` pushes without the promotion App's token: set its env GITHUB_TOKEN to \${{ steps.<id>.outputs.token }} of an earlier ${APP_TOKEN_ACTION} step`,
      );
    }
  }
  return out;
}

/** `owner/repo[/path]@<40 hex>` or a local `./path` or a `docker://...@sha256:` image. */
function pinned(uses: string): boolean {
  if (uses.startsWith('./')) return true;
  if (uses.startsWith('docker://')) return /@sha256:[0-9a-f]{64}$/.test(uses);
  return /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(uses);
}

/** The job's actions (a called workflow, each step's) that are not pinned to a commit. */
function unpinnedProblems(where: string, job: Mapping): string[] {
  const uses: string[] = [];
  if (typeof job.uses === 'string') uses.push(job.uses);
  for (const step of stepsOf(job)) if (typeof step.uses === 'string') uses.push(step.uses);
  return uses.filter((u) => !pinned(u)).map((u) => `${where}: ${u} is not pinned to a full commit SHA`);
}

/** Problems of one workflow file (`name` is how messages name it); empty when it follows the policy. */
export function workflowProblems(name: string, text: string): string[] {
  const out: string[] = [];
  let wf: unknown;
  try {
    wf = parse(text);
  } catch (e) {
    return [`${name}: not valid YAML (${(e as Error).message})`];
  }
  if (!isMapping(wf)) return [`${name}: not a workflow`];
  const on = triggers(wf.on);
  const top = wf.permissions;
  if (top === undefined)
    out.push(`${name}: no top-level permissions (set permissions: {} and grant per job)`);
  else if (!isMapping(top) || Object.values(top).some((v) => v !== 'read' && v !== 'none')) {
    out.push(`${name}: top-level permissions grant more than read`);
  }
  const jobs = Object.entries(isMapping(wf.jobs) ? wf.jobs : {}).map(([id, job]): [string, Mapping] => [
    id,
    isMapping(job) ? job : {},
  ]);
  const gates = jobs.filter(([, job]) => runsScript(job, GATE_SCRIPT)).map(([id]) => id);
  const prFile = on.filter((t) => PR_FILE_TRIGGERS.includes(t));
  for (const [id, job] of jobs) {
    const where = `${name}: job ${id}`;
    if (job.permissions === undefined) out.push(`${where}: no permissions`);
    if (job.secrets === 'inherit') {
      out.push(`${where}: secrets: inherit passes every secret; name the ones the called workflow needs`);
    }
    out.push(...unpinnedProblems(where, job));
    const selfHosted = runsOnLabels(job['runs-on']).includes('self-hosted');
    if (runsOnLabels(job['runs-on']).includes('gpu')) out.push(...gpuTrainingProblems(where, job));
    out.push(...pullRequestCodeProblems(where, job, prFile, on.includes('pull_request_target')));
    out.push(...pushProblems(where, job));
    const byHand = on.filter((t) => BY_HAND_TRIGGERS.includes(t));
    if (selfHosted && byHand.length > 0 && !String(job.if ?? '').includes(MAIN_ONLY)) {
      out.push(
        `${where}: runs on a self-hosted runner for ${byHand.join(', ')} from any branch; add if: ${MAIN_ONLY}`,
      );
    }
    if (selfHosted && prFile.length > 0) {
      out.push(
        `${where}: runs on a self-hosted runner for ${prFile.join(', ')}: GitHub runs the pull request's copy of this file, which a fork can edit; run it from a pull_request_target workflow behind the gate (npm run -s ${GATE_SCRIPT})`,
      );
    }
    if (!on.includes('pull_request_target')) continue;
    if (gates.includes(id)) {
      if (selfHosted) out.push(`${where}: the gate runs on a self-hosted runner; use a GitHub-hosted one`);
      if (checkoutRefs(job).length > 0) {
        out.push(
          `${where}: the gate checks out ${checkoutRefs(job).join(', ')}; it must run the base branch's code only`,
        );
      }
      continue;
    }
    const refs = checkoutRefs(job);
    if (!selfHosted && refs.length === 0) continue;
    const needs: unknown[] =
      typeof job.needs === 'string' ? [job.needs] : Array.isArray(job.needs) ? job.needs : [];
    const cond = String(job.if ?? '');
    const gated = gates.some(
      (g) => needs.includes(g) && cond.includes(`needs.${g}.outputs.authorized == 'true'`),
    );
    if (!gated) {
      const what = selfHosted ? 'runs on a self-hosted runner' : `checks out ${refs.join(', ')}`;
      out.push(
        `${where}: ${what} for pull_request_target without the gate (needs a job running npm run -s ${GATE_SCRIPT}, and if: needs.<gate>.outputs.authorized == 'true')`,
      );
    }
  }
  // Comments are not in the parsed YAML: check the lines themselves.
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(?:-\s+)?uses:\s*["']?([^\s"'#]+)["']?\s*(#.*)?$/.exec(line);
    if (m && !m[1]!.startsWith('./') && !/^#\s*v\d/.test(m[2] ?? '')) {
      out.push(`${name}:${i + 1}: ${m[1]} has no "# vX" comment naming the release`);
    }
  });
  return out;
}

/** A GPU job's training steps: each after the GPU set-up, each with TRAINING_BACKEND tensorflow-gpu. */
function gpuTrainingProblems(where: string, job: Mapping): string[] {
  const out: string[] = [];
  const steps = stepsOf(job);
  const setupAt = steps.findIndex((s) => typeof s.run === 'string' && s.run.includes(GPU_SETUP));
  steps.forEach((step, i) => {
    if (typeof step.run !== 'string' || !TRAIN_SCRIPT.test(step.run)) return;
    if (setupAt < 0 || setupAt > i) {
      out.push(`${where}: trains on a gpu runner without running bash ${GPU_SETUP} first`);
    }
    const env = isMapping(step.env) ? step.env : isMapping(job.env) ? job.env : {};
    if (env.TRAINING_BACKEND !== 'tensorflow-gpu') {
      out.push(
        `${where}: trains on a gpu runner without TRAINING_BACKEND: tensorflow-gpu (it would train on the CPU unseen)`,
      );
    }
  });
  return out;
}

/** Check every .yml/.yaml file of a workflows folder; problems sorted by file. */
export async function checkWorkflowsDir(dir: string): Promise<{ files: string[]; problems: string[] }> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const problems: string[] = [];
  for (const f of files) problems.push(...workflowProblems(f, await readFile(join(dir, f), 'utf8')));
  return { files, problems };
}
