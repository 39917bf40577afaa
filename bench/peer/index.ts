/**
 * Peer benchmark (`npm run bench:peer`; not a test): the same model artifact
 * (same architecture, same weights, same preprocessing) served by this
 * repository's server (serving/main.ts, Koa, default backend: the native one
 * where scripts/setup.d/70-tfjs-native.sh ran) and by the Python servers an
 * MLOps team would pick instead, each started as its docs start it
 * (bench/peer/servers.ts): FastAPI + TensorFlow/Keras under uvicorn (1 and 2
 * worker processes), KServe's ModelServer (`--workers` 1 and 2, its v1 and
 * Open Inference Protocol v2 routes) and LitServe with request batching. All
 * are driven by the same load generator (autocannon) with the same PNG, in
 * the form each route takes (bench/peer/protocols.ts), at 1, 16 and 64
 * concurrent clients, one server at a time, every server once per round
 * (`--repeat` rounds, so that each figure has a spread).
 *
 * For each model (the demo model, and a model of training/configs/cifar10.json's
 * size: bench/models.ts) it prints requests/second (= images/s), p50/p99
 * latency and peak RSS of koa beside each peer with the ratios, a summary of
 * koa against the best peer at each load, checks that every peer route gives
 * koa's top-1 on a few images, and writes bench/results/<results>.json and .md.
 *
 * Set-up first (PyPI, minutes): `bash bench/peer/setup.sh`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import autocannon from 'autocannon';
import { versionIdOf } from '../../lock/index.ts';
import { artifactJson, openArtifactDir, preprocessingOf } from '../../model/artifact/read.ts';
import type { PreprocessingSpec } from '../../model/preprocessing.ts';
import {
  checkChoice,
  command,
  ProjectError,
  runIfMain,
  stableStringify,
  usageError,
  usageOf,
} from '../../platform/index.ts';
import { SERVER_PROCESS_ENV } from '../../serving/process-env.ts';
import { generateDemoDataset } from '../../training/index.ts';
import { BENCH_MODELS, type BenchModel, defaultArtifactDir, ensureBenchArtifact } from '../models.ts';
import {
  type Answer,
  maxProbabilityDiff,
  type Protocol,
  type Request,
  ROUTE_OF,
  readAnswer,
  requestOf,
} from './protocols.ts';
import {
  type Agreement,
  type Measure,
  type ModelMeta,
  type ModelReport,
  markdown,
  percentile,
  type Target,
} from './report.ts';
import {
  DEFAULT_PYTHONS,
  PEER_NAMES,
  PEERS,
  type PeerName,
  type Pythons,
  type Running,
  sampleRss,
  startKoa,
  startPeer,
} from './servers.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

export interface PeerBenchOptions {
  model: BenchModel;
  artifact?: string;
  duration: number;
  clients: number[];
  peers: PeerName[];
  /** Rounds: every server measured once per round. */
  repeat: number;
  pythons: Pythons;
  log: (line: string) => void;
}

/** The artifact every server loads, as the bench reads it (model/artifact, every file checked). */
interface PeerArtifact {
  dir: string;
  verified: Awaited<ReturnType<typeof openArtifactDir>>;
  spec: PreprocessingSpec;
  labels: string[];
  model: { name: string; version: string };
}

interface PeerImage {
  name: string;
  png: Uint8Array;
}

/** What one model's benchmark keeps while it runs: the targets measured, the agreement, what was skipped. */
interface Bench {
  o: PeerBenchOptions;
  artifact: PeerArtifact;
  images: PeerImage[];
  targets: Target[];
  agreement: Agreement[];
  skipped: string[];
  /** koa's answers on /predict, the reference of the agreement check. */
  reference?: Answer[];
  /** koa's routes, decided in round 1 (v2 when it answers the BYTES image form). */
  koaProtocols?: Protocol[];
  koaBackend?: string;
}

const labelOf = (server: string, protocol: Protocol) =>
  protocol === 'predict' ? server : `${server} (${protocol})`;

