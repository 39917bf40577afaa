/**
 * The images of serving/Dockerfile built locally with podman (./build.ts), at
 * most once per content of the build context: each is tagged
 * `localhost/gitops-ml/<name>:<12 hex>` with the digest of the Dockerfile, its
 * ignore file and every file the context keeps (./dockerfile.ts), so a run on
 * an unchanged tree finds them in the store under ~/.cache/gitops-ml/containers,
 * and a changed file rebuilds from the first layer it touches (podman's own
 * layer cache). After a build, images of other trees are removed (pruneImages:
 * a change under platform/ or model/ rebuilds the trainer's gigabytes of CUDA
 * libraries). `npm run cluster -- image` and the image tests build through here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../platform/digest.ts';
import { ProjectError } from '../../platform/errors.ts';
import { buildImage } from './build.ts';
import { loadBuild } from './dockerfile.ts';
import { imageId, type Podman, podman } from './podman.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const DOCKERFILE = join(REPO_ROOT, 'serving', 'Dockerfile');
/** The set-up step that makes the base image serving/Dockerfile names. */
export const BASE_IMAGE_SETUP_STEP = 'scripts/setup.d/76-node-base-image.sh';

/** Each target of serving/Dockerfile and the name its manifests give the image. */
export const IMAGE_TARGETS = {
  runtime: 'model-server',
  trainer: 'model-trainer',
  relay: 'alert-relay',
} as const;
export type ImageTarget = keyof typeof IMAGE_TARGETS;

/** The digest of what a build of `dockerfile` reads: the Dockerfile, its ignore file, every kept context file. */
export function contextDigest(dockerfile = DOCKERFILE, context = REPO_ROOT): string {
  const { kept, ignoreFile } = loadBuild(dockerfile, context);
  const parts = [`Dockerfile ${sha256(readFileSync(dockerfile))}`];
  if (ignoreFile) parts.push(`ignore ${sha256(readFileSync(ignoreFile))}`);
  for (const f of kept) parts.push(`${f} ${sha256(readFileSync(join(context, f)))}`);
  return sha256(parts.join('\n'));
}

/** The local name of a target's image for a context digest. */
export const imageRef = (target: ImageTarget, digest: string): string =>
  `localhost/gitops-ml/${IMAGE_TARGETS[target]}:${digest.slice(0, 12)}`;

/**
 * The images of `targets` for the tree as it is (one digest for all, taken
 * first): each found in the store, else built, in order.
 */
export async function ensureImages<T extends ImageTarget>(
  p: Podman,
  targets: readonly T[],
  log: (line: string) => void = () => {},
): Promise<Record<T, { ref: string; built: boolean; seconds: number }>> {
  const digest = contextDigest();
  const out = {} as Record<T, { ref: string; built: boolean; seconds: number }>;
  for (const target of targets) {
    const ref = imageRef(target, digest);
    if (await imageId(p, ref)) {
      out[target] = { ref, built: false, seconds: 0 };
      continue;
    }
    const started = performance.now();
    log(`building ${ref} (serving/Dockerfile target ${target})...`);
    await buildImage({ podman: p, dockerfile: DOCKERFILE, context: REPO_ROOT, target, tags: [ref] });
    const seconds = (performance.now() - started) / 1000;
    log(`built ${ref} in ${seconds.toFixed(0)} s`);
    out[target] = { ref, built: true, seconds };
  }
  if (Object.values<{ built: boolean }>(out).some((x) => x.built)) {
    await pruneImages(
      p,
      Object.values<{ ref: string }>(out).map((x) => x.ref),
    );
  }
  return out;
}

/**
 * Remove the `localhost/gitops-ml/*` tags other than `keep` that are older
 * than an hour (another checkout sharing the store may be running a newer
 * one), then the untagged layers nothing uses that are older than a day (the
 * build stages' cache is untagged too: a day keeps it for the day's builds).
 */
export async function pruneImages(p: Podman, keep: readonly string[]): Promise<void> {
  const r = await podman(p, ['images', '--format', 'json'], { nothrow: true, timeoutMs: 120_000 });
  if (r.code !== 0) return;
  const cutoff = Date.now() / 1000 - 3600;
  const images = JSON.parse(r.stdout || '[]') as { Names?: string[]; Created: number }[];
  const old = images
    .filter((i) => i.Created < cutoff)
    .flatMap((i) => i.Names ?? [])
    .filter((n) => n.startsWith('localhost/gitops-ml/') && !keep.includes(n));
  for (const name of [...new Set(old)]) await podman(p, ['rmi', name], { nothrow: true, timeoutMs: 120_000 });
  await podman(p, ['image', 'prune', '--force', '--filter', 'until=24h'], {
    nothrow: true,
    timeoutMs: 600_000,
  });
}

/**
 * The digest reference of a local image (`localhost/gitops-ml/model-server@sha256:…`),
 * what a pin names: the Deployment then runs exactly this image, never a tag.
 */
export async function imageDigestRef(p: Podman, ref: string): Promise<string> {
  const r = await podman(p, ['image', 'inspect', '--format', '{{json .RepoDigests}}', ref], {
    timeoutMs: 60_000,
  });
  const repo = ref.replace(/[:@][^/]*$/, '');
  const digests = JSON.parse(r.stdout.trim() || '[]') as string[];
  const own = digests.find((d) => d.startsWith(`${repo}@sha256:`)) ?? digests[0];
  if (!own) throw new ProjectError('NOT_FOUND', `the local image ${ref} has no digest`, { subject: ref });
  return own;
}

/** The image a Dockerfile's first stage builds on (its first FROM). */
export const baseImageOf = (dockerfile = DOCKERFILE): string =>
  /^FROM\s+(\S+)/m.exec(readFileSync(dockerfile, 'utf8'))?.[1] ?? 'the base image';

/**
 * The base image serving/Dockerfile names, in the store: NOT_FOUND naming the
 * set-up step that makes it (no registry serves it here).
 */
export async function requireBaseImage(p: Podman, dockerfile = DOCKERFILE): Promise<void> {
  const base = baseImageOf(dockerfile);
  if (await imageId(p, base)) return;
  throw new ProjectError('NOT_FOUND', `the base image ${base} is not in the local podman store`, {
    subject: base,
    hint: `run \`bash ${BASE_IMAGE_SETUP_STEP}\` (makes it from Debian and npm packages)`,
  });
}
