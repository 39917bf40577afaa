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

/** Whether `path` is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    // not there, or not executable
    return false;
  }
}

/** Absolute path of an executable on PATH or in the tools folder, or undefined. */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), toolsBinDir(env)];
  return dirs.map((dir) => join(dir, name)).find(isExecutable);
}

/** How to run Kustomize: the command and the arguments before the folder. */
export interface KustomizeTool {
  command: string;
  args: string[];
  /** For messages: "kubectl kustomize" or "kustomize build". */
  label: string;
}

/**
 * The oldest Kustomize the repository renders with: 5.7.0 is the first that
 * applies a patch file with several `$patch: delete` documents (an
 * environment's "no model yet" pin, gitops/pin.ts) instead of panicking
 * (kubernetes-sigs/kustomize#5552). kubectl 1.34 embeds 5.7.1; Argo CD 3.x its own 5.7+.
 */
export const MIN_KUSTOMIZE = [5, 7] as const;

/** The Kustomize version `text` names (`Kustomize Version: v5.7.1`, `v5.8.1`), as [major, minor], or undefined. */
export function kustomizeVersionOf(text: string): [number, number] | undefined {
  const m = /(?:Kustomize Version: |^)v?(\d+)\.(\d+)\.\d+/m.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const recentEnough = (v: [number, number] | undefined): boolean =>
  v !== undefined && (v[0] > MIN_KUSTOMIZE[0] || (v[0] === MIN_KUSTOMIZE[0] && v[1] >= MIN_KUSTOMIZE[1]));

async function versionText(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args, { timeoutMs: 30_000 })).stdout;
  } catch {
    return '';
  }
}

/**
 * Prefer `kubectl kustomize` (what Argo CD's built-in Kustomize matches closely)
 * when its Kustomize is {@link MIN_KUSTOMIZE} or newer; else the `kustomize`
 * binary of that age. Throws NOT_FOUND naming the set-up step.
 */
export async function findKustomize(env: NodeJS.ProcessEnv = process.env): Promise<KustomizeTool> {
  const kubectl = findTool('kubectl', env);
  if (kubectl && recentEnough(kustomizeVersionOf(await versionText(kubectl, ['version', '--client'])))) {
    return { command: kubectl, args: ['kustomize'], label: 'kubectl kustomize' };
  }
  const kustomize = findTool('kustomize', env);
  if (kustomize && recentEnough(kustomizeVersionOf(await versionText(kustomize, ['version'])))) {
    return { command: kustomize, args: ['build'], label: 'kustomize build' };
  }
  throw new ProjectError(
    'NOT_FOUND',
    `neither \`kubectl kustomize\` nor \`kustomize\` is Kustomize ${MIN_KUSTOMIZE.join('.')} or newer`,
    {
      subject: 'kustomize',
      hint: 'run `bash scripts/setup.d/20-kube-tools.sh` (builds kustomize into ~/.cache/gitops-ml/bin), or use kubectl 1.34 or newer',
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
