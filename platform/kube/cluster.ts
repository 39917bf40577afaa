/**
 * Connecting to a cluster with @kubernetes/client-node: load the kubeconfig
 * once at the edge, remember where it came from, and turn the client's
 * network and auth failures into one clear ProjectError that names the API
 * server URL and the kubeconfig/context.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { ProjectError } from '../errors.ts';

/** A loaded kubeconfig plus the words a message needs to say which cluster it is. */
export interface Cluster {
  kubeConfig: KubeConfig;
  /** API server URL of the current context's cluster. */
  server: string;
  /** Where the config came from and which context, e.g. "kubeconfig /x/config, context kind-dev". */
  source: string;
}

export interface LoadClusterOptions {
  /** A kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** A context in that file; default: its current-context. */
  context?: string;
  /** The process environment, passed in (only KUBECONFIG is read). */
  env?: Record<string, string | undefined>;
}

/**
 * Load a kubeconfig (see https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/).
 * A missing file or unknown context is a USAGE error naming it.
 */
export function loadCluster(options: LoadClusterOptions = {}): Cluster {
  const kc = new KubeConfig();
  const env = options.env ?? {};
  let where: string;
  try {
    if (options.kubeconfig) {
      where = `kubeconfig ${options.kubeconfig}`;
      kc.loadFromFile(options.kubeconfig);
    } else {
      const home = join(homedir(), '.kube', 'config');
      kc.loadFromDefault();
      where = env.KUBECONFIG ? `kubeconfig $KUBECONFIG=${env.KUBECONFIG}` : `kubeconfig ${home}`;
      if (kc.getCurrentContext() === 'inClusterContext') where = 'in-cluster service account';
      else if (!env.KUBECONFIG && !existsSync(home)) {
        throw new ProjectError(
          'USAGE',
          `no kubeconfig: KUBECONFIG is not set, ${home} does not exist, and this is not a pod`,
          {
            hint: 'pass --kubeconfig <file> or set KUBECONFIG',
          },
        );
      }
    }
  } catch (e) {
    if (e instanceof ProjectError) throw e;
    throw new ProjectError(
      'USAGE',
      `cannot load ${options.kubeconfig ?? 'the default kubeconfig'}: ${(e as Error).message}`,
      {
        subject: options.kubeconfig,
        hint: 'pass --kubeconfig <file> or set KUBECONFIG',
        cause: e,
      },
    );
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new ProjectError(
        'USAGE',
        `${where}: no context "${options.context}" (contexts: ${known.join(', ') || 'none'})`,
        {
          subject: options.context,
        },
      );
    }
    kc.setCurrentContext(options.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new ProjectError('USAGE', `${where}: no current context with a cluster`, {
      hint: 'pass --context <name> or set current-context in the kubeconfig',
    });
  }
  return { kubeConfig: kc, server: cluster.server, source: `${where}, context ${kc.getCurrentContext()}` };
}

/** The HTTP status of a client-node API error, or undefined for anything else. */
export function apiStatusOf(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** The API server's own message from an ApiException body (a Status object), else the error's message. */
export function apiMessageOf(e: unknown): string {
  if (e instanceof ApiException) {
    const body: unknown = e.body;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        /* not JSON */
      }
      return body.slice(0, 300);
    }
    if (body && typeof body === 'object' && 'message' in body)
      return String((body as { message: unknown }).message);
    return `HTTP ${e.code}`;
  }
  return (e as Error)?.message ?? String(e);
}

/** A failure to reach the API server at all (refused, DNS, TLS, timeout), as fetch reports it. */
export function isNetworkError(e: unknown): boolean {
  if (e instanceof ApiException) return false;
  const err = e as { name?: string; message?: string; cause?: { code?: string } } | undefined;
  return (
    (err?.name === 'TypeError' && /fetch failed/.test(err.message ?? '')) ||
    typeof err?.cause?.code === 'string'
  );
}

/**
 * Map an error from a client-node call to a ProjectError when the cluster
 * itself is the problem (unreachable, unauthenticated, forbidden); return
 * undefined for anything else (the caller decides: 404 is often "not yet").
 */
export function clusterErrorOf(
  e: unknown,
  cluster: Pick<Cluster, 'server' | 'source'>,
  what: string,
): ProjectError | undefined {
  if (isNetworkError(e)) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    return new ProjectError(
      'UNAVAILABLE',
      `Kubernetes API server ${cluster.server} does not answer (${why}) while reading ${what} [${cluster.source}]`,
      {
        subject: cluster.server,
        hint: 'check that the cluster is up and that --kubeconfig/--context point at it (kubectl --context ... cluster-info)',
        cause: e,
      },
    );
  }
  const status = apiStatusOf(e);
  if (status === 401 || status === 403) {
    return new ProjectError(
      'UNAVAILABLE',
      `Kubernetes API server ${cluster.server} refused ${what}: HTTP ${status} ${apiMessageOf(e)} [${cluster.source}]`,
      {
        subject: cluster.server,
        hint:
          status === 401
            ? 'the credentials in the kubeconfig are not accepted: refresh them'
            : 'grant this user get/list on that resource (RBAC)',
        cause: e,
      },
    );
  }
  return undefined;
}