/** autocannon sends the same request; latency percentiles from every response. */
async function load(server: Running, req: Request, clients: number, duration: number): Promise<Measure> {
  const times: number[] = [];
  const rss = sampleRss(server.pid);
  const result = await new Promise<autocannon.Result>((res, rej) => {
    const instance = autocannon(
      {
        url: `${server.url}${req.path}`,
        method: 'POST',
        headers: { 'content-type': req.contentType },
        body: req.body,
        connections: clients,
        duration,
      },
      (err, r) => (err ? rej(err) : res(r)),
    );
    instance.on('response', (_c, _s, _b, responseTime) => times.push(responseTime));
  });
  const rssPeakMiB = await rss.stop();
  times.sort((a, b) => a - b);
  return {
    requests: result.requests.total,
    rps: Math.round(result.requests.total / duration),
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    errors: result.errors,
    non2xx: result.non2xx,
    rssPeakMiB,
  };
}

/** One request to `url`: the status and the body's text. */
async function send(url: string, req: Request): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${req.path}`, {
    method: 'POST',
    headers: { 'content-type': req.contentType },
    body: new Uint8Array(req.body),
  });
  return { status: r.status, text: await r.text() };
}

async function findArtifact(
  kind: BenchModel,
  flag: string | undefined,
  log: (l: string) => void,
): Promise<string> {
  if (flag) return resolve(flag);
  const demo = join(ROOT, '.demo', 'artifacts', 'demo-classifier');
  if (kind === 'demo' && existsSync(join(demo, 'digests.json'))) {
    log(`artifact: ${relative(ROOT, demo)} (from npm run demo)`);
    return demo;
  }
  const dir = defaultArtifactDir(kind);
  await ensureBenchArtifact(kind, dir);
  log(`artifact: ${relative(ROOT, dir)}`);
  return dir;
}

/** One model benched: koa and each peer, every one once per round, after the agreement check of round 1. */
export async function benchPeer(o: PeerBenchOptions) {
  requirePythons(o);
  const tmp = await mkdtemp(join(tmpdir(), 'bench-peer-'));
  try {
    const artifact = await readPeerArtifact(await findArtifact(o.model, o.artifact, o.log));
    const images = await checkImages(tmp, artifact.spec);
    const b: Bench = { o, artifact, images, targets: [], agreement: [], skipped: [] };
    for (let round = 0; round < o.repeat; round++) {
      o.log(`\n-- round ${round + 1}/${o.repeat}`);
      await measureKoa(b, round);
      for (const peer of o.peers) {
        const running = await startPeer(peer, o.pythons, ROOT, {
          artifact: artifact.dir,
          model: artifact.model,
        });
        try {
          await measureServer(b, running, peer, PEERS[peer].protocols, round);
        } finally {
          await running.stop();
        }
      }
    }
    return {
      meta: metaOf(b),
      targets: b.targets,
      agreement: b.agreement,
      skipped: b.skipped,
    } satisfies ModelReport;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The Python of every venv the chosen peers need is there, else NOT_FOUND naming the venv and how to make it. */
function requirePythons(o: PeerBenchOptions): void {
  for (const venv of new Set(o.peers.map((p) => PEERS[p].venv))) {
    const python = o.pythons[venv];
    if (!existsSync(python)) {
      const flag = venv === 'keras' ? '--python' : '--servers-python';
      throw new ProjectError('NOT_FOUND', `the ${venv} peers' Python ${python} is not there`, {
        subject: python,
        hint: `run \`bash bench/peer/setup.sh ${venv}\` (PyPI, minutes), pass ${flag}, or leave those peers out of --peers`,
      });
    }
  }
}

async function readPeerArtifact(dir: string): Promise<PeerArtifact> {
  const verified = await openArtifactDir(dir);
  const training = artifactJson(verified, 'training.json') as { name?: string };
  return {
    dir,
    verified,
    spec: preprocessingOf(verified),
    labels: artifactJson(verified, 'labels.json') as string[],
    model: { name: training.name ?? 'model', version: versionIdOf(verified.sha256) },
  };
}

/** A few fresh images per class (another seed than training's): the check set, the first is the load image. */
async function checkImages(tmp: string, spec: PeerArtifact['spec']): Promise<PeerImage[]> {
  const ds = await generateDemoDataset(join(tmp, 'images'), {
    seed: 20_251,
    perClass: 2,
    size: spec.width,
    channels: spec.channels,
  });
  const images: PeerImage[] = [];
  for (const label of ds.labels) {
    for (const f of (await readdir(join(ds.root, label))).sort()) {
      images.push({ name: `${label}/${f}`, png: await readFile(join(ds.root, label, f)) });
    }
  }
  return images;
}

