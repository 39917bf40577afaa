/**
 * The one rule for the tracking server's credentials: they are sent only to
 * the tracking server's own origin (scheme, host and port, as browsers
 * define an origin). A lock entry, a run or a config can name any URL, e.g.
 * `mlflow-artifacts://other-host/...`; a request there gets no token.
 * MlflowHttp (every REST call) and platform/artifact-store (every artifact fetch)
 * ask {@link authorizationFor}, and nothing else builds the header.
 * @see https://mlflow.org/docs/latest/ml/auth/#using-environment-variables
 * @see https://html.spec.whatwg.org/multipage/browsers.html#origin
 */

/** Credentials for the tracking server, read from the environment at the edge. */
export type MlflowAuth =
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; username: string; password: string };

/** The Authorization header value of `auth`. */
export function authorizationHeader(auth: MlflowAuth): string {
  return auth.kind === 'bearer'
    ? `Bearer ${auth.token}`
    : `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** The origin of a URL (`http://host:port`), or undefined when it is not an absolute http(s) URL. */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Authorization header for a request to `url`: the tracking server's
 * credentials when `url` has the tracking server's origin, else undefined.
 */
export function authorizationFor(
  url: string,
  tracking: { trackingUri: string; auth?: MlflowAuth | undefined } | undefined,
): string | undefined {
  if (!tracking?.auth) return undefined;
  const target = originOf(url);
  if (target === undefined || target !== originOf(tracking.trackingUri)) return undefined;
  return authorizationHeader(tracking.auth);
}

/** The secrets of `auth` as they may appear in text (token, password, the basic header's base64). */
export function secretsOf(auth: MlflowAuth | undefined): string[] {
  if (!auth) return [];
  if (auth.kind === 'bearer') return [auth.token];
  return [auth.password, Buffer.from(`${auth.username}:${auth.password}`).toString('base64')];
}
