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
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import autocannon from 'autocannon';
import { artifactJson, openArtifactDir, preprocessingOf } from '../../model/artifact/read.ts';
import { command, ProjectError, runIfMain, stableStringify, stringFlags } from '../../platform/index.ts';
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

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEFAULT_VENV = join(
  process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'),
  'gitops-ml',
  'peer-tf2.21.0',
);
const USAGE = `usage: npm run bench:peer -- [--models demo,cifar10] [--artifact <dir>] [--duration 10] [--clients 1,16,64] [--peer-workers 1,2] [--python <venv>/bin/python]
  set up the peer first: bash bench/peer/setup.sh`;

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

export async function benchPeer(o: PeerBenchOptions) {
  if (!existsSync(o.python)) {
    throw new ProjectError('NOT_FOUND', `the peer's Python ${o.python} is not there`, {
      subject: o.python,
      hint: 'run `bash bench/peer/setup.sh` (installs FastAPI, uvicorn and tensorflow-cpu from PyPI), or pass --python',
    });
  }
  const tmp = await mkdtemp(join(tmpdir(), 'bench-peer-'));
  try {
    const artifact = await findArtifact(o.model, o.artifact, o.log);
    const verified = await openArtifactDir(artifact);
    const training = artifactJson(verified, 'training.json') as { name?: string };
    const spec = preprocessingOf(verified);
    const model = { name: training.name ?? 'model', version: '1' };

    // A few fresh images per class (another seed than training's): the check set and the load image.
    const ds = await generateDemoDataset(join(tmp, 'images'), {
      seed: 20_251,
      perClass: 2,
      size: spec.width,
      channels: spec.channels,
    });
    const images: { name: string; png: Uint8Array }[] = [];
    for (const label of ds.labels) {
      for (const f of (await readdir(join(ds.root, label))).sort()) {
        images.push({ name: `${label}/${f}`, png: await readFile(join(ds.root, label, f)) });
      }
    }
    const loadImage = images[0]!;

    o.log('starting both servers...');
    const koaEnv = {
      SERVING_MODEL_NAME: model.name,
      SERVING_MODEL_VERSION: model.version,
      SERVING_MODEL_URI: artifact,
      SERVING_MODEL_DIGESTS: JSON.stringify(verified.digests),
      SERVING_MODEL_SHA256: verified.sha256,
      SERVING_QUEUE_CAPACITY: '1024',
    };
    const koa = await startKoa(ROOT, koaEnv);
    const tables: { peer: string; workers: number; rows: Row[] }[] = [];
    const agreement: Agreement[] = [];
    let koaBackend = 'default';
    const koaMeasures: Measure[] = [];
    try {
      koaBackend = String(
        ((await (await fetch(`${koa.url}/api/model`)).json()) as { backend?: string }).backend ?? 'default',
      );
      o.log(`warming up koa...`);
      await load(koa, loadImage.png, 16, 2);
      for (const clients of o.clients) {
        const m = await load(koa, loadImage.png, clients, o.duration);
        koaMeasures.push(m);
        o.log(
          `koa        clients ${String(clients).padStart(2)}: ${String(m.rps).padStart(5)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  RSS ${m.rssPeakMiB} MiB` +
            (m.errors || m.non2xx ? `  (${m.non2xx} non-2xx, ${m.errors} errors)` : ''),
        );
      }
    } finally {
      await koa.stop();
    }
    for (const workers of o.peerWorkers) {
      let peer: Running | undefined;
      const koaCheck = workers === o.peerWorkers[0] ? await startKoa(ROOT, koaEnv) : undefined;
      try {
        peer = await startPeer(o.python, ROOT, artifact, model, workers);
        if (koaCheck) {
          for (const img of images) {
            const [a, b] = await Promise.all([predict(koaCheck.url, img.png), predict(peer.url, img.png)]);
            const diff = Math.max(
              ...a.predictions.map((p) =>
                Math.abs(p.probability - (b.predictions.find((q) => q.label === p.label)?.probability ?? 0)),
              ),
            );
            agreement.push({
              image: img.name,
              koa: a.predictions[0]!.label,
              peer: b.predictions[0]!.label,
              maxProbabilityDiff: diff,
            });
          }
          o.log(`\nSame model, same answers (top-1 of both servers):\n\n${agreementTable(agreement)}`);
          await koaCheck.stop();
        }
        o.log(`warming up ${peer.name}...`);
        await load(peer, loadImage.png, 16, 2);
        const rows: Row[] = [];
        for (const [i, clients] of o.clients.entries()) {
          const m = await load(peer, loadImage.png, clients, o.duration);
          rows.push({ clients, koa: koaMeasures[i]!, peer: m });
          o.log(
            `${peer.name.padEnd(10)} clients ${String(clients).padStart(2)}: ${String(m.rps).padStart(5)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  RSS ${m.rssPeakMiB} MiB` +
              (m.errors || m.non2xx ? `  (${m.non2xx} non-2xx, ${m.errors} errors)` : ''),
          );
        }
        tables.push({ peer: peer.name, workers, rows });
      } finally {
        await koaCheck?.stop();
        await peer?.stop();
      }
    }
    const python = await import('node:child_process').then(({ execFileSync }) =>
      execFileSync(
        o.python,
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
        .split(' '),
    );
    const meta = {
      benchModel: o.model,
      date: new Date().toISOString(),
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      koaBackend,
      python: python[0],
      tensorflow: python[1],
      fastapi: python[2],
      uvicorn: python[3],
      duration: o.duration,
      model: `${model.name} (${relative(ROOT, artifact).startsWith('..') ? artifact : relative(ROOT, artifact)}, root ${verified.sha256.slice(0, 12)})`,
      image: `${loadImage.name} (${loadImage.png.length} bytes PNG, multipart field "image")`,
    };
    return { meta, tables, agreement };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
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

/** What the bench accepts (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  options: stringFlags('models', 'artifact', 'duration', 'clients', 'peer-workers', 'python'),
} as const;

await runIfMain(
  import.meta.url,
  command(COMMAND, async ({ values }) => {
    const duration = Number(values.duration ?? 10);
    const clients = (values.clients ?? '1,16,64').split(',').map(Number);
    const peerWorkers = (values['peer-workers'] ?? '1,2').split(',').map(Number);
    const models = (values.models ?? BENCH_MODELS.join(',')).split(',') as BenchModel[];
    if (
      !(duration > 0) ||
      [...clients, ...peerWorkers].some((c) => !Number.isInteger(c) || c < 1) ||
      models.some((m) => !BENCH_MODELS.includes(m)) ||
      (values.artifact && models.length !== 1)
    ) {
      throw new ProjectError(
        'USAGE',
        `--duration must be > 0, --clients and --peer-workers whole numbers >= 1, --models ${BENCH_MODELS.join(',')} (one with --artifact)\n\n${USAGE}`,
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