/** The serving/main.ts settings that load the artifact. */
function koaEnvOf(a: PeerArtifact): Record<string, string> {
  return {
    SERVING_MODEL_NAME: a.model.name,
    SERVING_MODEL_VERSION: a.model.version,
    SERVING_MODEL_URI: a.dir,
    SERVING_MODEL_DIGESTS: JSON.stringify(a.verified.digests),
    SERVING_MODEL_SHA256: a.verified.sha256,
    SERVING_QUEUE_CAPACITY: '1024',
    // As the image starts it (serving/Dockerfile): malloc arenas and V8's young generation.
    ...SERVER_PROCESS_ENV,
  };
}

/** One measure as a log line, e.g. `kserve (v2)   clients 16:   812 req/s  p50 18 ms ...`. */
function measureLine(label: string, clients: number, m: Measure): string {
  return (
    `${label.padEnd(16)} clients ${String(clients).padStart(2)}: ${String(m.rps).padStart(5)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  RSS ${m.rssPeakMiB} MiB` +
    (m.errors || m.non2xx ? `  (${m.non2xx} non-2xx, ${m.errors} errors)` : '')
  );
}

/** This server's round: in round 1 its tfjs backend and whether it answers the v2 image form; then its routes. */
async function measureKoa(b: Bench, round: number): Promise<void> {
  const koa = await startKoa(ROOT, koaEnvOf(b.artifact));
  try {
    if (!b.koaProtocols) {
      const api = (await (await fetch(`${koa.url}/api/model`)).json()) as { backend?: string };
      b.koaBackend = String(api.backend ?? 'default');
      b.koaProtocols = ['predict'];
      const skip = await probeV2(koa.url, b.artifact.model.name, b.images[0]!.png);
      if (skip) {
        b.skipped.push(skip);
        b.o.log(skip);
      } else b.koaProtocols.push('v2');
    }
    await measureServer(b, koa, 'koa', b.koaProtocols, round);
  } finally {
    await koa.stop();
  }
}

/**
 * Whether koa answers the Open Inference Protocol route with the BYTES image
 * form KServe takes: undefined when it does (200), else why its v2 row is
 * skipped (404: the route is missing; another status: the form is refused).
 */
async function probeV2(url: string, model: string, png: Uint8Array): Promise<string | undefined> {
  const req = requestOf('v2', model, png);
  const { status, text } = await send(url, req);
  if (status === 200) return undefined;
  return status === 404
    ? `koa (v2) skipped: serving/main.ts answered 404 to POST ${req.path}: the route is missing`
    : `koa (v2) skipped: serving/main.ts answered ${status} to POST ${req.path} with a BYTES input "image" (base64 PNG): ${text.slice(0, 200)}`;
}

/** The target of `server` on `protocol`, made on first use. */
function targetOf(b: Bench, server: Target['server'], protocol: Protocol): Target {
  const label = labelOf(server, protocol);
  let t = b.targets.find((x) => x.label === label);
  if (!t) {
    t = { label, server, protocol, route: ROUTE_OF[protocol](b.artifact.model.name), runs: [] };
    b.targets.push(t);
  }
  return t;
}

/**
 * One running server's round: in round 1 its answers on each route (koa's
 * /predict ones are the reference, every other route is checked against
 * them); then per route a 2 s warm-up at 16 clients and a run per client count.
 */
async function measureServer(
  b: Bench,
  server: Running,
  name: Target['server'],
  protocols: readonly Protocol[],
  round: number,
): Promise<void> {
  for (const protocol of protocols) {
    const target = targetOf(b, name, protocol);
    if (round === 0) await checkAnswers(b, server, target);
    const req = requestOf(protocol, b.artifact.model.name, b.images[0]!.png);
    b.o.log(`warming up ${target.label}...`);
    await load(server, req, 16, 2);
    for (const [i, clients] of b.o.clients.entries()) {
      const m = await load(server, req, clients, b.o.duration);
      target.runs[i] ??= [];
      target.runs[i][round] = m;
      b.o.log(measureLine(target.label, clients, m));
    }
  }
}

