/**
 * Render every Kustomize target of the repository with real Kustomize and
 * check what comes out: each environment under environments/ (an overlay of
 * manifests/base with its generated model-pin.yaml) and each other folder
 * under manifests/ that has a kustomization.yaml (manifests/argocd,
 * manifests/training-job, ...). Every object is validated against its schema
 * (schemas.ts) and the policies (policy.ts); nothing is written unless every
 * target passes, so an --out folder never holds a half-checked render.
 * https://kubectl.docs.kubernetes.io/references/kustomize/cmd/build/
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type Lock, readLock } from '../lock/index.ts';
import { PIN_FILE } from '../model/pin.ts';
import { ProjectError } from '../platform/errors.ts';
import { writeFileAtomic } from '../platform/fs.ts';
import { type KubeObject, objectId, parseObjects } from './objects.ts';
import {
  environmentProblems,
  networkPolicyProblems,
  rbacProblems,
  renderedPin,
  scalingProblems,
  workloadProblems,
} from './policy.ts';
import { schemaProblems } from './schemas.ts';
import { readHorizontalPodAutoscaler, readPodSpec, valueAt } from './shapes.ts';
import { type KustomizeTool, runKustomize } from './tools.ts';

/** One folder to render: `environments/<env>` or `manifests/<name>`. */
export interface RenderTarget {
  /** Repository-relative folder, also the name of its output file (`<id>.yaml`). */
  id: string;
  dir: string;
  /** Set for environments. */
  env?: string;
}

export interface RenderedTarget {
  target: RenderTarget;
  yaml: string;
  objects: KubeObject[];
}

export interface RenderOptions {
  /** Repository root (a temp copy in tests). */
  root: string;
  /** models.lock.json; default `<root>/models.lock.json`. */
  lockPath?: string;
  /** The lock to check the pins against, instead of reading `lockPath` (a promotion's lock before it is written). */
  lock?: Lock;
  kustomize: KustomizeTool;
  /** Only these environments (all when absent); manifests/* targets are always rendered. */
  envs?: string[];
}

const hasKustomization = (dir: string): boolean =>
  ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((f) => existsSync(join(dir, f)));

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * The targets of a repository, sorted: every environment folder, then every
 * manifests/ folder with a kustomization except `base` (rendered through the
 * environments; alone it has no pin).
 */
export async function discoverTargets(root: string): Promise<RenderTarget[]> {
  const out: RenderTarget[] = [];
  for (const env of await subdirs(join(root, 'environments'))) {
    out.push({ id: `environments/${env}`, dir: join(root, 'environments', env), env });
  }
  for (const name of await subdirs(join(root, 'manifests'))) {
    const dir = join(root, 'manifests', name);
    if (name !== 'base' && hasKustomization(dir)) out.push({ id: `manifests/${name}`, dir });
  }
  return out;
}

/** Everything rendered, once every check passed. */
export interface RenderReport {
  targets: RenderedTarget[];
}

/**
 * Render and check every target. Throws ProjectError('INVALID') listing every
 * problem of every target (`<target>: <object>: <what>`), or NOT_FOUND when
 * an environment has no pin file or the lock file is missing.
 */
