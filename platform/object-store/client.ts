/**
 * The one S3 client of the project: put, get (streamed), head, list, delete,
 * multipart upload of large or streamed bodies, and conditional put
 * (`If-None-Match: *`: write only if no object has the key). It wraps the
 * AWS SDK (@aws-sdk/client-s3, @aws-sdk/lib-storage), loaded on the first
 * call and not at import: a process that may write to the store (the
 * inference server's payload capture) does not pay for the SDK at start-up
 * (tools/policy/layers.test.ts checks that serving's start-up does not load
 * it). Every error is a ProjectError naming the operation, the `s3://` URL
 * and the endpoint, never a credential.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';
import {
  describeObjectStore,
  type ObjectStoreConfig,
  objectStoreConfigFromEnv,
  secretsOfStore,
} from './config.ts';
import { type ObjectRef, s3Url, toObjectRef } from './url.ts';

/** What the store says about one object. */
export interface ObjectInfo {
  bucket: string;
  key: string;
  /** s3://bucket/key */
  url: string;
  size: number;
  /** The ETag as the server sends it, quotes removed. */
  etag?: string;
  lastModified?: Date;
  contentType?: string;
}

/** An object being read: its bytes as a stream, and what the response said. */
export interface ObjectBody {
  body: AsyncIterable<Uint8Array>;
  size?: number;
  etag?: string;
  contentType?: string;
}

export interface PutOptions {
  contentType?: string;
  /**
   * Write only if no object has this key yet (`If-None-Match: *`); when one
   * has, the put fails with CONFLICT and the object stays as it was.
   */
  ifNoneMatch?: boolean;
}

export interface UploadOptions {
  contentType?: string;
  /** Part size of the multipart upload, bytes (S3's minimum and the default: 5 MiB). */
  partSizeBytes?: number;
  /** Parts in flight at once (default 2); memory held is at most queueSize × partSize. */
  queueSize?: number;
}

export interface ObjectStoreOptions {
  /** Per-request timeout, ms (default 120 000): a request not answered by then fails UNAVAILABLE. */
  timeoutMs?: number;
  /** Attempts per request, the SDK's retry with backoff included (default 3). */
  maxAttempts?: number;
}

/** One object store: a config (./config.ts) and, once used, an SDK client. */
export interface ObjectStore {
  readonly config: ObjectStoreConfig;
  put(ref: ObjectRef | string, body: Uint8Array | string, options?: PutOptions): Promise<{ etag?: string }>;
  upload(
    ref: ObjectRef | string,
    body: Readable | AsyncIterable<Uint8Array> | Uint8Array,
    options?: UploadOptions,
  ): Promise<{ etag?: string }>;
  get(ref: ObjectRef | string): Promise<ObjectBody>;
  getBytes(ref: ObjectRef | string): Promise<Uint8Array>;
  /** The object's metadata, or undefined when there is no object with that key. */
  head(ref: ObjectRef | string): Promise<ObjectInfo | undefined>;
  /** Every object under a prefix (`s3://bucket/prefix/`, or a ref), in key order, fetched a page (default 1,000) at a time. */
  list(prefix: ObjectRef | string, options?: { pageSize?: number }): AsyncIterable<ObjectInfo>;
  /** Delete one object; deleting a key that is not there succeeds (S3's semantics). */
  delete(ref: ObjectRef | string): Promise<void>;
  /** Create the bucket unless this account already has it. */
  ensureBucket(bucket: string): Promise<void>;
  /** Close the client's connections. */
  close(): void;
}

type Sdk = typeof import('@aws-sdk/client-s3');

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: { code?: string; message?: string };
}

const stripQuotes = (etag: string | undefined): string | undefined => etag?.replace(/^"|"$/g, '');

/**
 * A client for the store `config` describes. Nothing is loaded or connected
 * until the first call.
 */
export function createObjectStore(config: ObjectStoreConfig, options: ObjectStoreOptions = {}): ObjectStore {
  const conn = connection(config, options);
  const store: ObjectStore = {
    config,
    put: (ref, body, opts = {}) => putObject(conn, ref, body, opts),
    upload: (ref, body, opts = {}) => uploadObject(conn, ref, body, opts),
    get: (ref) => getObject(conn, ref),
    async getBytes(ref) {
      const { body } = await store.get(ref);
      const chunks: Uint8Array[] = [];
      for await (const c of body) chunks.push(c);
      return Buffer.concat(chunks);
    },
    head: (ref) => headObject(conn, ref),
    list: (prefix, opts = {}) => listObjects(conn, prefix, opts),
    delete: (ref) => deleteObject(conn, ref),
    ensureBucket: (bucket) => ensureBucketExists(conn, bucket),
    close: () => conn.close(),
  };
  return store;
}

