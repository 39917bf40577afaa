/**
 * Podman as this project runs it: the one place that says how (the set-up
 * step that makes the base image, the image tests, anything else that builds
 * or runs the images of serving/Dockerfile goes through here).
 *
 * - Storage and configuration live under the project cache
 *   (`~/.cache/gitops-ml/containers`, or `$GITOPS_ML_CACHE/containers`), so
 *   the set-up and every test share one image store and a second run finds
 *   the base image and the cached build layers.
 * - `containers.conf` (given through CONTAINERS_CONF): runc (crun fails on a
 *   host with cgroups in hybrid mode), the cgroupfs manager (no systemd
 *   session needed), no default ulimits (raising RLIMIT_NOFILE is not
 *   permitted in every sandbox), events to a file.
 * - `storage.conf` (CONTAINERS_STORAGE_CONF): the overlay driver where the
 *   kernel has it (one copy of each layer), else vfs (a full copy per layer:
 *   works everywhere, costs disk); GITOPS_ML_PODMAN_STORAGE_DRIVER chooses.
 * - `registries.conf` (CONTAINERS_REGISTRIES_CONF): a short name such as
 *   `node:24.21.0-bookworm-slim` means docker.io/library/node, as Docker reads
 *   it, so a Dockerfile's FROM finds the base image made locally.
 *
 * https://github.com/containers/common/blob/main/docs/containers.conf.5.md
 * https://github.com/containers/storage/blob/main/docs/containers-storage.conf.5.md
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from '../../gitops/tools.ts';
import { cacheRoot } from '../../model/native/layout.ts';
import { ProjectError } from '../../platform/errors.ts';
import { writeFileAtomic } from '../../platform/fs.ts';
import { type RunOptions, type RunResult, run } from '../../platform/shell.ts';

/** The set-up step that installs podman and runc. */
export const PODMAN_SETUP_STEP = 'scripts/setup.d/75-podman.sh';

export type StorageDriver = 'overlay' | 'vfs';

/** Where podman keeps what it keeps, and the files that tell it so. */
export interface PodmanPaths {
  /** `<cache>/containers` */
  dir: string;
  /** Image and container layers (persistent). */
  graphroot: string;
  /** Run-time state (locks, container state): on a tmpfs where there is one, cleared on reboot. */
  runroot: string;
  containersConf: string;
  storageConf: string;
  registriesConf: string;
}

export interface Podman {
  /** The podman executable. */
  command: string;
  paths: PodmanPaths;
  driver: StorageDriver;
  /** This process's environment plus CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF. */
  env: Record<string, string | undefined>;
}

/** The folder under the project cache (see the file comment). */
export function podmanPaths(env: Record<string, string | undefined> = process.env): PodmanPaths {
  const dir = join(cacheRoot(env), 'containers');
  const uid = process.getuid?.() ?? 0;
  // Run-time state must not survive a reboot (stale locks): /run for root, the session's runtime dir, else /tmp.
  const runBase = env.XDG_RUNTIME_DIR || (uid === 0 && existsSync('/run') ? '/run' : tmpdir());
  const runroot = join(runBase, `gitops-ml-containers-${uid}`);
  return {
    dir,
    graphroot: join(dir, 'storage'),
    runroot,
    containersConf: join(dir, 'containers.conf'),
    storageConf: join(dir, 'storage.conf'),
    registriesConf: join(dir, 'registries.conf'),
  };
}

/** overlay where the kernel lists it (/proc/filesystems), else vfs; GITOPS_ML_PODMAN_STORAGE_DRIVER overrides. */
export function storageDriver(env: Record<string, string | undefined> = process.env): StorageDriver {
  const asked = env.GITOPS_ML_PODMAN_STORAGE_DRIVER;
  if (asked) {
    if (asked !== 'overlay' && asked !== 'vfs') {
      throw new ProjectError('USAGE', `GITOPS_ML_PODMAN_STORAGE_DRIVER=${asked} is not overlay or vfs`, {
        subject: 'GITOPS_ML_PODMAN_STORAGE_DRIVER',
      });
    }
    return asked;
  }
  try {
    return /\soverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')) ? 'overlay' : 'vfs';
  } catch {
    return 'vfs';
  }
}

