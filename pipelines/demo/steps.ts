/**
 * The one-command demo (`npm run demo`, docs/demo.md): the whole path of one
 * model, locally, on a COPY of the repository's GitOps files in a work folder
 * (default `./.demo/`), so the user's models.lock.json and environments/ are
 * never modified. Steps: generate the data, train + track + add to the lock,
 * promote to dev, render dev with real Kustomize, start the server, send a
 * real image with curl, leave the server running.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { quote } from 'zx';
import { findKustomize, formatTable, renderAll, summarize, writeRendered } from '../../gitops/index.ts';
import { emptyLock, readLock, writeLock } from '../../lock/index.ts';
import { ensureLocalKey, SIGNING_POLICY_PATH, trustPublicKey } from '../../model/signing/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import { run as runTool } from '../../platform/shell.ts';
import type { TrainingConfig } from '../../training/config.ts';
import { generateDemoDataset } from '../../training/data/index.ts';
import { promote, promotionContext } from '../promotion/index.ts';
import { trainAndRecord } from '../training/index.ts';

/** The demo's environment: always dev. */
export const DEMO_ENV = 'dev';

export interface DemoOptions {
  /** Repository root: where environments/ and manifests/ are copied from. */
  repoRoot: string;
  /** The work folder (default `<cwd>/.demo`); everything the demo writes goes here. */
  workDir: string;
  config: TrainingConfig;
  configPath: string;
  /** Port of the server (0: any free port). */
  port: number;
  /** Show the training progress bar. */
  progress: boolean;
  /** Environment for tracking (MLFLOW_TRACKING_URI is ignored: the demo uses the local store). */
  env: Record<string, string | undefined>;
  /** The process's environment: PATH and HOME for the server, git and Kustomize. */
  processEnv: Record<string, string | undefined>;
  /** Print one line. */
  print: (line: string) => void;
  /** Resolves when the user asks to stop (Ctrl-C); absent: stop after step 6. */
  waitForStop?: () => Promise<void>;
  /** Clock (tests). */
  now?: () => number;
  /** The gates config for the promotion (default: the copy's environments/promotion-gates.json). */
  gatesPath?: string;
}

/** What the demo did, for the caller and tests. */
export interface DemoResult {
  workDir: string;
  lockPath: string;
  model: string;
  version: string;
  artifactDir: string;
  accuracy: number;
  /** Rendered dev manifests (undefined when Kustomize is missing). */
  renderedDev?: string;
  url: string;
  curlCommand: string;
  answer: { model: string; version: string; predictions: { label: string; probability: number }[] };
  image: string;
  steps: { n: number; title: string; seconds: number }[];
  totalSeconds: number;
}

