/**
 * What goes into the serving image is tested, not listed by hand. No engine
 * here can pull the base image (buildah 1.28 from Debian builds COPY-only
 * images with VFS and chroot isolation, but `FROM node:24…` needs a registry
 * this machine cannot reach), so the image's file tree is derived from
 * serving/Dockerfile (testing/dockerfile.ts: its stages, the COPY lines
 * that read the build context, serving/Dockerfile.dockerignore), the runtime
 * stage's node_modules are installed as its deps stages do (the same
 * package-lock.json, then each `npm ci` / `npm install` of their RUN lines in
 * order), and the server is started from only those
 * files with the Dockerfile's CMD and ENV: /predict must answer. Where buildah
 * works, a real COPY-only build of the same lines gives the same files.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runSync } from '../platform/shell.ts';
import {
  type CopiedFile,
  copiedFromContext,
  type DockerStage,
  envOf,
  loadBuild,
  runtimeOf,
} from '../testing/dockerfile.ts';
import { runtimeClosure } from '../testing/import-graph.ts';
import { freePort } from '../testing/ports.ts';
import { findExecutable, inCI } from '../testing/services.ts';
import { shapePng } from '../testing/serving/fixture.ts';
import { tempFixture } from '../testing/serving/harness.ts';
import { type ServerProcess, spawnServer } from '../testing/serving/process.ts';

const ROOT = join(import.meta.dirname, '..');
const DOCKERFILE = join(ROOT, 'serving', 'Dockerfile');

let dir: string;
let stages: DockerStage[];
let runtime: DockerStage;
let copied: CopiedFile[];
let ignoreFile: string | undefined;

beforeAll(() => {
  const build = loadBuild(DOCKERFILE, ROOT);
  stages = build.stages;
  ignoreFile = build.ignoreFile;
  runtime = stages.at(-1)!;
  copied = copiedFromContext(runtime, build.kept);
});

describe('the serving image, derived from serving/Dockerfile', () => {
  it('reads its own ignore file and builds the runtime stage last', () => {
    expect(ignoreFile).toBe(`${DOCKERFILE}.dockerignore`);
    expect(stages.map((s) => s.name)).toEqual([
      'deps',
      'deps-server',
      'deps-trainer',
      'trainer',
      'relay',
      'runtime',
    ]);
    expect(runtimeOf(runtime)).toEqual({
      cmd: ['node', '--import', 'tsx', 'serving/main.ts'],
      workdir: '/app',
      user: '1000:1000',
    });
  });

  it("holds every module the server's start-up imports, and no test code", () => {
    const inImage = new Set(copied.map((c) => c.context));
    const needed = [...runtimeClosure(ROOT, 'serving/main.ts')].filter((f) => f.endsWith('.ts'));
    expect(needed.length).toBeGreaterThan(20);
    expect(needed.filter((f) => !inImage.has(f))).toEqual([]);
    // The worker thread is loaded by URL (new Worker), not by import: it must be there too.
    expect(inImage.has('serving/worker/thread.ts')).toBe(true);
    expect([...inImage].filter((f) => /\.test\.ts$|(^|\/)testing\//.test(f))).toEqual([]);
    // Only the layers serving may import (tools/policy/layers.test.ts): nothing of the lock, training or the pipelines.
    expect(
      [...inImage].filter((f) => /^(lock|training|pipelines|gitops|monitoring|scripts)\//.test(f)),
    ).toEqual([]);
    for (const c of copied) expect(c.image.startsWith('/app/')).toBe(true);
  });

  it('the relay target holds everything scripts/alert-relay.ts imports, and nothing of serving or training', () => {
    const relay = stages.find((st) => st.name === 'relay')!;
    const inImage = new Set(copiedFromContext(relay, loadBuild(DOCKERFILE, ROOT).kept).map((c) => c.context));
    const needed = [...runtimeClosure(ROOT, 'scripts/alert-relay.ts')].filter((f) => f.endsWith('.ts'));
    expect(needed).toContain('monitoring/alert-relay.ts');
    expect(needed.filter((f) => !inImage.has(f))).toEqual([]);
    expect(
      [...inImage].filter((f) => /^(serving|training)\//.test(f) || /\.test\.ts$|(^|\/)testing\//.test(f)),
    ).toEqual([]);
    expect(runtimeOf(relay).cmd).toEqual([
      'node',
      '--import',
      'tsx',
      'scripts/alert-relay.ts',
      '--host',
      '0.0.0.0',
    ]);
  });

  it('the derivation can fail: a COPY of an ignored or missing path is an error', () => {
    const bad: DockerStage = {
      name: 'x',
      base: 'scratch',
      instructions: [{ keyword: 'COPY', args: 'bench ./bench', line: 1 }],
    };
    expect(() => copiedFromContext(bad, loadBuild(DOCKERFILE, ROOT).kept)).toThrow(
      'Dockerfile line 1: COPY bench: no such file in the build context (or it is ignored)',
    );
  });

  describe('started from only the image files', () => {
    let app: string;
    let server: ServerProcess | undefined;
    let fixture: Awaited<ReturnType<typeof tempFixture>>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'serving-image-'));
      app = join(dir, 'image', 'app');
      for (const c of copied) {
        await mkdir(join(dir, 'image', posix.dirname(c.image)), { recursive: true });
        await cp(join(ROOT, c.context), join(dir, 'image', c.image));
      }
      // The stages node_modules comes from (deps-server, on deps): the same package.json and
      // lock, their npm commands in order, then the native backend's set-up as its RUN line has
      // it (libtensorflow from the PyPI wheel, vendored into the package). Two differences: the
      // set-up's cache is this machine's (the image build uses a throwaway one), and node-gyp is
      // this checkout's (the image uses the one npm bundles).
      const from = runtime.instructions.find((i) => i.keyword === 'COPY' && i.args.startsWith('--from='));
      expect(from?.args).toBe('--from=deps-server /app/node_modules ./node_modules');
      const chain: DockerStage[] = [];
      for (
        let st = stages.find((x) => x.name === 'deps-server');
        st;
        st = stages.find((x) => x.name === st!.base)
      ) {
        chain.unshift(st);
      }
      expect(chain.map((x) => x.name)).toEqual(['deps', 'deps-server']);
      const depsDir = join(dir, 'deps');
      for (const c of chain.flatMap((st) => copiedFromContext(st, loadBuild(DOCKERFILE, ROOT).kept))) {
        await mkdir(join(depsDir, posix.dirname(c.image.replace(/^\/app\/?/, ''))), { recursive: true });
        await cp(join(ROOT, c.context), join(depsDir, c.image.replace(/^\/app\/?/, '')));
      }
      const runs = chain.flatMap((st) => st.instructions.filter((i) => i.keyword === 'RUN'));
      const commands = runs.flatMap((i) => [
        ...i.args.matchAll(
          /npm (ci|install) ([^&]*)|node --import tsx (scripts\/setup-tfjs-native\.ts [^&]*)/g,
        ),
      ]);
      const words = (s: string) => s.split(/\s+/).filter((w) => w && w !== '\\');
      expect(commands.map((m) => m[1] ?? 'setup-tfjs-native')).toEqual([
        'ci',
        'install',
        'setup-tfjs-native',
      ]);
      for (const m of commands) {
        if (m[1]) runSync('npm', [m[1], ...words(m[2] as string)], { cwd: depsDir, timeoutMs: 600_000 });
        else {
          runSync(process.execPath, ['--import', 'tsx', ...words(m[3] as string)], {
            cwd: depsDir,
            timeoutMs: 900_000,
            env: {
              ...process.env,
              npm_config_node_gyp: join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
            },
          });
        }
      }
      await cp(join(depsDir, 'node_modules'), join(app, 'node_modules'), {
        recursive: true,
        verbatimSymlinks: true,
      });
      // What the deps stages leave out stays out: no dev dependency in the image.
      expect(
        (await readdir(join(app, 'node_modules'))).filter((n) =>
          ['jest', 'typescript', '@biomejs'].includes(n),
        ),
      ).toEqual([]);
      fixture = await tempFixture();
    }, 900_000);

    afterAll(async () => {
      server?.proc.kill('SIGTERM');
      if (server) await server.exited;
      await fixture?.cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    it('answers /predict with the Dockerfile CMD and ENV (only the port moved to a free one)', async () => {
      expect((await readdir(app)).sort()).toEqual([
        'model',
        'node_modules',
        'package.json',
        'platform',
        'serving',
        'tsconfig.json',
      ]);
      const { cmd, workdir } = runtimeOf(runtime);
      expect(cmd[0]).toBe('node');
      const port = await freePort();
      const env = { ...envOf(runtime), ...fixture.env, SERVING_PORT: String(port) };
      expect(env).toMatchObject({ NODE_ENV: 'production', SERVING_HOST: '0.0.0.0', TMPDIR: '/tmp' });
      server = spawnServer(env, { cwd: join(dir, 'image', workdir), nodeArgs: cmd.slice(1) });
      await server.ready;
      const res = await fetch(`http://127.0.0.1:${port}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: shapePng('circle'),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { model: string; version: string; predictions: unknown[] };
      expect(body.model).toBe('demo-classifier');
      expect(body.version).toBe(fixture.pin.version);
      expect(body.predictions.length).toBeGreaterThan(0);
      // It ran from the image tree, not from this checkout, on the native backend vendored there.
      expect(server.proc.spawnargs).toContain('serving/main.ts');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^serving_model_info\{[^}]*backend="tensorflow"[^}]*\} 1$/m);
      const pkg = join(app, 'node_modules', '@tensorflow', 'tfjs-node');
      expect(await readlink(join(pkg, 'deps', 'lib'))).toBe(join('libtensorflow', 'tensorflow'));
      expect(await readdir(join(pkg, 'deps', 'libtensorflow', 'tensorflow'))).toEqual(
        expect.arrayContaining(['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']),
      );
    }, 120_000);
  });

  it('buildah, where it works, puts the same files in a COPY-only build of the runtime stage', async () => {
    const buildah = findExecutable('buildah');
    const probe = buildah
      ? runSync(buildah, ['--storage-driver', 'vfs', 'images'], { nothrow: true })
      : undefined;
    if (!buildah || probe?.code !== 0) {
      if (inCI()) throw new Error(`CI=true and buildah is not usable: ${probe?.stderr ?? 'not installed'}`);
      console.warn('skipping: buildah not installed or not usable (apt-get install buildah)');
      return;
    }
    const work = await mkdtemp(join(tmpdir(), 'buildah-'));
    const storage = [
      '--storage-driver',
      'vfs',
      '--root',
      join(work, 'storage'),
      '--runroot',
      join(work, 'run'),
    ];
    try {
      const lines = ['FROM scratch'];
      for (const i of runtime.instructions) {
        if (i.keyword === 'WORKDIR' || (i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
          lines.push(`${i.keyword} ${i.args}`);
        }
      }
      const file = join(work, 'Containerfile');
      await import('node:fs/promises').then((fs) => fs.writeFile(file, `${lines.join('\n')}\n`));
      const bud = runSync(
        buildah,
        [
          ...storage,
          'bud',
          '--isolation',
          'chroot',
          '--ignorefile',
          ignoreFile!,
          '-f',
          file,
          '-t',
          'copy-only',
          ROOT,
        ],
        { nothrow: true, timeoutMs: 300_000 },
      );
      expect(bud.stderr).not.toMatch(/^Error/m);
      expect(bud.code).toBe(0);
      const ctr = runSync(buildah, [...storage, 'from', 'copy-only']).stdout.trim();
      const mount = runSync(buildah, [...storage, 'mount', ctr]).stdout.trim();
      const files: string[] = [];
      const walk = async (rel: string) => {
        for (const e of await readdir(join(mount, rel), { withFileTypes: true })) {
          const p = `${rel}/${e.name}`;
          if (e.isDirectory()) await walk(p);
          else files.push(p);
        }
      };
      await walk('/app');
      expect(files.sort()).toEqual(copied.map((c) => c.image).sort());
      for (const c of copied.slice(0, 20)) {
        expect(await readFile(join(mount, c.image))).toEqual(await readFile(join(ROOT, c.context)));
      }
      runSync(buildah, [...storage, 'umount', ctr], { nothrow: true });
      runSync(buildah, [...storage, 'rm', ctr], { nothrow: true });
    } finally {
      runSync(buildah, [...storage, 'rmi', '-a', '-f'], { nothrow: true });
      await rm(work, { recursive: true, force: true });
    }
  }, 300_000);
});