/** Each check image sent to `server` on the target's route; koa's /predict answers are kept, the others compared with them. */
async function checkAnswers(b: Bench, server: Running, target: Target): Promise<void> {
  const answers: Answer[] = [];
  for (const img of b.images) {
    const req = requestOf(target.protocol, b.artifact.model.name, img.png);
    const { status, text } = await send(server.url, req);
    const where = `${target.label} POST ${server.url}${req.path} (${img.name})`;
    if (status !== 200)
      throw new ProjectError('INVALID', `${where} answered ${status}: ${text.slice(0, 300)}`);
    answers.push(readAnswer(target.protocol, text, b.artifact.labels, where));
  }
  if (target.label === 'koa') {
    b.reference = answers;
    return;
  }
  for (const [i, img] of b.images.entries()) {
    const koa = b.reference![i]!;
    b.agreement.push({
      target: target.label,
      image: img.name,
      koa: koa.top1,
      peer: answers[i]!.top1,
      maxProbabilityDiff: maxProbabilityDiff(koa, answers[i]!),
    });
  }
}

/** The Python version and the version of each package the chosen peers name, per venv. */
function pythonVersions(o: PeerBenchOptions): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const venv of new Set(o.peers.map((p) => PEERS[p].venv))) {
    const packages = [
      ...new Set(o.peers.filter((p) => PEERS[p].venv === venv).flatMap((p) => PEERS[p].packages)),
    ];
    const code = `import sys, importlib.metadata as m; print(sys.version.split()[0], *(m.version(p) for p in sys.argv[1:]))`;
    const [python, ...versions] = execFileSync(o.pythons[venv], ['-c', code, ...packages], {
      encoding: 'utf8',
    })
      .trim()
      .split(' ');
    out[venv] = Object.fromEntries([['python', python!], ...packages.map((p, i) => [p, versions[i]!])]);
  }
  return out;
}

function metaOf(b: Bench): ModelMeta {
  const { o, artifact } = b;
  const dir = relative(ROOT, artifact.dir).startsWith('..') ? artifact.dir : relative(ROOT, artifact.dir);
  return {
    benchModel: o.model,
    date: new Date().toISOString(),
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
    koaBackend: b.koaBackend ?? 'default',
    python: pythonVersions(o),
    duration: o.duration,
    repeat: o.repeat,
    clients: o.clients,
    peers: o.peers,
    model: `${artifact.model.name} (${dir}, root ${artifact.verified.sha256.slice(0, 12)})`,
    image: `${b.images[0]!.name} (${b.images[0]!.png.length} bytes PNG)`,
  };
}

/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run bench:peer --',
  summary: `The same model artifact served by this repository's server (Koa) and by
Python peers, each started as its docs start it: fastapi and fastapi-2w
(FastAPI + TensorFlow/Keras under uvicorn, 1 and 2 workers, POST /predict with
the multipart PNG), kserve and kserve-2w (KServe's ModelServer, --workers 1
and 2, its v1 route with the base64 PNG in JSON and its Open Inference
Protocol v2 route with a BYTES input), litserve (LitServe, batching 32 / 5 ms,
POST /predict with the multipart PNG). Driven by the same load (autocannon)
one server at a time, every server once per round: prints img/s, p50/p99
latency and peak RSS beside koa's with the ratios (median and range over the
rounds), koa against the best peer at each load, checks that every peer
route gives koa's top-1 on a few images, and writes
bench/results/<results>.json and .md. A benchmark, not a test.`,
  options: {
    models: {
      type: 'string',
      value: '<list>',
      default: BENCH_MODELS.join(','),
      help: 'the models, comma-separated (bench/models.ts)',
    },
    artifact: {
      type: 'string',
      value: '<dir>',
      help: 'the artifact to serve, with one --models entry (default: for demo,\n.demo/artifacts/demo-classifier from `npm run demo` when there; else one\ntrained once into .cache/bench-serving/)',
    },
    peers: {
      type: 'string',
      value: '<list>',
      default: PEER_NAMES.join(','),
      help: 'the peers, comma-separated, in the order they run each round\n(bench/peer/servers.ts says how each is started)',
    },
    duration: {
      type: 'string',
      value: '<s>',
      default: '10',
      help: 'seconds of load per server, route and client count',
    },
    clients: {
      type: 'string',
      value: '<list>',
      default: '1,16,64',
      help: 'concurrent clients, comma-separated',
    },
    repeat: {
      type: 'string',
      value: '<n>',
      default: '2',
      help: 'rounds: every server measured once per round, so that each figure\nhas a spread',
    },
    python: {
      type: 'string',
      value: '<venv>/bin/python',
      help: `the FastAPI peers' Python (default: bin/python of the keras venv\nbash bench/peer/setup.sh makes: $PEER_VENV, else ~/.cache/gitops-ml/peer-tf2.21.0)`,
    },
    'servers-python': {
      type: 'string',
      value: '<venv>/bin/python',
      help: `the KServe and LitServe peers' Python (default: bin/python of the servers venv\nbash bench/peer/setup.sh makes: the keras venv's folder with -kserve-litserve appended)`,
    },
    results: {
      type: 'string',
      value: '<name>',
      default: 'peer',
      help: 'the results file stem: bench/results/<name>.json and .md',
    },
  },
  notes:
    'Set up the peers first (PyPI, minutes): bash bench/peer/setup.sh (both venvs; `keras` or\n`servers` for one)',
  exit: {
    0: 'done, every peer route gives koa top-1',
    1: 'failed, or a peer route disagrees on an image: not the same model',
  },
} as const;

