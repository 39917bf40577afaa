/**
 * Test helpers for the lock and the artifact store (not exported from
 * index.ts): temp folders, a small artifact folder in the docs/artifact.md
 * layout, lock entries, and a loopback HTTP server serving a folder.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { versionIdOf } from '../../lock/schema.ts';
import type { LockedVersion } from '../../lock/types.ts';
import { rootDigest, sha256 } from '../../platform/digest.ts';
import { stableStringify } from '../../platform/json.ts';

export const tempDir = (prefix = 'lock-test-'): Promise<string> => mkdtemp(join(tmpdir(), prefix));

export const COMMIT = 'a'.repeat(40);
export const DATASET = `sha256:${'d'.repeat(64)}`;

/**
 * Write an artifact folder (model.json, weights.bin, metrics.json,
 * training.json, digests.json, plus the extra fields training writes) and
 * return its file digests and root. `seed` makes the weights differ.
 */
export async function makeArtifact(
  dir: string,
  seed = 1,
  metrics: Record<string, unknown> = { accuracy: 0.9, macro_f1: 0.88 },
  /** More files of the artifact (e.g. golden.json). */
  extra: Record<string, string | Uint8Array> = {},
): Promise<{ files: Record<string, string>; root: string }> {
  await mkdir(dir, { recursive: true });
  const contents: Record<string, string | Uint8Array> = {
    'model.json': JSON.stringify({ format: 'layers-model', seed }),
    'weights.bin': new Uint8Array(Array.from({ length: 4096 }, (_, i) => (i * seed) % 251)),
    'metrics.json': stableStringify({
      ...metrics,
      split: 'test',
      per_class: { a: { f1: 0.9 } },
      confusion_matrix: [[1]],
    }),
    'training.json': stableStringify({
      createdAt: '2026-01-02T03:04:05.000Z',
      datasetDigest: DATASET,
      config: { epochs: 3, seed },
      gitCommit: COMMIT,
      backend: { name: 'cpu' },
    }),
    ...extra,
  };
  const files: Record<string, string> = {};
  for (const [name, data] of Object.entries(contents)) {
    await writeFile(join(dir, name), data);
    files[name] = sha256(data);
  }
  const root = rootDigest(files);
  await writeFile(join(dir, 'digests.json'), stableStringify({ algorithm: 'sha256', files, root }));
  return { files, root };
}

/** A valid lock entry for an artifact with these digests. */
export function makeEntry(
  files: Record<string, string>,
  overrides: Partial<LockedVersion> = {},
): LockedVersion {
  return {
    artifactUri: 'artifacts/x',
    createdAt: '2026-01-02T03:04:05.000Z',
    datasetDigest: DATASET,
    digests: files,
    rootDigest: rootDigest(files),
    gitCommit: COMMIT,
    metrics: { accuracy: 0.9 },
    mlflow: { runId: null, modelVersion: null },
    paramsDigest: `sha256:${'e'.repeat(64)}`,
    ...overrides,
  };
}

/** Digests of some fake files, different for each `n`. */
export const fakeFiles = (n: number): Record<string, string> => ({
  'model.json': sha256(`model ${n}`),
  'weights.bin': sha256(`weights ${n}`),
});

/** The version id of an entry made from {@link fakeFiles}(n) (content-addressed: v + 12 hex of its root). */
export const fakeVersion = (n: number): string => versionIdOf(rootDigest(fakeFiles(n)));

export interface FolderServer {
  url: string;
  /** Every request seen: method, path, authorization header. */
  requests: { method: string; path: string; authorization?: string }[];
  close: () => Promise<void>;
}

/**
 * A loopback HTTP server that serves the files of `root` under `prefix`
 * (e.g. `/api/2.0/mlflow-artifacts/artifacts` for the MLflow artifact
 * proxy's route shape). With `token`, requests without `Bearer <token>` get 401.
 */
export async function serveFolder(
  root: string,
  options: { prefix?: string; token?: string } = {},
): Promise<FolderServer> {
  const prefix = options.prefix ?? '';
  const requests: FolderServer['requests'] = [];
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization });
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error_code":"UNAUTHENTICATED"}');
      return;
    }
    const rel = path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : undefined;
    const file = rel && !rel.split('/').includes('..') ? join(root, rel) : undefined;
    const st = file ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !st?.isFile()) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error_code":"RESOURCE_DOES_NOT_EXIST"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** mkdir -p then write. */
export async function writeFileDeep(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}
