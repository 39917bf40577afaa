/**
 * Peer benchmark (`npm run bench:peer`; not a test): the same model artifact
 * (same architecture, same weights, same preprocessing) served by this
 * repository's server (serving/main.ts, Koa, default backend) and by the stack
 * most MLOps tutorials teach (bench/peer/server.py: FastAPI + TensorFlow/Keras
 * under uvicorn), driven by the same load generator (autocannon) with the same
 * multipart PNG request at 1, 16 and 64 concurrent clients, one server at a
 * time. Prints requests/second, p50/p99 latency and peak RSS side by side with
 * the ratio, checks that both servers give the same top-1 on a few images,
 * and writes bench/results/peer.json and peer.md.
 *
 * Set-up first (PyPI, minutes): `bash bench/peer/setup.sh`.
 * Flags: --artifact <dir> (default .demo/artifacts/demo-classifier from
 * `npm run demo`, else trains training/configs/demo.json into a temp folder),
 * --duration <s> (default 10), --clients 1,16,64, --python <venv python>.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import autocannon from 'autocannon';
import { isMain, ProjectError, parseFlags, readJsonFile, runMain, stableStringify } from '../../lib/index.ts';
import { generateDemoDataset, loadTrainingConfig, train } from '../../training/index.ts';
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
const USAGE = `usage: npm run bench:peer -- [--artifact <dir>] [--duration 10] [--clients 1,16,64] [--python <venv>/bin/python]
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
  flag: string | undefined,
  tmp: string,
  log: (l: string) => void,
): Promise<string> {
  if (flag) return resolve(flag);
  const demo = join(ROOT, '.demo', 'artifacts', 'demo-classifier');
  if (existsSync(join(demo, 'digests.json'))) {
    log(`artifact: ${relative(ROOT, demo)} (from npm run demo)`);
    return demo;
  }
  log('artifact: none given and no .demo artifact; training training/configs/demo.json (about 80-120 s)...');
  const config = await loadTrainingConfig(join(ROOT, 'training', 'configs', 'demo.json'));
  const r = await train(config, {
    outDir: join(tmp, 'artifact'),
    dataPath: join(tmp, 'data'),
    progress: false,
  });
  log(`trained: test accuracy ${r.metrics.accuracy.toFixed(4)}`);
  return r.artifactDir;
}

export interface PeerBenchOptions {
  artifact?: string;
  duration: number;
  clients: number[];
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
    const artifact = await findArtifact(o.artifact, tmp, o.log);
    const digests = (await readJsonFile(join(artifact, 'digests.json'))) as {
      files: Record<string, string>;
      root: string;
    };
    const training = (await readJsonFile(join(artifact, 'training.json'))) as { name?: string };
    const spec = (await readJsonFile(join(artifact, 'preprocessing.json'))) as {
      width: number;
      channels: 1 | 3;
    };
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
    const koa = await startKoa(ROOT, {
      SERVING_MODEL_NAME: model.name,
      SERVING_MODEL_VERSION: model.version,
      SERVING_MODEL_URI: artifact,
      SERVING_MODEL_DIGESTS: JSON.stringify(digests.files),
      SERVING_MODEL_SHA256: digests.root,
      SERVING_QUEUE_CAPACITY: '1024',
    });
    const rows: Row[] = [];
    const agreement: Agreement[] = [];
    let peer: Running | undefined;
    let koaBackend = 'default';
    try {
      peer = await startPeer(o.python, ROOT, artifact, model);
      koaBackend = String(
        ((await (await fetch(`${koa.url}/api/model`)).json()) as { backend?: string }).backend ?? 'default',
      );
      for (const img of images) {
        const [a, b] = await Promise.all([predict(koa.url, img.png), predict(peer.url, img.png)]);
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
      const measures: Record<string, Measure[]> = { koa: [], peer: [] };
      for (const server of [koa, peer]) {
        o.log(`warming up ${server.name}...`);
        await load(server, loadImage.png, 16, 2);
        for (const clients of o.clients) {
          const m = await load(server, loadImage.png, clients, o.duration);
          measures[server.name]!.push(m);
          o.log(
            `${server.name.padEnd(4)} clients ${String(clients).padStart(2)}: ${String(m.rps).padStart(5)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  RSS ${m.rssPeakMiB} MiB` +
              (m.errors || m.non2xx ? `  (${m.non2xx} non-2xx, ${m.errors} errors)` : ''),
          );
        }
      }
      for (const [i, clients] of o.clients.entries()) {
        rows.push({ clients, koa: measures.koa![i]!, peer: measures.peer![i]! });
      }
    } finally {
      await koa.stop();
      await peer?.stop();
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
      model: `${model.name} (${relative(ROOT, artifact).startsWith('..') ? artifact : relative(ROOT, artifact)}, root ${digests.root.slice(0, 12)})`,
      image: `${loadImage.name} (${loadImage.png.length} bytes PNG, multipart field "image")`,
    };
    return { meta, rows, agreement };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export function markdown(r: Awaited<ReturnType<typeof benchPeer>>): string {
  const m = r.meta;
  const same = r.agreement.filter((a) => a.koa === a.peer).length;
  const maxDiff = Math.max(...r.agreement.map((a) => a.maxProbabilityDiff));
  return [
    '# Peer benchmark: this server vs FastAPI + TensorFlow/Keras',
    '',
    `${m.date} · ${m.cpus} · ${m.memoryGiB} GiB · ${m.duration} s per run, one server at a time, autocannon in the driver process`,
    '',
    `- koa: serving/main.ts, Node ${m.node}, tfjs backend ${m.koaBackend}, micro-batching (defaults)`,
    `- peer: bench/peer/server.py, Python ${m.python}, TensorFlow ${m.tensorflow} (tensorflow-cpu), FastAPI ${m.fastapi}, uvicorn ${m.uvicorn}, 1 worker`,
    `- model: ${m.model}; request: POST /predict, ${m.image}`,
    `- agreement: same top-1 on ${same}/${r.agreement.length} images, largest probability difference ${maxDiff.toExponential(1)}`,
    '',
    markdownTable(r.rows).trimEnd(),
    '',
    'Ratios are koa / peer: above 1 for req/s means this server is faster; below 1 for p99 and RSS means lower latency and memory.',
    '',
  ].join('\n');
}

if (isMain(import.meta.url)) {
  await runMain(async () => {
    const { values } = parseFlags(
      process.argv.slice(2),
      {
        artifact: { type: 'string' },
        duration: { type: 'string' },
        clients: { type: 'string' },
        python: { type: 'string' },
      },
      USAGE,
    );
    const duration = Number(values.duration ?? 10);
    const clients = (values.clients ?? '1,16,64').split(',').map(Number);
    if (!(duration > 0) || clients.some((c) => !Number.isInteger(c) || c < 1)) {
      throw new ProjectError('USAGE', `--duration must be > 0 and --clients whole numbers >= 1\n\n${USAGE}`);
    }
    const result = await benchPeer({
      ...(values.artifact ? { artifact: values.artifact } : {}),
      duration,
      clients,
      python: values.python ?? join(DEFAULT_VENV, 'bin', 'python'),
      log: (l) => console.log(l),
    });
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'peer.json'), stableStringify(result));
    const md = markdown(result);
    await writeFile(join(dir, 'peer.md'), md);
    console.log(`\n${md}`);
    console.log('wrote bench/results/peer.json and bench/results/peer.md');
    const disagree = result.agreement.filter((a) => a.koa !== a.peer);
    if (disagree.length) {
      console.error(`the servers disagree on ${disagree.map((a) => a.image).join(', ')}: not the same model`);
      return 1;
    }
    return 0;
  });
}