const HEADER =
  '# Written by tools/containers/podman.ts (podman as this project runs it); edits are overwritten.';

/** The three configuration files, as text. */
export function podmanConfigFiles(paths: PodmanPaths, driver: StorageDriver): Record<string, string> {
  const q = JSON.stringify; // TOML basic strings are JSON strings for these paths
  return {
    [paths.containersConf]: [
      HEADER,
      '[containers]',
      '# no --ulimit by default: raising RLIMIT_NOFILE is refused in some sandboxes',
      'default_ulimits = []',
      '',
      '[engine]',
      '# crun fails where cgroups are in hybrid mode; runc works on v1, hybrid and v2',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = ${q(join(paths.runroot, 'libpod'))}`,
      '',
    ].join('\n'),
    [paths.storageConf]: [
      HEADER,
      '[storage]',
      `driver = ${q(driver)}`,
      `graphroot = ${q(paths.graphroot)}`,
      `runroot = ${q(join(paths.runroot, 'storage'))}`,
      '',
    ].join('\n'),
    [paths.registriesConf]: [
      HEADER,
      '# A short name (FROM node:24...) is Docker Hub, as for Docker; with --pull=never only local images are used.',
      'unqualified-search-registries = ["docker.io"]',
      'short-name-mode = "permissive"',
      '',
    ].join('\n'),
  };
}

/** The podman executable and runc, or undefined (see {@link PODMAN_SETUP_STEP}). */
export function findPodman(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const podman = findTool('podman', env);
  return podman && findTool('runc', env) ? podman : undefined;
}

/**
 * Podman ready to run: the configuration files written (only when their text
 * changed), the environment that points podman at them. NOT_FOUND naming the
 * set-up step when podman or runc is missing.
 */
export async function preparePodman(env: Record<string, string | undefined> = process.env): Promise<Podman> {
  const command = findPodman(env as NodeJS.ProcessEnv);
  if (!command) {
    throw new ProjectError('NOT_FOUND', 'podman (with runc) is not installed', {
      subject: 'podman',
      hint: `run \`bash ${PODMAN_SETUP_STEP}\` (Debian: apt-get install podman runc)`,
    });
  }
  const paths = podmanPaths(env);
  const driver = storageDriver(env);
  for (const [file, text] of Object.entries(podmanConfigFiles(paths, driver))) {
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== text) await writeFileAtomic(file, text);
  }
  return {
    command,
    paths,
    driver,
    env: {
      ...env,
      CONTAINERS_CONF: paths.containersConf,
      CONTAINERS_STORAGE_CONF: paths.storageConf,
      CONTAINERS_REGISTRIES_CONF: paths.registriesConf,
    },
  };
}

/** Run `podman <args>` with the project's configuration (platform/shell run: quoted, timed out, errors name the command). */
export function podman(
  p: Podman,
  args: readonly string[],
  options: Omit<RunOptions, 'env'> = {},
): Promise<RunResult> {
  return run(p.command, args, { ...options, env: p.env });
}

/** The id of a local image, or undefined when the store has none by that name. */
export async function imageId(p: Podman, ref: string): Promise<string | undefined> {
  const r = await podman(p, ['image', 'inspect', '--format', '{{.Id}}', ref], {
    nothrow: true,
    timeoutMs: 60_000,
  });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Size in bytes of a local image (all its layers, as `podman image inspect` reports it). */
export async function imageSize(p: Podman, ref: string): Promise<number> {
  const r = await podman(p, ['image', 'inspect', '--format', '{{.Size}}', ref], { timeoutMs: 60_000 });
  return Number(r.stdout.trim());
}

/** A label of a local image ('' when the image lacks it), undefined when there is no such image. */
export async function imageLabel(p: Podman, ref: string, label: string): Promise<string | undefined> {
  const r = await podman(
    p,
    ['image', 'inspect', '--format', `{{index .Labels ${JSON.stringify(label)}}}`, ref],
    {
      nothrow: true,
      timeoutMs: 60_000,
    },
  );
  if (r.code !== 0) return undefined;
  const v = r.stdout.trim();
  return v === '<no value>' ? '' : v;
}
