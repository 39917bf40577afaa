/**
 * How the object store runs on this machine: SeaweedFS's `weed server` with
 * its master, volume server, filer and S3 gateway in one process, bound to
 * 127.0.0.1 on the ports given, with its data in one folder and its S3
 * identities in a 0600 config file (never on the command line, where `ps`
 * shows them). The one place that knows SeaweedFS's flags: `npm run cluster
 * -- up` (./stack.ts) and the tests' starter (testing/object-store.ts) both
 * come here; ./tools.ts says where `weed` is. Why SeaweedFS: docs/object-store.md.
 * @see https://github.com/seaweedfs/seaweedfs/wiki/Amazon-S3-API
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';

/** What an S3 identity may do (SeaweedFS's action names). */
export type S3Action = 'Admin' | 'Read' | 'List' | 'Write' | 'Tagging';

/** One S3 identity of the store: a key pair and what it may do. */
export interface S3Identity {
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  actions: S3Action[];
}

/** A fresh key pair (20-character key id, 40-character secret), as AWS shapes them. */
export function newS3Credentials(): { accessKeyId: string; secretAccessKey: string } {
  return {
    accessKeyId: `GM${randomBytes(9).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
}

/** The ports `weed server` listens on (each gRPC port given, not derived as port + 10000). */
export const SEAWEEDFS_PORTS = [
  's3',
  's3Grpc',
  'master',
  'masterGrpc',
  'volume',
  'volumeGrpc',
  'filer',
  'filerGrpc',
] as const;
export type SeaweedfsPorts = Record<(typeof SEAWEEDFS_PORTS)[number], number>;

/**
 * Write the S3 identities file (`-s3.config`), readable by this user only.
 * @see https://github.com/seaweedfs/seaweedfs/wiki/Amazon-S3-API#static-configuration
 */
export async function writeS3Identities(path: string, identities: S3Identity[]): Promise<void> {
  const config = {
    identities: identities.map((i) => ({
      name: i.name,
      credentials: [{ accessKey: i.accessKeyId, secretKey: i.secretAccessKey }],
      actions: i.actions,
    })),
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The arguments of `weed server` for one node on loopback: data in
 * `dataDir`, identities from `identitiesFile`, telemetry off (it would post
 * to seaweedfs.com), the gateways we do not use (WebDAV, Iceberg, Lance,
 * IAM API) off, and small volumes (64 MB: each bucket is a collection with
 * volumes of its own, which must fit a test's temp folder).
 */
export function seaweedfsArgs(options: {
  dataDir: string;
  identitiesFile: string;
  ports: SeaweedfsPorts;
}): string[] {
  const p = options.ports;
  return [
    'server',
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-dir=${options.dataDir}`,
    `-master.port=${p.master}`,
    `-master.port.grpc=${p.masterGrpc}`,
    '-master.telemetry=false',
    '-master.volumeSizeLimitMB=64',
    `-volume.port=${p.volume}`,
    `-volume.port.grpc=${p.volumeGrpc}`,
    '-volume.max=100',
    '-filer',
    `-filer.port=${p.filer}`,
    `-filer.port.grpc=${p.filerGrpc}`,
    '-s3',
    `-s3.port=${p.s3}`,
    `-s3.port.grpc=${p.s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-s3.iam=false',
    `-s3.config=${options.identitiesFile}`,
  ];
}

/** The S3 endpoint of a node started with {@link seaweedfsArgs}. */
export const seaweedfsEndpoint = (ports: Pick<SeaweedfsPorts, 's3'>): string =>
  `http://127.0.0.1:${ports.s3}`;

/**
 * The environment for the `weed` process: the caller's with the AWS_*
 * credentials emptied (SeaweedFS would add a key pair found there as one more
 * admin identity); empty rather than absent, so that it also holds when
 * merged over the caller's environment.
 */
export function seaweedfsEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
  for (const k of Object.keys(out)) if (k.startsWith('AWS_')) out[k] = '';
  return out;
}
