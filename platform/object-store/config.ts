/**
 * The object store connection, parsed once from the environment at the edge
 * (docs/object-store.md, docs/contracts.md):
 *
 *   OBJECT_STORE_ENDPOINT   http(s) origin of an S3-compatible server (SeaweedFS,
 *                           MinIO, Ceph...); unset: Amazon S3 of the region
 *   OBJECT_STORE_REGION     signing region (default us-east-1)
 *   OBJECT_STORE_BUCKET     the bucket the system writes into at run time
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY[, AWS_SESSION_TOKEN]
 *                           the credentials: the standard names, which boto3
 *                           (MLflow's artifact store) reads too, so one Secret
 *                           serves both
 *
 * The store counts as configured when OBJECT_STORE_ENDPOINT, _BUCKET or
 * _REGION is set. The credentials go to the endpoint and nowhere else: an
 * `s3://` URL names no host (./url.ts), and nothing else in the project
 * reads them. Without AWS_ACCESS_KEY_ID the AWS SDK's default chain (web
 * identity, instance profile, ~/.aws) is used, as on EKS with IRSA.
 */
import { ProjectError } from '../errors.ts';
import { safeUrl } from '../redact.ts';
import { compileValidator, setVariables } from '../schema.ts';
import { assertBucketName } from './url.ts';

export interface ObjectStoreCredentials {
  accessKeyId: string;
  /** Never printed: platform/redact.ts envSecrets() lists it, and {@link secretsOfStore} gives it. */
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ObjectStoreConfig {
  /** The S3 API's origin (`http://127.0.0.1:8333`), without credentials; undefined for Amazon S3. */
  endpoint?: string;
  region: string;
  /** The bucket the system writes into at run time (captures, feedback...). */
  bucket?: string;
  /** Static credentials; undefined: the AWS SDK's default chain. */
  credentials?: ObjectStoreCredentials;
  /** Path-style requests (`<endpoint>/<bucket>/<key>`): true whenever an endpoint is set. */
  forcePathStyle: boolean;
}

/** The environment variables {@link objectStoreConfigFromEnv} reads, in the order docs list them. */
export const OBJECT_STORE_ENV = [
  'OBJECT_STORE_ENDPOINT',
  'OBJECT_STORE_REGION',
  'OBJECT_STORE_BUCKET',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const;

type ObjectStoreEnv = Partial<Record<(typeof OBJECT_STORE_ENV)[number], string>>;

const validateEnv = compileValidator<ObjectStoreEnv>({
  type: 'object',
  additionalProperties: false,
  properties: {
    OBJECT_STORE_ENDPOINT: { type: 'string', pattern: '^https?://' },
    OBJECT_STORE_REGION: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' },
    OBJECT_STORE_BUCKET: { type: 'string' },
    AWS_ACCESS_KEY_ID: { type: 'string', pattern: '^[\\x21-\\x7e]{3,128}$' },
    AWS_SECRET_ACCESS_KEY: { type: 'string', minLength: 8 },
    AWS_SESSION_TOKEN: { type: 'string' },
  },
});

export const DEFAULT_REGION = 'us-east-1';

/** The endpoint as an origin; INVALID for credentials, a path, a query or a fragment in it. */
function parseEndpoint(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ProjectError('INVALID', `OBJECT_STORE_ENDPOINT ${safeUrl(raw)} is not a URL`, {
      subject: 'OBJECT_STORE_ENDPOINT',
    });
  }
  if (u.username || u.password) {
    throw new ProjectError('INVALID', `OBJECT_STORE_ENDPOINT ${safeUrl(raw)} carries credentials`, {
      subject: 'OBJECT_STORE_ENDPOINT',
      hint: 'remove user:secret@ from it; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead',
    });
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new ProjectError(
      'INVALID',
      `OBJECT_STORE_ENDPOINT ${safeUrl(raw)} must be an origin (scheme, host, port), without a path or query`,
      {
        subject: 'OBJECT_STORE_ENDPOINT',
        hint: 'buckets and keys come from s3:// URLs and OBJECT_STORE_BUCKET',
      },
    );
  }
  return u.origin;
}

/**
 * Read the object store's settings (see the module comment); undefined when
 * none of OBJECT_STORE_ENDPOINT, _REGION, _BUCKET is set. INVALID names the
 * variable that is wrong, never its value when it is a secret.
 */
export function objectStoreConfigFromEnv(
  env: Record<string, string | undefined>,
): ObjectStoreConfig | undefined {
  const e = validateEnv(setVariables(env, OBJECT_STORE_ENV), 'object store environment variables');
  if (!e.OBJECT_STORE_ENDPOINT && !e.OBJECT_STORE_BUCKET && !e.OBJECT_STORE_REGION) return undefined;
  if (Boolean(e.AWS_ACCESS_KEY_ID) !== Boolean(e.AWS_SECRET_ACCESS_KEY)) {
    throw new ProjectError('INVALID', 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together', {
      subject: e.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID',
      hint: 'set both (the object store credentials), or neither to use the AWS default credential chain',
    });
  }
  if (e.AWS_SESSION_TOKEN && !e.AWS_ACCESS_KEY_ID) {
    throw new ProjectError('INVALID', 'AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID', {
      subject: 'AWS_SESSION_TOKEN',
      hint: 'a session token goes with the temporary key id and secret it was issued with',
    });
  }
  if (e.OBJECT_STORE_BUCKET) assertBucketName(e.OBJECT_STORE_BUCKET, 'OBJECT_STORE_BUCKET');
  const endpoint = e.OBJECT_STORE_ENDPOINT ? parseEndpoint(e.OBJECT_STORE_ENDPOINT) : undefined;
  const credentials: ObjectStoreCredentials | undefined = e.AWS_ACCESS_KEY_ID
    ? {
        accessKeyId: e.AWS_ACCESS_KEY_ID,
        secretAccessKey: e.AWS_SECRET_ACCESS_KEY as string,
        ...(e.AWS_SESSION_TOKEN ? { sessionToken: e.AWS_SESSION_TOKEN } : {}),
      }
    : undefined;
  return {
    ...(endpoint ? { endpoint } : {}),
    region: e.OBJECT_STORE_REGION ?? DEFAULT_REGION,
    ...(e.OBJECT_STORE_BUCKET ? { bucket: e.OBJECT_STORE_BUCKET } : {}),
    ...(credentials ? { credentials } : {}),
    forcePathStyle: endpoint !== undefined,
  };
}