/** The SDK client of one store, loaded on the first call, and the error translation of its calls. */
interface Connection {
  /** Run `f` with the SDK and the client; its error becomes a ProjectError naming `op` and `target`. */
  call<T>(op: string, target: string, f: (sdk: Sdk, client: S3Client) => Promise<T>): Promise<T>;
  /** The ProjectError for a failed call. */
  failure(e: unknown, op: string, target: string): ProjectError;
  close(): void;
}

function connection(config: ObjectStoreConfig, options: ObjectStoreOptions): Connection {
  let loaded: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  const where = describeObjectStore(config);
  const secrets = secretsOfStore(config);
  const failure = (e: unknown, op: string, target: string) =>
    storeFailure(e, `${op} ${target} on ${where}`, target, secrets);
  return {
    failure,
    async call(op, target, f) {
      loaded ??= import('@aws-sdk/client-s3').then((sdk) => ({
        sdk,
        client: sdkClient(sdk, config, options),
      }));
      const { sdk, client } = await loaded;
      try {
        return await f(sdk, client);
      } catch (e) {
        throw failure(e, op, target);
      }
    },
    close() {
      const l = loaded;
      loaded = undefined;
      void l?.then(({ client }) => client.destroy()).catch(() => undefined);
    },
  };
}

function sdkClient(sdk: Sdk, config: ObjectStoreConfig, options: ObjectStoreOptions): S3Client {
  return new sdk.S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    // A copy: the SDK writes its own bookkeeping ($source) into the object it is given.
    ...(config.credentials ? { credentials: { ...config.credentials } } : {}),
    maxAttempts: options.maxAttempts ?? 3,
    // throwOnRequestTimeout: without it the SDK only logs a warning when
    // requestTimeout passes and the call waits on (a stalled store held a request forever).
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: options.timeoutMs ?? 120_000,
      throwOnRequestTimeout: true,
    },
    // Checksums only where the API requires them: S3-compatible servers
    // differ in which of the SDK's newer default checksum headers they accept.
    ...(config.endpoint
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
  });
}

/** The ProjectError for a failed call (`what`: the operation, URL and store): by HTTP status and S3 error code. */
function storeFailure(e: unknown, what: string, target: string, secrets: string[]): ProjectError {
  if (e instanceof ProjectError) return e;
  const err = e as SdkError;
  const status = err.$metadata?.httpStatusCode;
  const name = err.name ?? err.code ?? 'Error';
  // The SDK wraps an error thrown in another realm (a test's vm context) as "AWS SDK error
  // wrapper for Error: connect ECONNREFUSED ...", losing its `code`: read it from the message then.
  const detail = redactText(
    (err.message || name).replace(/^AWS SDK error wrapper for (Error: )?/, ''),
    secrets,
  );
  if (name === 'NoSuchBucket') {
    return new ProjectError('NOT_FOUND', `${what}: no such bucket`, {
      subject: target,
      hint: 'create the bucket, or check OBJECT_STORE_BUCKET and the s3:// URL',
      cause: e,
    });
  }
  if (status === 404 || name === 'NoSuchKey' || name === 'NotFound') {
    return new ProjectError('NOT_FOUND', `${what}: no such object`, {
      subject: target,
      hint: 'check the s3:// URL',
      cause: e,
    });
  }
  if (status === 412 || name === 'PreconditionFailed') {
    return new ProjectError('CONFLICT', `${what}: an object with this key already exists`, {
      subject: target,
      cause: e,
    });
  }
  if (status === 401 || status === 403) {
    return new ProjectError('UNAVAILABLE', `${what}: refused (HTTP ${status}, ${name})`, {
      subject: target,
      hint: 'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that they may use this bucket',
      cause: e,
    });
  }
  if (status === undefined) {
    const code = err.code ?? err.cause?.code ?? /\b(E[A-Z]{3,})\b/.exec(detail)?.[1] ?? name;
    return new ProjectError('UNAVAILABLE', `${what} failed (${code}: ${detail})`, {
      subject: target,
      hint: 'check that OBJECT_STORE_ENDPOINT points at a running S3-compatible server',
      cause: e,
    });
  }
  return new ProjectError('UNAVAILABLE', `${what}: HTTP ${status} ${name}: ${detail}`, {
    subject: target,
    hint: 'retry later',
    cause: e,
  });
}

/** A body stream whose read errors become UNAVAILABLE naming the object. */
async function* guarded(
  conn: Connection,
  body: AsyncIterable<Uint8Array>,
  url: string,
): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (e) {
    throw conn.failure(e, 'reading', url);
  }
}

async function putObject(
  conn: Connection,
  ref: ObjectRef | string,
  body: Uint8Array | string,
  opts: PutOptions,
): Promise<{ etag?: string }> {
  const r = toObjectRef(ref);
  const out = await conn.call('PUT', s3Url(r), (sdk, client) =>
    client.send(
      new sdk.PutObjectCommand({
        Bucket: r.bucket,
        Key: r.key,
        Body: typeof body === 'string' ? Buffer.from(body) : body,
        ...(opts.contentType ? { ContentType: opts.contentType } : {}),
        ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
      }),
    ),
  );
  return { etag: stripQuotes(out.ETag) };
}