/** The flags as the bench takes them; USAGE naming what is wrong. */
function optionsOf(
  values: {
    [K in 'models' | 'peers' | 'duration' | 'clients' | 'repeat' | 'results']: string;
  } & { artifact?: string; python?: string; 'servers-python'?: string },
) {
  const usage = usageOf(COMMAND);
  const list = (v: string) => v.split(',').filter(Boolean);
  const [duration, repeat] = [Number(values.duration), Number(values.repeat)];
  const clients = list(values.clients).map(Number);
  const models = list(values.models);
  const peers = list(values.peers);
  checkChoice('models', models, { values: BENCH_MODELS }, usage);
  checkChoice('peers', peers, { values: PEER_NAMES }, usage);
  if (!(duration > 0) || !Number.isInteger(repeat) || repeat < 1) {
    throw usageError('--duration must be > 0 and --repeat a whole number >= 1', usage);
  }
  if (!clients.length || clients.some((c) => !Number.isInteger(c) || c < 1)) {
    throw usageError('--clients: whole numbers >= 1, comma-separated', usage);
  }
  if (values.artifact && models.length !== 1) throw usageError('--artifact takes one --models entry', usage);
  if (!/^[a-z0-9-]+$/.test(values.results)) {
    throw usageError(`--results: a file name stem, not "${values.results}"`, usage);
  }
  const pythons: Pythons = {
    keras: values.python ?? DEFAULT_PYTHONS.keras,
    servers: values['servers-python'] ?? DEFAULT_PYTHONS.servers,
  };
  return { duration, repeat, clients, models: models as BenchModel[], peers: peers as PeerName[], pythons };
}

/** bench/results/<stem>.json and .md, the markdown printed too. */
async function writeResults(results: ModelReport[], stem: string): Promise<void> {
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${stem}.json`), stableStringify(results));
  const md = markdown(results);
  await writeFile(join(dir, `${stem}.md`), md);
  console.log(`\n${md}`);
  console.log(`wrote bench/results/${stem}.json and bench/results/${stem}.md`);
}

await runIfMain(
  import.meta.url,
  command(COMMAND, async ({ values }) => {
    const o = optionsOf(values);
    const results: ModelReport[] = [];
    for (const model of o.models) {
      console.log(`\n== ${model} model`);
      results.push(
        await benchPeer({
          model,
          ...(values.artifact ? { artifact: values.artifact } : {}),
          duration: o.duration,
          clients: o.clients,
          peers: o.peers,
          repeat: o.repeat,
          pythons: o.pythons,
          log: (l) => console.log(l),
        }),
      );
    }
    await writeResults(results, values.results);
    const disagree = results.flatMap((r) => r.agreement.filter((a) => a.koa !== a.peer));
    if (disagree.length) {
      console.error(
        `a peer route disagrees with koa on ${disagree.map((a) => `${a.image} (${a.target})`).join(', ')}: not the same model`,
      );
      return 1;
    }
    return 0;
  }),
);
