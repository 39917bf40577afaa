/**
 * Where the external tools are: Kustomize (`kubectl kustomize`, else the
 * `kustomize` binary) and actionlint. scripts/setup.d/20-kube-tools.sh builds
 * the ones missing into ~/.cache/gitops-ml/bin (GITOPS_TOOLS_BIN), which is
 * searched after PATH.
 */
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ProjectError } from '../platform/errors.ts';
import { run } from '../platform/shell.ts';

/** The folder setup.d/20-kube-tools.sh installs into. */
export function toolsBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GITOPS_TOOLS_BIN ?? join(homedir(), '.cache', 'gitops-ml', 'bin');
}

/** Absolute path of an executable on PATH or in the tools folder, or undefined. */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), toolsBinDir(env)];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** How to run Kustomize: the command and the arguments before the folder. */
export interface KustomizeTool {
  command: string;
  args: string[];
  /** For messages: "kubectl kustomize" or "kustomize build". */
  label: string;
}

/**
 * Prefer `kubectl kustomize` (what Argo CD's built-in Kustomize matches closely);
 * fall back to the `kustomize` binary. Throws NOT_FOUND naming the set-up step.
 */
export async function findKustomize(env: NodeJS.ProcessEnv = process.env): Promise<KustomizeTool> {
  const kubectl = findTool('kubectl', env);
  if (kubectl) {
    try {
      // kubectl older than 1.21 embeds Kustomize v2, which lacks `patches:` and `labels:`.
      const { stdout } = await run(kubectl, ['version', '--client'], { timeoutMs: 30_000 });
      if (/Kustomize Version: v[5-9]/.test(stdout)) {
        return { command: kubectl, args: ['kustomize'], label: 'kubectl kustomize' };
      }
    } catch {
      // fall through to the kustomize binary
    }
  }
  const kustomize = findTool('kustomize', env);
  if (kustomize) return { command: kustomize, args: ['build'], label: 'kustomize build' };
  throw new ProjectError(
    'NOT_FOUND',
    'neither `kubectl kustomize` (Kustomize v5) nor `kustomize` was found',
    {
      subject: 'kustomize',
      hint: 'run `bash scripts/setup.d/20-kube-tools.sh` (builds kustomize into ~/.cache/gitops-ml/bin)',
    },
  );
}

/** Render one Kustomize folder to YAML text; a Kustomize error names the folder and keeps its message. */
export async function runKustomize(tool: KustomizeTool, dir: string): Promise<string> {
  const r = await run(tool.command, [...tool.args, dir], { timeoutMs: 120_000, nothrow: true });
  if (r.code === 0) return r.stdout;
  throw new ProjectError('INVALID', `${tool.label} ${dir} failed:\n${r.stderr.trim() || `exit ${r.code}`}`, {
    subject: dir,
    details: r,
  });
}