async function uploadObject(
  conn: Connection,
  ref: ObjectRef | string,
  body: Readable | AsyncIterable<Uint8Array> | Uint8Array,
  opts: UploadOptions,
): Promise<{ etag?: string }> {
  const r = toObjectRef(ref);
  const { Upload } = await import('@aws-sdk/lib-storage');
  const out = await conn.call('upload', s3Url(r), (_sdk, client) =>
    new Upload({
      client,
      params: {
        Bucket: r.bucket,
        Key: r.key,
        Body: body as Readable,
        ...(opts.contentType ? { ContentType: opts.contentType } : {}),
      },
      partSize: opts.partSizeBytes ?? 5 * 1024 * 1024,
      queueSize: opts.queueSize ?? 2,
      // A failed upload is aborted, so no orphaned parts stay behind.
      leavePartsOnError: false,
    }).done(),
  );
  return { etag: stripQuotes(out.ETag) };
}

async function getObject(conn: Connection, ref: ObjectRef | string): Promise<ObjectBody> {
  const r = toObjectRef(ref);
  const url = s3Url(r);
  const out = await conn.call('GET', url, (sdk, client) =>
    client.send(new sdk.GetObjectCommand({ Bucket: r.bucket, Key: r.key })),
  );
  if (!out.Body) throw conn.failure(new Error('the response has no body'), 'GET', url);
  return {
    body: guarded(conn, out.Body as AsyncIterable<Uint8Array>, url),
    ...(out.ContentLength !== undefined ? { size: out.ContentLength } : {}),
    ...(out.ETag ? { etag: stripQuotes(out.ETag) } : {}),
    ...(out.ContentType ? { contentType: out.ContentType } : {}),
  };
}

async function headObject(conn: Connection, ref: ObjectRef | string): Promise<ObjectInfo | undefined> {
  const r = toObjectRef(ref);
  const url = s3Url(r);
  try {
    const out = await conn.call('HEAD', url, (sdk, client) =>
      client.send(new sdk.HeadObjectCommand({ Bucket: r.bucket, Key: r.key })),
    );
    return {
      bucket: r.bucket,
      key: r.key,
      url,
      size: out.ContentLength ?? 0,
      ...(out.ETag ? { etag: stripQuotes(out.ETag) } : {}),
      ...(out.LastModified ? { lastModified: out.LastModified } : {}),
      ...(out.ContentType ? { contentType: out.ContentType } : {}),
    };
  } catch (e) {
    // HEAD answers without a body, so a missing bucket reads as a missing object too.
    if (e instanceof ProjectError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
}

async function* listObjects(
  conn: Connection,
  prefix: ObjectRef | string,
  opts: { pageSize?: number },
): AsyncIterable<ObjectInfo> {
  const r = toObjectRef(prefix, { prefix: true });
  const url = s3Url(r);
  let token: string | undefined;
  do {
    const page = await conn.call('LIST', url, (sdk, client) =>
      client.send(
        new sdk.ListObjectsV2Command({
          Bucket: r.bucket,
          ...(r.key ? { Prefix: r.key } : {}),
          ...(token ? { ContinuationToken: token } : {}),
          ...(opts.pageSize ? { MaxKeys: opts.pageSize } : {}),
        }),
      ),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined) continue;
      yield {
        bucket: r.bucket,
        key: o.Key,
        url: s3Url({ bucket: r.bucket, key: o.Key }),
        size: o.Size ?? 0,
        ...(o.ETag ? { etag: stripQuotes(o.ETag) } : {}),
        ...(o.LastModified ? { lastModified: o.LastModified } : {}),
      };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

async function deleteObject(conn: Connection, ref: ObjectRef | string): Promise<void> {
  const r = toObjectRef(ref);
  await conn.call('DELETE', s3Url(r), (sdk, client) =>
    client.send(new sdk.DeleteObjectCommand({ Bucket: r.bucket, Key: r.key })),
  );
}

async function ensureBucketExists(conn: Connection, bucket: string): Promise<void> {
  toObjectRef({ bucket, key: '' });
  await conn.call('CREATE BUCKET', `s3://${bucket}`, async (sdk, client) => {
    try {
      await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
    } catch (e) {
      const name = (e as SdkError).name;
      if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') {
        // Already there: ours if we may list it (BucketAlreadyExists can mean another account's).
        await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }));
        return;
      }
      throw e;
    }
  });
}

/**
 * The store the environment configures (./config.ts objectStoreConfigFromEnv),
 * or undefined when none is: for the edge of a command, which passes it down.
 */
export function objectStoreFromEnv(
  env: Record<string, string | undefined>,
  options: ObjectStoreOptions = {},
): ObjectStore | undefined {
  const config = objectStoreConfigFromEnv(env);
  return config ? createObjectStore(config, options) : undefined;
}
