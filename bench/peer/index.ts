/**
 * Peer benchmark (`npm run bench:peer`; not a test): the same model artifact
 * (same architecture, same weights, same preprocessing) served by this
 * repository's server (serving/main.ts, Koa, default backend: the native one
 * where scripts/setup.d/70-tfjs-native.sh ran) and by the stack most MLOps
 * tutorials teach (bench/peer/server.py: FastAPI + TensorFlow/Keras under
 * uvicorn, with 1 worker and with 2 worker processes), driven by the same
 * load generator (autocannon) with the same multipart PNG request at 1, 16
 * and 64 concurrent clients, one server at a time. For each model (the demo
 * model, and a model of training/configs/cifar10.json's size: bench/models.ts)
 * it prints requests/second (= images/s), p50/p99 latency and peak RSS side by
 * side with the ratio, checks that the servers give the same top-1 on a few
 * images, and writes bench/results/peer.json and peer.md.
 *
 * Set-up first (PyPI, minutes): `bash bench/peer/setup.sh`.
 * Flags: --models demo,cifar10, --artifact <dir> (with one model; default for
 * demo: .demo/artifacts/demo-classifier from `npm run demo` when there),
 * --duration <s> (default 10), --clients 1,16,64, --peer-workers 1,2,
 * --python <venv python>.
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
  command,
  ProjectError,
  runIfMain,
  stableStringify,
  usageError,
  usageOf,
} from '../../platform/index.ts';
import { generateDemoDataset } from '../../training/index.ts';
import { BENCH_MODELS, type BenchModel, defaultArtifactDir, ensureBenchArtifact } from '../models.ts';
import {
  type Agreement,
  agreementTable,
  type Measure,
  markdownTable,
  multipartBody,
  percentile,
  type Row,
} from './report.ts';
import { type Running, sampleRss, startKoa, startPeer } from './servers.ts';
import { PEER_VENV } from './venv.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEFAULT_VENV = PEER_VENV;
interface Prediction {
  model: string;
  version: string;
  predictions: { label: string; probability: number }[];
}

async function predict(url: string, png: Uint8Array): Promise<Prediction> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'image.png');
  const r = await fetch(`${url}/predict`, { method: 'POST', body: form });
  const text = await r.text();
  if (!r.ok) throw new ProjectError('INVALID', `${url}/predict answered ${r.status}: ${text}`);
  return JSON.parse(text) as Prediction;
}

/** autocannon POSTs the same multipart body; latency percentiles from every response. */
async function load(server: Running, png: Uint8Array, clients: number, duration: number): Promise<Measure> {
  const { body, contentType } = multipartBody(png);
  const times: number[] = [];
  const rss = sampleRss(server.pid);
  const result = await new Promise<autocannon.Result>((res, rej) => {
    const instance = autocannon(
      {
        url: `${server.url}/predict`,
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
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

export interface PeerBenchOptions {
  model: BenchModel;
  artifact?: string;
  duration: number;
  clients: number[];
  /** Worker processes of each Python peer run (1: the tutorial default). */
  peerWorkers: number[];
  python: string;
  log: (line: string) => void;
}

/** The artifact both servers load, as the bench reads it (model/artifact, every file checked). */
interface PeerArtifact {
  dir: string;
  verified: Awaited<ReturnType<typeof openArtifactDir>>;
  spec: PreprocessingSpec;
  model: { name: string; version: string };
}

interface PeerImage {
  name: string;
  png: Uint8Array;
}

/** One model benched: koa against each peer (1 and 2 workers), after a check that both give the same answers. */
export async function benchPeer(o: PeerBenchOptions) {
  requirePython(o.python);
  const tmp = await mkdtemp(join(tmpdir(), 'bench-peer-'));
  try {
    const artifact = await readPeerArtifact(await findArtifact(o.model, o.artifact, o.log));
    const images = await checkImages(tmp, artifact.spec);
    const loadImage = images[0]!;
    o.log('starting both servers...');
    const koaEnv = koaEnvOf(artifact);
    const koa = await measureKoa(o, koaEnv, loadImage);
    const tables: { peer: string; workers: number; rows: Row[] }[] = [];
    const agreement: Agreement[] = [];
    for (const workers of o.peerWorkers) {
      // The answers are compared once, against the first peer.
      const check = workers === o.peerWorkers[0] ? images : undefined;
      tables.push(
        await measurePeer(o, artifact, workers, koa.measures, loadImage, { koaEnv, check, agreement }),
      );
    }
    const python = peerVersions(o.python);
    const meta = {
      benchModel: o.model,
      date: new Date().toISOString(),
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      koaBackend: koa.backend,
      python: python[0],
      tensorflow: python[1],
      fastapi: python[2],
      uvicorn: python[3],
      duration: o.duration,
      model: `${artifact.model.name} (${relative(ROOT, artifact.dir).startsWith('..') ? artifact.dir : relative(ROOT, artifact.dir)}, root ${artifact.verified.sha256.slice(0, 12)})`,
      image: `${loadImage.name} (${loadImage.png.length} bytes PNG, multipart field "image")`,
    };
    return { meta, tables, agreement };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function requirePython(python: string): void {
  if (!existsSync(python)) {
    throw new ProjectError('NOT_FOUND', `the peer's Python ${python} is not there`, {
      subject: python,
      hint: 'run `bash bench/peer/setup.sh` (installs FastAPI, uvicorn and tensorflow-cpu from PyPI), or pass --python',
    });
  }
}

async function readPeerArtifact(dir: string): Promise<PeerArtifact> {
  const verified = await openArtifactDir(dir);
  const training = artifactJson(verified, 'training.json') as { name?: string };
  return {
    dir,
    verified,
    spec: preprocessingOf(verified),
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
  };
}

/** One measure as a log line, e.g. `koa        clients 16:   812 req/s  p50 18 ms ...`. */
function measureLine(server: string, clients: number, m: Measure): string {
  return (
    `${server.padEnd(10)} clients ${String(clients).padStart(2)}: ${String(m.rps).padStart(5)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  RSS ${m.rssPeakMiB} MiB` +
    (m.errors || m.non2xx ? `  (${m.non2xx} non-2xx, ${m.errors} errors)` : '')
  );
}

/** This server, warmed up, at each client count; and the tfjs backend it runs. */
async function measureKoa(
  o: PeerBenchOptions,
  koaEnv: Record<string, string>,
  loadImage: PeerImage,
): Promise<{ backend: string; measures: Measure[] }> {
  const koa = await startKoa(ROOT, koaEnv);
  let backend = 'default';
  const measures: Measure[] = [];
  try {
    backend = String(
      ((await (await fetch(`${koa.url}/api/model`)).json()) as { backend?: string }).backend ?? 'default',
    );
    o.log(`warming up koa...`);
    await load(koa, loadImage.png, 16, 2);
    for (const clients of o.clients) {
      const m = await load(koa, loadImage.png, clients, o.duration);
      measures.push(m);
      o.log(measureLine('koa', clients, m));
    }
  } finally {
    await koa.stop();
  }
  return { backend, measures };
}

/**
 * The peer with `workers` processes, warmed up, at each client count, as rows
 * beside koa's measures. With `check`, both servers first answer those
 * images (a koa started again for it) and the answers go to `agreement`.
 */
async function measurePeer(
  o: PeerBenchOptions,
  artifact: PeerArtifact,
  workers: number,
  koaMeasures: Measure[],
  loadImage: PeerImage,
  c: { koaEnv: Record<string, string>; check: PeerImage[] | undefined; agreement: Agreement[] },
): Promise<{ peer: string; workers: number; rows: Row[] }> {
  let peer: Running | undefined;
  const koaCheck = c.check ? await startKoa(ROOT, c.koaEnv) : undefined;
  try {
    peer = await startPeer(o.python, ROOT, artifact.dir, artifact.model, workers);
    if (koaCheck && c.check) {
      c.agreement.push(...(await compareAnswers(koaCheck.url, peer.url, c.check)));
      o.log(`\nSame model, same answers (top-1 of both servers):\n\n${agreementTable(c.agreement)}`);
      await koaCheck.stop();
    }
    o.log(`warming up ${peer.name}...`);
    await load(peer, loadImage.png, 16, 2);
    const rows: Row[] = [];
    for (const [i, clients] of o.clients.entries()) {
      const m = await load(peer, loadImage.png, clients, o.duration);
      rows.push({ clients, koa: koaMeasures[i]!, peer: m });
      o.log(measureLine(peer.name, clients, m));
    }
    return { peer: peer.name, workers, rows };
  } finally {
    await koaCheck?.stop();
    await peer?.stop();
  }
}

/** Each image sent to both servers: their top-1 and the largest difference of a class probability. */
async function compareAnswers(koaUrl: string, peerUrl: string, images: PeerImage[]): Promise<Agreement[]> {
  const out: Agreement[] = [];
  for (const img of images) {
    const [a, b] = await Promise.all([predict(koaUrl, img.png), predict(peerUrl, img.png)]);
    const diff = Math.max(
      ...a.predictions.map((p) =>
        Math.abs(p.probability - (b.predictions.find((q) => q.label === p.label)?.probability ?? 0)),
      ),
    );
    out.push({
      image: img.name,
      koa: a.predictions[0]!.label,
      peer: b.predictions[0]!.label,
      maxProbabilityDiff: diff,
    });
  }
  return out;
}

/** The peer's Python, TensorFlow, FastAPI and uvicorn versions. */
function peerVersions(python: string): string[] {
  return execFileSync(
    python,
    [
      '-c',
      'import sys, tensorflow as tf, fastapi, uvicorn; print(sys.version.split()[0], tf.__version__, fastapi.__version__, uvicorn.__version__)',
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    },
  )
    .trim()
    .split(' ');
}

type PeerResult = Awaited<ReturnType<typeof benchPeer>>;

export function markdown(results: PeerResult[]): string {
  const first = results[0]?.meta;
  const out = [
    '# Peer benchmark: this server vs FastAPI + TensorFlow/Keras',
    '',
    `${first?.date} · ${first?.cpus} · ${first?.memoryGiB} GiB · ${first?.duration} s per run, one server at a time, autocannon in the driver process; requests carry one image each, so req/s = images/s`,
    '',
    `- koa: serving/main.ts, Node ${first?.node}, tfjs backend ${first?.koaBackend}, micro-batching (defaults)`,
    `- peer: bench/peer/server.py, Python ${first?.python}, TensorFlow ${first?.tensorflow} (tensorflow-cpu), FastAPI ${first?.fastapi}, uvicorn ${first?.uvicorn}; "peer" = 1 worker (the tutorials' default), "peer-2w" = 2 worker processes`,
    '',
  ];
  for (const r of results) {
    const m = r.meta;
    const same = r.agreement.filter((a) => a.koa === a.peer).length;
    const maxDiff = Math.max(...r.agreement.map((a) => a.maxProbabilityDiff));
    out.push(
      `## ${m.benchModel}: ${m.model}`,
      '',
      `request: POST /predict, ${m.image}; agreement: same top-1 on ${same}/${r.agreement.length} images, largest probability difference ${maxDiff.toExponential(1)}`,
      '',
    );
    for (const t of r.tables) {
      out.push(`### koa vs ${t.peer}`, '', markdownTable(t.rows).trimEnd(), '');
    }
  }
  out.push(
    'Ratios are koa / peer: above 1 for req/s means this server is faster; below 1 for p99 and RSS means lower latency and memory.',
    '',
  );
  return out.join('\n');
}

/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run bench:peer --',
  summary: `The same model artifact served by this repository's server (Koa) and by
FastAPI + TensorFlow/Keras under uvicorn (bench/peer/server.py), driven by the
same load (autocannon, the same multipart PNG) one server at a time: prints
requests/s, p50/p99 latency and peak RSS side by side with the ratios, checks
that the servers give the same top-1 on a few images, and writes
bench/results/peer.json and peer.md. A benchmark, not a test.`,
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
    duration: {
      type: 'string',
      value: '<s>',
      default: '10',
      help: 'seconds of load per server and client count',
    },
    clients: {
      type: 'string',
      value: '<list>',
      default: '1,16,64',
      help: 'concurrent clients, comma-separated',
    },
    'peer-workers': {
      type: 'string',
      value: '<list>',
      default: '1,2',
      help: "the peer's uvicorn worker processes, comma-separated",
    },
    python: {
      type: 'string',
      value: '<venv>/bin/python',
      help: "the peer's Python (default: bin/python of the venv bash bench/peer/setup.sh\nmakes: $PEER_VENV, else ~/.cache/gitops-ml/peer-tf2.21.0)",
    },
  },
  notes: 'Set up the peer first (PyPI, minutes): bash bench/peer/setup.sh',
  exit: {
    0: 'done, the servers agree',
    1: 'failed, or the servers disagree on an image: not the same model',
  },
} as const;

await runIfMain(
  import.meta.url,
  command(COMMAND, async ({ values }) => {
    const duration = Number(values.duration);
    const clients = values.clients.split(',').map(Number);
    const peerWorkers = values['peer-workers'].split(',').map(Number);
    const models = values.models.split(',') as BenchModel[];
    if (
      !(duration > 0) ||
      [...clients, ...peerWorkers].some((c) => !Number.isInteger(c) || c < 1) ||
      models.some((m) => !BENCH_MODELS.includes(m)) ||
      (values.artifact && models.length !== 1)
    ) {
      throw usageError(
        `--duration must be > 0, --clients and --peer-workers whole numbers >= 1, --models ${BENCH_MODELS.join(',')} (one with --artifact)`,
        usageOf(COMMAND),
      );
    }
    const results: PeerResult[] = [];
    for (const model of models) {
      console.log(`\n== ${model} model`);
      results.push(
        await benchPeer({
          model,
          ...(values.artifact ? { artifact: values.artifact } : {}),
          duration,
          clients,
          peerWorkers,
          python: values.python ?? join(DEFAULT_VENV, 'bin', 'python'),
          log: (l) => console.log(l),
        }),
      );
    }
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'peer.json'), stableStringify(results));
    const md = markdown(results);
    await writeFile(join(dir, 'peer.md'), md);
    console.log(`\n${md}`);
    console.log('wrote bench/results/peer.json and bench/results/peer.md');
    const disagree = results.flatMap((r) => r.agreement.filter((a) => a.koa !== a.peer));
    if (disagree.length) {
      console.error(`the servers disagree on ${disagree.map((a) => a.image).join(', ')}: not the same model`);
      return 1;
    }
    return 0;
  }),
);
