/**
 * `podman build` of one target of a Dockerfile, as this project builds its
 * images locally: no pull (the base image is made here, ./base-image.ts),
 * every instruction's layer kept (a second build, or another target on the
 * same stages, reuses them), Docker's image format (HEALTHCHECK is not in
 * the OCI one), the ignore file next to the Dockerfile
 * (`<Dockerfile>.dockerignore`, BuildKit's convention), the default bridged
 * network (apt, npm and pip reach their registries through it).
 *
 * A TLS-inspecting proxy between the build and the registries: the build
 * trusts the CA bundle GITOPS_ML_BUILD_CA names (default: NODE_EXTRA_CA_CERTS,
 * what the host's own Node is told to trust) without baking it into the
 * images that ship. It is bind-mounted for the RUN steps only: as npm's global
 * config (`cafile` in /usr/local/etc/npmrc, a folder every Debian image has,
 * so no mount point is left behind) and as a local CA that the
 * `ca-certificates` package adds to the system bundle the stages that
 * install it use (pip, git). The final runtime and relay stages run no
 * command, so nothing of it reaches them; the trainer's system bundle does
 * include it (its git trusts what the build network needed).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { type Podman, podman } from './podman.ts';

export interface BuildOptions {
  podman: Podman;
  dockerfile: string;
  /** The build context (the repository root for serving/Dockerfile). */
  context: string;
  target: string;
  /** Tags of the built image (the first is its name). */
  tags: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Default: the podman environment. */
  env?: Record<string, string | undefined>;
  /** Default 40 minutes (a cold build of the trainer downloads the CUDA wheels). */
  timeoutMs?: number;
}

/** The CA bundle the build trusts (see the file comment), or undefined. */
export function buildCaBundle(env: Record<string, string | undefined>): string | undefined {
  const file = env.GITOPS_ML_BUILD_CA || env.NODE_EXTRA_CA_CERTS;
  if (!file) return undefined;
  if (!existsSync(file)) {
    throw new ProjectError(
      'NOT_FOUND',
      `${env.GITOPS_ML_BUILD_CA ? 'GITOPS_ML_BUILD_CA' : 'NODE_EXTRA_CA_CERTS'} names ${file}, which does not exist`,
      { subject: file, hint: 'point it at a PEM bundle of the CA certificates the build must trust' },
    );
  }
  return file;
}

/** The `podman build` arguments (without the CA mounts). */
export function buildArgs(o: BuildOptions): string[] {
  const ignore = `${o.dockerfile}.dockerignore`;
  return [
    'build',
    '--pull=never',
    '--layers',
    // Docker's image format, as docker build makes it: the OCI one has no HEALTHCHECK.
    '--format',
    'docker',
    '--target',
    o.target,
    '-f',
    o.dockerfile,
    ...(existsSync(ignore) ? ['--ignorefile', ignore] : []),
    ...Object.entries(o.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...Object.entries(o.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...o.tags.flatMap((t) => ['--tag', t]),
  ];
}

/** Build the target; throws (INVALID, with the end of podman's output) when the build fails. */
export async function buildImage(o: BuildOptions): Promise<void> {
  const env = o.env ?? o.podman.env;
  const ca = buildCaBundle(env);
  const mounts: string[] = [];
  let tmp: string | undefined;
  try {
    if (ca) {
      tmp = await mkdtemp(join(o.podman.paths.dir, '.build-ca-'));
      await mkdir(join(tmp, 'etc'));
      await mkdir(join(tmp, 'local-ca'));
      await copyFile(ca, join(tmp, 'etc', 'build-ca.pem'));
      await writeFile(join(tmp, 'etc', 'npmrc'), 'cafile=/usr/local/etc/build-ca.pem\n');
      await copyFile(ca, join(tmp, 'local-ca', 'build-ca.crt'));
      mounts.push(
        '--volume',
        `${join(tmp, 'etc')}:/usr/local/etc:ro`,
        '--volume',
        `${join(tmp, 'local-ca')}:/usr/local/share/ca-certificates:ro`,
      );
    }
    const r = await podman(o.podman, [...buildArgs(o), ...mounts, o.context], {
      timeoutMs: o.timeoutMs ?? 2_400_000,
      nothrow: true,
    });
    if (r.code !== 0) {
      const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-40).join('\n');
      throw new ProjectError(
        'INVALID',
        `podman build --target ${o.target} of ${o.dockerfile} failed (exit ${r.code}):\n${tail}`,
        {
          subject: o.dockerfile,
        },
      );
    }
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