export async function renderAll(opts: RenderOptions): Promise<RenderReport> {
  const lockPath = opts.lockPath ?? join(opts.root, 'models.lock.json');
  const lockName = relative(opts.root, lockPath) || lockPath;
  let targets = await discoverTargets(opts.root);
  if (opts.envs) {
    const known = targets.filter((t) => t.env).map((t) => t.env!);
    const unknown = opts.envs.filter((e) => !known.includes(e));
    if (unknown.length) {
      throw new ProjectError(
        'USAGE',
        `no environment ${unknown.join(', ')} (environments: ${known.join(', ') || 'none'})`,
      );
    }
    targets = targets.filter((t) => !t.env || opts.envs!.includes(t.env));
  }
  const problems: string[] = [];
  const unpinned = targets.filter((t) => t.env && !existsSync(join(t.dir, PIN_FILE)));
  for (const t of unpinned) {
    problems.push(
      `${t.id}: no ${PIN_FILE}: no model version is pinned to ${t.env}; promote one first (npm run promote -- --env ${t.env})`,
    );
  }
  let lock: Lock | undefined = opts.lock;
  if (!lock && targets.some((t) => t.env && !unpinned.includes(t))) lock = await readLock(lockPath);

  const rendered: RenderedTarget[] = [];
  for (const target of targets) {
    if (unpinned.includes(target)) continue;
    const yaml = await runKustomize(opts.kustomize, target.dir);
    const objects = parseObjects(yaml, `${opts.kustomize.label} ${target.id}`);
    rendered.push({ target, yaml, objects });
  }

  const project = rendered
    .flatMap((r) => r.objects)
    .find((o) => o.kind === 'AppProject' && o.apiVersion.startsWith('argoproj.io/'));
  for (const { target, objects } of rendered) {
    const local: string[] = [];
    for (const o of objects)
      for (const p of await schemaProblems(o)) local.push(`${objectId(o)}: schema: ${p}`);
    local.push(
      ...workloadProblems(objects),
      ...scalingProblems(objects),
      ...rbacProblems(objects),
      ...networkPolicyProblems(objects),
    );
    if (target.env) local.push(...environmentProblems(objects, target.env, lock!, lockName, project));
    problems.push(...local.map((p) => `${target.id}: ${p}`));
  }
  if (problems.length) {
    throw new ProjectError(
      'INVALID',
      `render found ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { details: problems },
    );
  }
  return { targets: rendered };
}

/** Write `<outDir>/<target id>.yaml` for every target (atomic each); returns the paths, sorted. */
export async function writeRendered(outDir: string, report: RenderReport): Promise<string[]> {
  const paths: string[] = [];
  for (const { target, yaml } of report.targets) {
    const path = join(outDir, `${target.id}.yaml`);
    await writeFileAtomic(path, yaml.endsWith('\n') ? yaml : `${yaml}\n`);
    paths.push(path);
  }
  return paths.sort();
}

/** One row per target: what a reviewer wants to see at a glance. */
export interface TargetSummary {
  target: string;
  namespace: string;
  objects: number;
  image: string;
  replicas: string;
  model: string;
}

export function summarize(report: RenderReport): TargetSummary[] {
  return report.targets.map(({ target, objects }) => {
    const namespaces = [...new Set(objects.map((o) => o.metadata?.namespace).filter(Boolean))].sort();
    const workload = objects.find((o) => o.kind === 'Deployment') ?? objects.find((o) => o.kind === 'Job');
    const image = (workload && readPodSpec(workload)?.value?.containers[0]?.image) ?? '-';
    const hpaObject = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
    const hpa = hpaObject && readHorizontalPodAutoscaler(hpaObject).value;
    const replicas =
      workload?.kind === 'Deployment'
        ? `${valueAt(workload, ['spec', 'replicas']) ?? 1}${hpa ? ` (hpa ${hpa.minReplicas ?? 1}-${hpa.maxReplicas})` : ''}`
        : '-';
    const pin = target.env ? renderedPin(objects) : undefined;
    const model = pin?.model ? `${pin.model}@${pin.version}` : target.env && !pin ? 'none yet' : '-';
    return {
      target: target.id,
      namespace: namespaces.join(',') || '-',
      objects: objects.length,
      image,
      replicas,
      model,
    };
  });
}

/** A plain-text table of the summaries, columns padded, trailing newline. */
export function formatTable(rows: TargetSummary[]): string {
  const header = ['target', 'namespace', 'objects', 'replicas', 'model', 'image'];
  const cells = rows.map((r) => [r.target, r.namespace, String(r.objects), r.replicas, r.model, r.image]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')}\n`;
}
