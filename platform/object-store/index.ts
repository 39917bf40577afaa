/**
 * The object store (S3 or any S3-compatible server): where the system writes
 * at run time (MLflow's artifacts, data archives, captured payloads,
 * feedback). Configuration from the environment (./config.ts), `s3://` URLs
 * (./url.ts), and the one client (./client.ts), which loads the AWS SDK on
 * first use. See docs/object-store.md.
 */
export {
  createObjectStore,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type ObjectStoreOptions,
  objectStoreFromEnv,
  type PutOptions,
  type UploadOptions,
} from './client.ts';
export {
  DEFAULT_REGION,
  describeObjectStore,
  OBJECT_STORE_ENV,
  type ObjectStoreConfig,
  type ObjectStoreCredentials,
  objectStoreConfigFromEnv,
  objectStoreEnv,
  secretsOfStore,
} from './config.ts';
export { assertBucketName, isS3Url, joinKey, type ObjectRef, parseS3Url, s3Url, toObjectRef } from './url.ts';
