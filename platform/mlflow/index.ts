/**
 * Typed client for the MLflow tracking server's REST API.
 * @see https://mlflow.org/docs/latest/api_reference/rest-api.html
 */
export { encodePath, joinArtifactPath, parseMlflowArtifactsUri, proxyPathOf } from './artifact-uri.ts';
export { authorizationFor, authorizationHeader, originOf, secretsOf } from './auth.ts';
export { chunkLogBatch, LOG_BATCH_LIMITS, type LogBatch } from './batch.ts';
export { MlflowClient } from './client.ts';
export { httpOptionsOf, type MlflowConfig, mlflowConfigFromEnv } from './config.ts';
export { type HttpOptions, type HttpRequest, type MlflowAuth, MlflowHttp, splitCredentials } from './http.ts';
export { backoffDelayMs, DEFAULT_RETRY, isRetryableStatus, type RetryPolicy } from './retry.ts';
export type * from './types.ts';
