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

/**
 * Free text with credentials removed: `scheme://user:pass@host` becomes
 * `scheme://***@host`, secret query values become `***`, and every string in
 * `secrets` (4 characters or more) becomes `***`.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@'"<>]*@/gi, '$1***@');
  out = out.replace(/([?&])([^=&#\s'"<>]+)=([^&#\s'"<>]*)/g, (m, sep: string, key: string) =>
    SECRET_PARAM.test(key) ? `${sep}${key}=***` : m,
  );
  return redactSecrets(out, secrets);
}

/** Replace every secret (4 characters or more) in `text` by `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  return out;
}
