/**
 * Test-only: start a real S3-compatible object store (SeaweedFS, built by
 * scripts/setup.d/65-seaweedfs.sh) on loopback, on free ports, with a temp
 * data folder, a key pair made for this run, and the buckets asked for. A
 * test file gates its tests with `needs(objectStoreInstalled())`
 * (testing/services.ts): skipped with the reason outside CI, a failure with
 * CI=true; a server that does not start is a failure.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createObjectStore,
  type ObjectStore,
  type ObjectStoreConfig,
  objectStoreEnv,
} from '../platform/object-store/index.ts';
import {
  newS3Credentials,
  type S3Identity,
  SEAWEEDFS_PORTS,
  seaweedfsArgs,
  seaweedfsEndpoint,
  seaweedfsEnv,
  writeS3Identities,
} from '../tools/cluster/object-store.ts';
import { seaweedfsBinary } from '../tools/cluster/tools.ts';
import { freePorts } from './ports.ts';
import { type ServiceProcess, startServiceProcess } from './service-process.ts';
import { type Requirement, requirement } from './services.ts';

/** SeaweedFS's `weed`, as tests need it: `needs(objectStoreInstalled())`. */
export function objectStoreInstalled(): Requirement {
  const bin = seaweedfsBinary();
  return requirement(
    'SeaweedFS (weed)',
    existsSync(bin) ? bin : undefined,
    `run bash scripts/setup.d/65-seaweedfs.sh (builds ${bin})`,
  );
}

export interface ObjectStoreServer {
  /** http://127.0.0.1:<port>: the S3 API. */
  endpoint: string;
  /** The buckets created at start, the first being `config.bucket`. */
  buckets: string[];
  /** Endpoint, region, first bucket and this run's admin credentials. */
  config: ObjectStoreConfig;
  /** The same as environment variables (OBJECT_STORE_*, AWS_*), for a child process. */
  env: Record<string, string>;
  /** A client with the admin credentials (closed by {@link close}). */
  client: ObjectStore;
  /** A key pair allowed only to read and list (for tests of what a refused request says). */
  readOnly: { accessKeyId: string; secretAccessKey: string };
  /** The temp folder holding the data and the identities file. */
  dir: string;
  /** Stop the server (the data stays); {@link start} brings it back on the same ports and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop and delete the temp folder. */
  close(): Promise<void>;
}

/**
 * Start SeaweedFS with `buckets` created (default one, "test-bucket");
 * throws when `weed` is missing (gate the tests with `needs(objectStoreInstalled())`).
 */
export async function startObjectStore(
  options: { buckets?: string[]; timeoutMs?: number } = {},
): Promise<ObjectStoreServer> {
  const bin = objectStoreInstalled().path;
  const buckets = options.buckets ?? ['test-bucket'];
  const dir = await mkdtemp(join(tmpdir(), 'object-store-'));
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const ports = await freePorts([...SEAWEEDFS_PORTS]);
  const endpoint = seaweedfsEndpoint(ports);
  const admin = newS3Credentials();
  const readOnly = newS3Credentials();
  const identities: S3Identity[] = [
    { name: 'admin', ...admin, actions: ['Admin', 'Read', 'List', 'Write', 'Tagging'] },
    { name: 'reader', ...readOnly, actions: ['Read', 'List'] },
  ];
  const identitiesFile = join(dir, 's3-identities.json');
  await writeS3Identities(identitiesFile, identities);
  const args = seaweedfsArgs({ dataDir, identitiesFile, ports });
  let proc: ServiceProcess | undefined;

  const start = async () => {
    proc = await startServiceProcess({
      name: 'weed server',
      command: bin,
      args,
      cwd: dir,
      env: seaweedfsEnv(process.env),
      healthUrl: `${endpoint}/healthz`,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  };

  const stop = async () => {
    const p = proc;
    proc = undefined;
    await p?.stop();
  };

  const config: ObjectStoreConfig = {
    endpoint,
    region: 'us-east-1',
    bucket: buckets[0] as string,
    credentials: admin,
    forcePathStyle: true,
  };
  const client = createObjectStore(config);
  try {
    await start();
    for (const b of buckets) await client.ensureBucket(b);
  } catch (e) {
    client.close();
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    endpoint,
    buckets,
    config,
    env: objectStoreEnv(config),
    client,
    readOnly,
    dir,
    stop,
    start,
    close: async () => {
      client.close();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
