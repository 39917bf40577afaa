/**
 * `s3://bucket/key` URLs, read the way the AWS CLI reads them: everything
 * after `bucket/` is the key, byte for byte (no percent-decoding, `?` and `#`
 * are part of the key). A URL names a bucket and a key, never a host, so the
 * object store it goes to is always the configured one (./config.ts), and a
 * URL cannot carry credentials: `s3://user:secret@bucket/...` is refused.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
 */
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';

/** One object, or (for listing) a key prefix, in a bucket. */
export interface ObjectRef {
  bucket: string;
  /** The object's key; for a prefix, '' means the whole bucket. */
  key: string;
}

/** S3's general-purpose bucket names: 3 to 63 lowercase letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** S3 caps a key at 1,024 bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;

/** True for a string that starts with `s3://` (any case). */
export const isS3Url = (url: string): boolean => /^s3:\/\//i.test(url);

/** INVALID naming what is wrong with a bucket name, or nothing when it is valid. */
export function assertBucketName(bucket: string, where: string): void {
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new ProjectError(
      'INVALID',
      `${where}: "${bucket}" is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)`,
      { subject: where },
    );
  }
}

/**
 * Parse `s3://bucket/key`. With `prefix: true` the key may be empty or end in
 * `/` (a prefix to list: `s3://bucket`, `s3://bucket/captures/`); otherwise it
 * names one object. INVALID names the URL (without credentials) and what to do.
 */
export function parseS3Url(url: string, options: { prefix?: boolean } = {}): ObjectRef {
  const shown = redactText(url);
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/is.exec(url);
  if (!m) {
    throw new ProjectError('INVALID', `${shown} is not an s3://bucket/key URL`, {
      subject: shown,
      hint: 'write s3://<bucket>/<key>',
    });
  }
  const bucket = m[1] as string;
  const key = m[2] ?? '';
  if (bucket.includes('@')) {
    throw new ProjectError('INVALID', `${shown}: an s3:// URL carries no credentials`, {
      subject: shown,
      hint: 'remove the user:secret@ part; the object store credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    });
  }
  if (bucket.includes(':')) {
    throw new ProjectError('INVALID', `${shown}: an s3:// URL names a bucket, not a host and port`, {
      subject: shown,
      hint: 'the store is chosen by OBJECT_STORE_ENDPOINT; write s3://<bucket>/<key>',
    });
  }
  assertBucketName(bucket, shown);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new ProjectError('INVALID', `${shown}: the key is over ${MAX_KEY_BYTES} bytes`, { subject: shown });
  }
  if (!options.prefix && (key === '' || key.endsWith('/'))) {
    throw new ProjectError('INVALID', `${shown} names no object (the key is empty or ends in "/")`, {
      subject: shown,
      hint: 'write s3://<bucket>/<key> with the object key',
    });
  }
  return { bucket, key };
}

/** The `s3://bucket/key` URL of a ref (the inverse of {@link parseS3Url}). */
export function s3Url(ref: ObjectRef): string {
  return `s3://${ref.bucket}/${ref.key}`;
}

/** `ref` when it is already a ref, else the parse of an `s3://` URL. */
export function toObjectRef(ref: ObjectRef | string, options: { prefix?: boolean } = {}): ObjectRef {
  if (typeof ref === 'string') return parseS3Url(ref, options);
  assertBucketName(ref.bucket, s3Url(ref));
  return ref;
}

/** `key` joined under `prefix` with exactly one `/` between them. */
export function joinKey(prefix: string, key: string): string {
  if (prefix === '') return key;
  return `${prefix.replace(/\/+$/, '')}/${key.replace(/^\/+/, '')}`;
}
