import { describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { ProjectError } from '../../platform/errors.ts';
import { predictUrlOf, proxyAnswerOf, serviceProxyPath } from './smoke.ts';

const kubeConfig = (server: string) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
};

describe('the API server Service proxy path', () => {
  test('namespace, Service and port name or number, as Kubernetes documents it', () => {
    expect(serviceProxyPath('ml-dev', 'model-server', 'http', 'predict')).toBe(
      '/api/v1/namespaces/ml-dev/services/model-server:http/proxy/predict',
    );
    expect(serviceProxyPath('ml-prod', 'model-server', '80', '/v2/health/ready')).toBe(
      '/api/v1/namespaces/ml-prod/services/model-server:80/proxy/v2/health/ready',
    );
  });

  test('a name that would change the path is refused', () => {
    expect(() => serviceProxyPath('ml-dev/../kube-system', 'model-server', 'http', 'predict')).toThrow(
      'namespace "ml-dev/../kube-system" is not a DNS label or port number',
    );
    expect(() => serviceProxyPath('ml-dev', 'model-server', 'http/x', 'predict')).toThrow(ProjectError);
  });

  test("the URL keeps the kubeconfig server's own path (a proxying front like Rancher's)", () => {
    const target = { kind: 'proxy', namespace: 'ml-dev', service: 'model-server', port: 'http' } as const;
    expect(predictUrlOf({ ...target, kubeConfig: kubeConfig('https://10.0.0.1:6443') })).toBe(
      'https://10.0.0.1:6443/api/v1/namespaces/ml-dev/services/model-server:http/proxy/predict',
    );
    expect(
      predictUrlOf({ ...target, kubeConfig: kubeConfig('https://rancher.example/k8s/clusters/c-1/') }),
    ).toBe(
      'https://rancher.example/k8s/clusters/c-1/api/v1/namespaces/ml-dev/services/model-server:http/proxy/predict',
    );
    expect(predictUrlOf({ kind: 'url', baseUrl: 'http://127.0.0.1:8080/' })).toBe(
      'http://127.0.0.1:8080/predict',
    );
  });
});

describe('answers of the Service proxy that are not the model', () => {
  const url = 'https://10.0.0.1:6443/api/v1/namespaces/ml-dev/services/model-server:http/proxy/predict';
  // Status bodies as kube-apiserver v1.34 sends them.
  const status = (code: number, reason: string, message: string) =>
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
    });

  test('RBAC refusing the proxy is fatal, with what to grant', () => {
    const r = proxyAnswerOf(
      url,
      403,
      status(
        403,
        'Forbidden',
        'services "model-server:http" is forbidden: User "system:serviceaccount:argocd:ci" cannot create resource "services/proxy" in API group "" in the namespace "ml-dev"',
      ),
    );
    expect(r).toBeInstanceOf(ProjectError);
    expect((r as ProjectError).code).toBe('UNAVAILABLE');
    expect((r as ProjectError).message).toBe(
      `the Kubernetes API server refused POST ${url}: HTTP 403 services "model-server:http" is forbidden: User "system:serviceaccount:argocd:ci" cannot create resource "services/proxy" in API group "" in the namespace "ml-dev"\n` +
        '  → grant create on services/proxy for model-server:http in the namespace (manifests/base/rollout-verifier-rbac.yaml), or pass --url',
    );
  });

  test('no endpoints yet, or no Service yet, is waiting', () => {
    expect(
      proxyAnswerOf(
        url,
        503,
        status(503, 'ServiceUnavailable', 'no endpoints available for service "model-server"'),
      ),
    ).toEqual({
      ok: false,
      state: 'waiting',
      detail: `POST ${url}: HTTP 503 from the API server's Service proxy: no endpoints available for service "model-server"`,
    });
    expect(
      proxyAnswerOf(url, 404, status(404, 'NotFound', 'services "model-server" not found')),
    ).toMatchObject({
      state: 'waiting',
    });
  });

  test('an answer of the model server through the proxy is reported as it came', () => {
    expect(proxyAnswerOf(url, 503, '{"error":"model not ready"}')).toEqual({
      ok: false,
      state: 'waiting',
      detail: `POST ${url}: HTTP 503 {"error":"model not ready"}`,
    });
  });
});
