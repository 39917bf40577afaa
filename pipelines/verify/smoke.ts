/**
 * The smoke request of a rollout check: one real PNG to the model server's
 * `/predict` (raw `image/png` body, see serving/), whose JSON answer must name
 * the pinned `version`. The request goes either to a base URL, or through the
 * API server's Service proxy
 * (https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { PNG } from 'pngjs';
import { ProjectError } from '../../platform/errors.ts';
import { type CheckResult, ok, waiting } from './checks.ts';

/** A tiny real PNG (32×32 RGB gradient) for the smoke request when no --image is given. */
export function makeSmokePng(size = 32): Buffer {
  const png = new PNG({ width: size, height: size, colorType: 2 });
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      png.data[i] = Math.round((x / (size - 1)) * 255);
      png.data[i + 1] = Math.round((y / (size - 1)) * 255);
      png.data[i + 2] = 128;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png, { colorType: 2 });
}

/** Where /predict is: a base URL, or a Service reached through the API server proxy. */
export type PredictTarget =
  | { kind: 'url'; baseUrl: string }
  | { kind: 'proxy'; kubeConfig: KubeConfig; namespace: string; service: string; port: string };

/** A DNS label (namespace, Service name, port name), or a port number: what a proxy path may hold. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The API server's Service proxy path for `path` on a Service port:
 * `/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}`
 * (https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls).
 * `port` is the port's name, or its number. A name that is no DNS label is a
 * USAGE error (it would change the path).
 */
export function serviceProxyPath(namespace: string, service: string, port: string, path: string): string {
  for (const [what, value] of [
    ['namespace', namespace],
    ['Service name', service],
    ['port', port],
  ] as const) {
    if (!LABEL.test(value))
      throw new ProjectError('USAGE', `${what} "${value}" is not a DNS label or port number`, {
        subject: value,
      });
  }
  return `/api/v1/namespaces/${namespace}/services/${service}:${port}/proxy/${path.replace(/^\/+/, '')}`;
}

/** The URL the smoke request goes to, for messages. */
export function predictUrlOf(target: PredictTarget): string {
  if (target.kind === 'url') return `${target.baseUrl.replace(/\/+$/, '')}/predict`;
  const server = (target.kubeConfig.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
  return `${server}${serviceProxyPath(target.namespace, target.service, target.port, 'predict')}`;
}

/** A Kubernetes Status object (the body of the API server's own errors), when `body` is one. */
function statusOf(body: string): { reason?: string; message?: string } | undefined {
  try {
    const s = JSON.parse(body) as { kind?: string; reason?: string; message?: string };
    return s.kind === 'Status' ? s : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What an answer that is not the model's means, through the API server's
 * Service proxy. The API server answers itself (a Status) when it refuses the
 * request (401, 403: fatal, RBAC does not change while we wait) or cannot
 * reach the Service (404 no such Service, 503 no endpoints or no route:
 * waiting, the rollout may not be there yet). Anything else came from the
 * model server behind it.
 */
export function proxyAnswerOf(url: string, status: number, body: string): CheckResult | ProjectError {
  const snippet = body.replace(/\s+/g, ' ').slice(0, 200);
  const st = statusOf(body);
  if (!st) return waiting(`POST ${url}: HTTP ${status} ${snippet}`);
  if (status === 401 || (status === 403 && st.reason === 'Forbidden')) {
    return new ProjectError(
      'UNAVAILABLE',
      `the Kubernetes API server refused POST ${url}: HTTP ${status} ${st.message ?? st.reason ?? ''}`.trim(),
      {
        subject: url,
        hint:
          status === 401
            ? 'the credentials in the kubeconfig are not accepted: refresh them'
            : 'grant create on services/proxy for model-server:http in the namespace (manifests/base/rollout-verifier-rbac.yaml), or pass --url',
      },
    );
  }
  return waiting(
    `POST ${url}: HTTP ${status} from the API server's Service proxy: ${st.message ?? st.reason ?? snippet}`,
  );
}

export interface SmokeOptions {
  image: Uint8Array;
  contentType: string;
  version: string;
  timeoutMs: number;
}

/**
 * POST the image; ok when the answer is JSON whose `version` is the pinned one.
 * Throws UNAVAILABLE when the API server refuses the proxy request (see
 * {@link proxyAnswerOf}); every other failure is a `waiting` result.
 */
export async function smokePredict(target: PredictTarget, opts: SmokeOptions): Promise<CheckResult> {
  const url = new URL(predictUrlOf(target));
  const reqOpts: RequestOptions = {
    method: 'POST',
    headers: {
      'content-type': opts.contentType,
      'content-length': String(opts.image.byteLength),
      accept: 'application/json',
    },
    timeout: opts.timeoutMs,
  };
  if (target.kind === 'proxy') await target.kubeConfig.applyToHTTPSOptions(reqOpts);
  let answer: { status: number; body: string };
  try {
    answer = await post(url, opts.image, reqOpts);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return waiting(`POST ${url.href}: ${err.code ?? err.message}`);
  }
  const snippet = answer.body.replace(/\s+/g, ' ').slice(0, 200);
  if (answer.status !== 200) {
    if (target.kind === 'url') return waiting(`POST ${url.href}: HTTP ${answer.status} ${snippet}`);
    const r = proxyAnswerOf(url.href, answer.status, answer.body);
    if (r instanceof ProjectError) throw r;
    return r;
  }
  let json: { version?: unknown; model?: unknown };
  try {
    json = JSON.parse(answer.body) as typeof json;
  } catch {
    return waiting(`POST ${url.href}: answer is not JSON: ${snippet}`);
  }
  const seen = json.version === undefined ? 'none' : String(json.version);
  const model = typeof json.model === 'string' ? `model ${json.model} ` : '';
  if (seen !== opts.version) return waiting(`answered ${model}version ${seen}, expected ${opts.version}`);
  return ok(`answered ${model}version ${seen}`);
}

function post(url: URL, body: Uint8Array, opts: RequestOptions): Promise<{ status: number; body: string }> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}