/** The environment a child process needs to reach the same store (the inverse of {@link objectStoreConfigFromEnv}). */
export function objectStoreEnv(config: ObjectStoreConfig): Record<string, string> {
  return {
    ...(config.endpoint ? { OBJECT_STORE_ENDPOINT: config.endpoint } : {}),
    OBJECT_STORE_REGION: config.region,
    ...(config.bucket ? { OBJECT_STORE_BUCKET: config.bucket } : {}),
    ...(config.credentials
      ? {
          AWS_ACCESS_KEY_ID: config.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: config.credentials.secretAccessKey,
          ...(config.credentials.sessionToken ? { AWS_SESSION_TOKEN: config.credentials.sessionToken } : {}),
        }
      : {}),
  };
}

/** Where the store is, for people: the endpoint (or "Amazon S3") and the region. Holds no secret. */
export function describeObjectStore(config: ObjectStoreConfig): string {
  return `${config.endpoint ?? 'Amazon S3'} (region ${config.region})`;
}

/** The secrets of a config as they may appear in text: the secret key and the session token. */
export function secretsOfStore(config: ObjectStoreConfig | undefined): string[] {
  const c = config?.credentials;
  if (!c) return [];
  return [c.secretAccessKey, ...(c.sessionToken ? [c.sessionToken] : [])];
}
