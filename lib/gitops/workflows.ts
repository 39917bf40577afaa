/**
 * Policy checks on the GitHub Actions workflows, beyond what actionlint
 * checks (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions):
 * - least privilege: top-level `permissions` is `{}` or read-only, and every
 *   job declares its own `permissions`;
 * - every action from another repository is pinned to a full 40-hex commit
 *   SHA, with a `# vX` comment naming the release;
 * - a job on a self-hosted runner never runs for `pull_request_target`, and
 *   for `pull_request` it carries the fork guard (head repo is this
 *   repository, or a maintainer's `safe-to-train` label).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';

const FORK_GUARD = 'github.event.pull_request.head.repo.full_name == github.repository';
const TRAIN_LABEL = 'safe-to-train';

/** A YAML mapping (workflow YAML is read field by field, each field checked before use). */
type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => typeof v === 'object' && v !== null && !Array.isArray(v);

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

/** `owner/repo[/path]@<40 hex>` or a local `./path` or a `docker://...@sha256:` image. */
function pinned(uses: string): boolean {
  if (uses.startsWith('./')) return true;
  if (uses.startsWith('docker://')) return /@sha256:[0-9a-f]{64}$/.test(uses);
  return /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(uses);
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
  for (const [id, value] of Object.entries(isMapping(wf.jobs) ? wf.jobs : {})) {
    const where = `${name}: job ${id}`;
    const job: Mapping = isMapping(value) ? value : {};
    if (job.permissions === undefined) out.push(`${where}: no permissions`);
    const uses: string[] = [];
    if (typeof job.uses === 'string') uses.push(job.uses);
    for (const step of Array.isArray(job.steps) ? job.steps : []) {
      if (isMapping(step) && typeof step.uses === 'string') uses.push(step.uses);
    }
    for (const u of uses) if (!pinned(u)) out.push(`${where}: ${u} is not pinned to a full commit SHA`);
    const labels = runsOnLabels(job['runs-on']);
    if (labels.includes('self-hosted')) {
      if (on.includes('pull_request_target')) {
        out.push(`${where}: runs on a self-hosted runner for pull_request_target (fork code with secrets)`);
      }
      if (on.includes('pull_request')) {
        const cond = String(job.if ?? '');
        if (!cond.includes(FORK_GUARD) || !cond.includes(TRAIN_LABEL)) {
          out.push(
            `${where}: runs on a self-hosted runner for pull_request without the fork guard (${FORK_GUARD} || label ${TRAIN_LABEL})`,
          );
        }
      }
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

/** Check every .yml/.yaml file of a workflows folder; problems sorted by file. */
export async function checkWorkflowsDir(dir: string): Promise<{ files: string[]; problems: string[] }> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const problems: string[] = [];
  for (const f of files) problems.push(...workflowProblems(f, await readFile(join(dir, f), 'utf8')));
  return { files, problems };
}
