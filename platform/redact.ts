/**
 * The one sanitiser: nothing that reaches a log, an error message, a PR
 * comment, a job summary or a lock file carries a credential. A URL loses
 * its `user:password@` and the values of query parameters that carry
 * secrets (pre-signed URLs, `?token=`); free text loses any such URL part
 * and any secret the caller holds.
 */

/** Query parameters whose values are secrets (S3/GCS/Azure pre-signed URLs, tokens). */
const SECRET_PARAM =
  /^(token|access_token|id_token|api[-_]?key|key|secret|password|passwd|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sv|se|sp)$/i;

/** `url` without credentials: no userinfo, secret query values replaced by `***`. Not a URL: {@link redactText}. */
export function safeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactText(url);
  }
  if (u.username || u.password) {
    u.username = '';
    u.password = '';
  }
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) u.searchParams.set(key, '***');
  }
  return u.toString();
}

/** True when `url` is a URL that carries credentials: `user:password@` or a secret query parameter. */
export function hasCredentials(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return (
    u.username !== '' || u.password !== '' || [...u.searchParams.keys()].some((k) => SECRET_PARAM.test(k))
  );
}

/**
 * Free text with credentials removed: `scheme://user:pass@host` becomes
 * `scheme://***@host`, secret query values become `***`, the signature of an
 * AWS Signature V4 `Authorization` header (`Signature=<hex>`) becomes `***`,
 * and every string in `secrets` (4 characters or more) becomes `***`.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@'"<>]*@/gi, '$1***@');
  out = out.replace(/([?&])([^=&#\s'"<>]+)=([^&#\s'"<>]*)/g, (m, sep: string, key: string) =>
    SECRET_PARAM.test(key) ? `${sep}${key}=***` : m,
  );
  out = out.replace(/\b(Signature=)[0-9a-f]{16,}/gi, '$1***');
  return redactSecrets(out, secrets);
}

/**
 * The environment variables whose values are secrets, wherever they appear
 * (MLflow's own names, the GitHub token Actions gives a step, Prometheus'
 * bearer token, the image registry's password, the object store's secret
 * key and session token, the alert relay's shared secret, the feedback
 * export token). platform/github/actions.ts masks them in Actions' log too.
 */
export const SECRET_ENV_NAMES = [
  'MLFLOW_TRACKING_TOKEN',
  'MLFLOW_TRACKING_PASSWORD',
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'PROMETHEUS_TOKEN',
  'REGISTRY_PASSWORD',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'ALERT_RELAY_TOKEN',
  'SERVING_FEEDBACK_EXPORT_TOKEN',
  'SERVING_FEEDBACK_TOKEN',
  'SERVING_ID_KEY',
  'SERVING_ID_KEY_PREVIOUS',
] as const;

/** Variables holding a URL whose `user:password@` is a secret. */
const CREDENTIAL_URL_NAMES = ['MLFLOW_TRACKING_URI', 'PROMETHEUS_URL'] as const;

/**
 * The secrets an environment holds: the values of {@link SECRET_ENV_NAMES},
 * and the password of a `user:password@` in MLFLOW_TRACKING_URI or
 * PROMETHEUS_URL (as typed, decoded, and as the base64 of a Basic header),
 * for {@link redactText}.
 */
export function envSecrets(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const name of SECRET_ENV_NAMES) {
    const v = env[name];
    if (v) out.push(v);
  }
  for (const name of CREDENTIAL_URL_NAMES) out.push(...urlSecrets(env[name]));
  return [...new Set(out)];
}

/** The password of a URL's `user:password@`, as typed, decoded, and as a Basic header's base64. */
function urlSecrets(uri: string | undefined): string[] {
  const out: string[] = [];
  if (uri) {
    try {
      const u = new URL(uri);
      if (u.password) {
        const user = decodeURIComponent(u.username);
        const password = decodeURIComponent(u.password);
        out.push(u.password, password, Buffer.from(`${user}:${password}`).toString('base64'));
      }
    } catch {
      // not a URL: nothing more to find in it (its config reader says why)
    }
  }
  return out;
}

/** Replace every secret (4 characters or more) in `text` by `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first: a secret that contains another is replaced whole.
  const sorted = [...secrets].sort((a, b) => b.length - a.length);
  for (const s of sorted) if (s && s.length >= 4) out = out.split(s).join('***');
  return out;
}