/** A running server process, as step 5 starts it. */
interface ServerHandle {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/** Start the server as `npm run serve` does (scripts/serve.ts), configured from the lock + environment; resolve when ready. */
async function startServer(
  repoRoot: string,
  env: Record<string, string>,
  processEnv: Record<string, string | undefined>,
): Promise<ServerHandle> {
  const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
  const proc = spawn(process.execPath, [tsx, join(repoRoot, 'scripts', 'serve.ts')], {
    cwd: repoRoot,
    env: { PATH: processEnv.PATH ?? '', HOME: processEnv.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((res, rej) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      for (const line of log.split('\n')) {
        if (!line.includes('"msg":"ready"')) continue;
        try {
          const u = (JSON.parse(line) as { url?: string }).url;
          if (u) res(u.replace('0.0.0.0', '127.0.0.1'));
        } catch {
          // a partial line: wait for the rest
        }
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) =>
      rej(
        new ProjectError(
          'INVALID',
          `the server (scripts/serve.ts) exited with code ${code} before it was ready`,
          {
            subject: 'scripts/serve.ts',
            hint: `its log:\n${log.trim()}`,
          },
        ),
      ),
    );
  });
  const exited = new Promise<void>((res) => proc.on('exit', () => res()));
  return {
    url,
    pid: proc.pid ?? 0,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Poll `<url>/readyz` until it answers 200 (the server is ready once the model is loaded). */
async function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new ProjectError(
    'INVALID',
    `${url}/readyz did not answer 200 within ${timeoutMs / 1000} s (${last})`,
  );
}

/** Shell-quote one argument for printing a command the user can paste (zx's quoting, as the shell reads it). */
const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : quote(s));

/** Find curl on PATH (undefined when missing). */
async function findCurl(): Promise<string | undefined> {
  const r = await runTool('curl', ['--version'], { timeoutMs: 10_000, nothrow: true }).catch(() => undefined);
  return r?.code === 0 ? 'curl' : undefined;
}

/** Send the image as multipart field `image`: with curl when there is one, otherwise with fetch. */
async function postImage(
  url: string,
  image: string,
  print: (l: string) => void,
): Promise<{ command: string; body: string }> {
  const args = ['-s', '-F', `image=@${image}`, `${url}/predict`];
  const command = ['curl', ...args].map(q).join(' ');
  if (await findCurl()) {
    print(`   $ ${command}`);
    const { stdout } = await runTool('curl', ['--fail-with-body', ...args], { timeoutMs: 60_000 });
    return { command, body: stdout };
  }
  print(`   curl is not installed; sending the same request with fetch (what this would be: ${command})`);
  const form = new FormData();
  form.append('image', new Blob([await readFile(image)], { type: 'image/png' }), 'image.png');
  const r = await fetch(`${url}/predict`, { method: 'POST', body: form });
  return { command, body: await r.text() };
}

/** One PNG per class from the generated data: the page's samples and the image curl sends. */
async function pickSamples(dataDir: string, samplesDir: string): Promise<string[]> {
  await mkdir(samplesDir, { recursive: true });
  const out: string[] = [];
  for (const cls of (await readdir(dataDir, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    const first = (await readdir(join(dataDir, cls.name))).filter((f) => f.endsWith('.png')).sort()[0];
    if (!first) continue;
    const dest = join(samplesDir, `${cls.name}.png`);
    await cp(join(dataDir, cls.name, first), dest);
    out.push(dest);
  }
  return out.sort();
}

/** What every step of one run shares: the options, the work folder's paths, the step clock. */
interface DemoRun {
  o: DemoOptions;
  work: string;
  lockPath: string;
  dataDir: string;
  model: string;
  print: (line: string) => void;
  /** A path as the user reads it: relative to the current folder when inside it. */
  rel: (path: string) => string;
  now: () => number;
  t0: number;
  steps: DemoResult['steps'];
}

/** Run step `n`: a numbered header, what it did, how long it took. */
async function step<T>(run: DemoRun, n: number, title: string, fn: () => Promise<T>): Promise<T> {
  run.print('');
  run.print(`== ${n}/7 ${title}`);
  const s = run.now();
  const out = await fn();
  const seconds = (run.now() - s) / 1000;
  run.steps.push({ n, title, seconds });
  run.print(`   (step ${n}: ${seconds.toFixed(1)} s)`);
  return out;
}

/**
 * Run the demo. Every step prints a numbered header, what it did and how
 * long it took. With `waitForStop` the server runs until it resolves; without,
 * the server is stopped after step 6.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const now = o.now ?? (() => performance.now());
  const work = resolve(o.workDir);
  const run: DemoRun = {
    o,
    work,
    lockPath: join(work, 'models.lock.json'),
    dataDir: join(work, 'data', o.config.name),
    model: o.config.name,
    print: o.print,
    rel: (p) => {
      const r = relative(process.cwd(), p);
      return r === '' ? '.' : r.startsWith('..') ? p : r;
    },
    now,
    t0: now(),
    steps: [],
  };
  await prepareCopy(run);
  await step(run, 1, 'Generate the demo data', () => generateData(run));
  const trained = await step(run, 2, 'Train, track (local run store), add to the lock', () => train(run));
  const version = trained.lockVersion as string;
  await step(run, 3, `Promote ${run.model} ${version} to ${DEMO_ENV}`, () => promoteToDev(run, version));
  const renderedDev = await step(run, 4, `Render ${DEMO_ENV} with Kustomize`, () => renderDev(run));
  const samplesDir = join(work, 'samples');
  const samples = await pickSamples(run.dataDir, samplesDir);
  const server = await step(run, 5, 'Start the server', () => serve(run, version, samplesDir));
  try {
    const image = samples[0];
    if (!image) throw new ProjectError('NOT_FOUND', `no PNG found in ${run.dataDir} to send`);
    const sent = await step(run, 6, 'Send a real image', () => postImage(server.url, image, run.print));
    const result: DemoResult = {
      workDir: work,
      lockPath: run.lockPath,
      model: run.model,
      version,
      artifactDir: trained.train.artifactDir,
      accuracy: trained.train.metrics.accuracy,
      renderedDev,
      url: server.url,
      curlCommand: sent.command,
      answer: answerOf(server.url, sent.body, run.print),
      image,
      steps: run.steps,
      totalSeconds: (now() - run.t0) / 1000,
    };
    await keepServing(run, result);
    return result;
  } finally {
    await server.stop();
  }
}

/** Step 0, the copy: an empty lock, environments/ and manifests/ from the repository. */
async function prepareCopy({ o, work, lockPath, print, rel }: DemoRun): Promise<void> {
  print(`Demo work folder: ${rel(work)}/ (a COPY: your models.lock.json and environments/ are not modified)`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await writeLock(lockPath, emptyLock());
  await cp(join(o.repoRoot, 'environments'), join(work, 'environments'), { recursive: true });
  await cp(join(o.repoRoot, 'manifests'), join(work, 'manifests'), { recursive: true });
  print(`   initialised ${rel(lockPath)} (empty) and copied environments/ and manifests/ into ${rel(work)}/`);
  // Nothing unsigned runs (docs/signing.md): the demo signs with a key of its own, trusted by its copy's policy only.
  const key = await ensureLocalKey(demoKeyPath(work));
  await trustPublicKey(join(work, SIGNING_POLICY_PATH), 'demo key (this work folder)', key.publicKey);
  print(`   made the signing key ${rel(key.path)} and trusted it in the copy's ${SIGNING_POLICY_PATH}`);
}

/** The demo's own signing key, in its work folder. */
const demoKeyPath = (work: string): string => join(work, 'signing', 'demo-key.pem');

/** Step 1: the generated image folders. */
async function generateData({ o, dataDir, print, rel }: DemoRun): Promise<void> {
  const d = o.config.data;
  const ds = await generateDemoDataset(dataDir, {
    seed: o.config.seed,
    perClass: d.perClass,
    size: d.size,
    channels: d.channels,
  });
  print(`   ${ds.files} PNG images of ${ds.labels.join(', ')} in ${rel(ds.root)}/ (seed ${o.config.seed})`);
}

/** Step 2: train, track in the local store, add the candidate to the lock. */
async function train({ o, work, dataDir, lockPath, model, print, rel }: DemoRun) {
  const r = await trainAndRecord({
    // The golden set is generated into the work folder too: the checkout stays as it was.
    config: o.config.golden
      ? { ...o.config, golden: { ...o.config.golden, path: join(work, 'data', 'golden') } }
      : o.config,
    configPath: o.configPath,
    // The demo always uses the local store: nothing configured, nothing sent anywhere.
    env: {
      ...o.env,
      MLFLOW_TRACKING_URI: undefined,
      TRACKING_LOCAL_STORE: join(work, 'mlruns-local'),
      MODEL_SIGNING: undefined,
      MODEL_SIGNING_KEY: demoKeyPath(work),
    },
    cwd: work,
    source: {},
    outDir: join(work, 'artifacts', `${model}`),
    dataPath: dataDir,
    lockPath,
    progress: o.progress,
    log: (l) => print(`   ${l}`),
  });
  print(
    `   trained ${model}: test accuracy ${r.train.metrics.accuracy.toFixed(4)}, macro-F1 ${r.train.metrics.macro_f1.toFixed(4)}, ` +
      `${r.train.epochsRun} epochs, ${r.train.durationSeconds.toFixed(1)} s on ${r.train.backend.name}`,
  );
  print(`   artifact ${rel(r.train.artifactDir)}/ (root digest ${r.train.rootDigest.slice(0, 16)}...)`);
  print(`   run ${r.tracking.runId} recorded in the local store ${rel(join(work, 'mlruns-local'))}/`);
  print(`   added ${model} version ${r.lockVersion} (candidate) to ${rel(lockPath)}`);
  return r;
}

/** Step 3: the real promotion (pipelines/promotion promote): gates, digest check, render check, lock + pin file. */
async function promoteToDev(
  { o, work, lockPath, model, print, rel }: DemoRun,
  version: string,
): Promise<void> {
  const envDir = join(work, 'environments');
  const gates = o.gatesPath ?? join(envDir, 'promotion-gates.json');
  const flags = ['--env', DEMO_ENV, '--model', model, '--version', version, '--lock', lockPath];
  flags.push('--root', work, ...(o.gatesPath ? ['--gates', gates] : []));
  print(`   npm run promote -- ${flags.map((a) => q(a.startsWith('/') ? rel(a) : a)).join(' ')}`);
  let text = '';
  const ctx = promotionContext({
    cwd: work,
    // Nobody's identity or MLflow: the copy is local; git and Kustomize come from the process.
    env: {},
    processEnv: o.processEnv,
    lock: lockPath,
    environments: envDir,
    gates,
    commit: false,
    push: false,
    remote: 'origin',
    render: true,
    print: (t) => (text += `${t}\n`),
    now: () => new Date(),
  });
  try {
    await promote({ env: DEMO_ENV, model, version }, ctx);
  } finally {
    for (const line of text.trimEnd().split('\n')) if (line) print(`   ${line}`);
  }
  const pinned = (await readLock(lockPath)).models[model]?.pins[DEMO_ENV] === version;
  if (!pinned) {
    throw new ProjectError('INVALID', `promote did not pin ${model} ${version} to ${DEMO_ENV}`, {
      subject: lockPath,
    });
  }
  print(`   ${rel(lockPath)}: pins.${DEMO_ENV} = ${version} (promotion recorded)`);
  print(
    `   ${rel(join(envDir, DEMO_ENV, 'model-pin.yaml'))}: SERVING_MODEL_* env and ml.gitops/* annotations`,
  );
}

/** Step 4: render dev with real Kustomize (installed once when missing); undefined when it cannot be. */
async function renderDev({ o, work, lockPath, print, rel }: DemoRun): Promise<string | undefined> {
  let kustomize: Awaited<ReturnType<typeof findKustomize>>;
  try {
    kustomize = await findKustomize();
  } catch {
    // A fresh machine without kubectl: build Kustomize as the test set-up does (Go module proxy).
    const setup = join(o.repoRoot, 'scripts', 'setup.d', '20-kube-tools.sh');
    print(`   no Kustomize 5.7+ found: installing it with \`bash ${rel(setup)}\` (once, cached)`);
    try {
      await runTool('bash', [setup], { timeoutMs: 30 * 60_000 });
      kustomize = await findKustomize();
    } catch (e) {
      print(`   skipped: ${(e as Error).message}`);
      print(
        '   install kubectl >= 1.34 or run `bash scripts/setup.d/20-kube-tools.sh`, then run the demo again',
      );
      return undefined;
    }
  }
  const report = await renderAll({ root: work, lockPath, kustomize, envs: [DEMO_ENV] });
  const paths = await writeRendered(join(work, 'rendered'), report);
  print(`   ${kustomize.label}: every object passed the schema and policy checks`);
  for (const line of formatTable(summarize(report)).trimEnd().split('\n')) print(`   ${line}`);
  for (const p of paths) print(`   wrote ${rel(p)}`);
  return paths.find((p) => p.endsWith(`environments/${DEMO_ENV}.yaml`));
}

/** Step 5: start the server from the lock, as `npm run serve` would; resolves once it is ready. */
async function serve(
  { o, lockPath, model, print, rel }: DemoRun,
  version: string,
  samplesDir: string,
): Promise<ServerHandle> {
  const env = {
    SERVING_LOCK_FILE: lockPath,
    SERVING_ENVIRONMENT: DEMO_ENV,
    SERVING_HOST: '127.0.0.1',
    SERVING_PORT: String(o.port),
    SERVING_SAMPLES_DIR: samplesDir,
  };
  print(
    `   ${Object.entries(env)
      .map(([k, v]) => `${k}=${q(v.startsWith('/') ? rel(v) : v)}`)
      .join(' ')} npm run serve`,
  );
  const s = await startServer(o.repoRoot, env, o.processEnv);
  await waitReady(s.url);
  print(`   ready: ${s.url}/readyz answers 200 (pid ${s.pid}); serving ${model} ${version} from the lock`);
  return s;
}

/** The /predict answer, printed; INVALID when it is not JSON. */
function answerOf(url: string, body: string, print: (line: string) => void): DemoResult['answer'] {
  let answer: DemoResult['answer'];
  try {
    answer = JSON.parse(body) as DemoResult['answer'];
  } catch (e) {
    throw new ProjectError('INVALID', `${url}/predict answered something that is not JSON: ${body}`, {
      cause: e,
    });
  }
  for (const line of JSON.stringify(answer, null, 2).split('\n')) print(`   ${line}`);
  return answer;
}

/** The summary and step 7: the server keeps running until the user stops it (or stops now with --no-wait). */
async function keepServing({ o, print }: DemoRun, result: DemoResult): Promise<void> {
  print('');
  print(
    `Done in ${result.totalSeconds.toFixed(1)} s: ${result.steps.map((s) => `${s.n}. ${s.seconds.toFixed(1)} s`).join(', ')}`,
  );
  print('');
  print(`== 7/7 The server is running`);
  print(`   page:    ${result.url}/`);
  print(`   metrics: ${result.url}/metrics`);
  if (o.waitForStop) {
    print('   Ctrl-C to stop it.');
    await o.waitForStop();
    print('   stopping the server...');
  } else {
    print('   --no-wait: stopping it now.');
  }
}

/** True when `dir` looks like the repository root (environments/ and manifests/ present). */
export function isRepoRoot(dir: string): boolean {
  return existsSync(join(dir, 'environments')) && existsSync(join(dir, 'manifests', 'base'));
}
