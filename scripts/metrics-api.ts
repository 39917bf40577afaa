/**
 * metrics-api: the resource metrics API (metrics.k8s.io/v1beta1) of the
 * local cluster's kwok pods, over HTTPS on loopback, for the API server's
 * aggregation layer (tools/cluster/metrics-api.ts says what it reports and
 * why). `npm run cluster -- up` starts it and registers it as an APIService.
 *
 *   npx tsx scripts/metrics-api.ts --kubeconfig <file> --cert <pem> --key <pem> [--port 0]
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { isMain, parseCommand, parsePortFlag, runMain } from '../platform/cli.ts';
import { createMetricsApiHandler, type PodSource } from '../tools/cluster/metrics-api.ts';
import { serveOnLoopback } from '../tools/cluster/serve.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx scripts/metrics-api.ts',
  summary: `The resource metrics API (metrics.k8s.io/v1beta1) of the local cluster's kwok
pods, over HTTPS on 127.0.0.1, for the API server's aggregation layer
(tools/cluster/metrics-api.ts). \`npm run cluster -- up\` starts it and registers
it as an APIService. Prints the URL it serves at, then serves until stopped.`,
  required: ['kubeconfig', 'cert', 'key'],
  options: {
    kubeconfig: {
      type: 'string',
      value: '<file>',
      help: 'the cluster whose pods it reports (read with list on pods)',
    },
    cert: { type: 'string', value: '<pem>', help: 'the TLS certificate it serves with' },
    key: { type: 'string', value: '<pem>', help: 'the TLS key it serves with' },
    port: { type: 'string', value: '<n>', default: '0', help: 'port on 127.0.0.1 (0: a free one, printed)' },
  },
} as const;

/** The pods, read through the API server. */
export function podsFrom(kc: KubeConfig): PodSource {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    list: async (namespace, query) =>
      (namespace
        ? await core.listNamespacedPod({ namespace, ...query })
        : await core.listPodForAllNamespaces(query)
      ).items,
  };
}

/** Start serving; resolves once listening, with the URL and a close function. Exported for tests. */
export async function main(argv: string[]): Promise<{ url: string; close: () => Promise<void> } | number> {
  const cli = parseCommand(argv, COMMAND, console.log);
  if (!cli) return 0;
  const f = cli.values;
  const port = parsePortFlag(f.port);
  const kc = new KubeConfig();
  kc.loadFromFile(f.kubeconfig!);
  const [cert, key] = await Promise.all([readFile(f.cert!), readFile(f.key!)]);
  const server = createServer(
    { cert, key },
    createMetricsApiHandler({ pods: podsFrom(kc), log: (line) => console.error(line) }),
  );
  const { url, close } = await serveOnLoopback(server, port, 'https');
  console.log(`serving metrics.k8s.io/v1beta1 for the pods of ${kc.getCurrentCluster()?.server} at ${url}`);
  return { url, close };
}

if (isMain(import.meta.url))
  await runMain(async () => {
    const r = await main(process.argv.slice(2));
    return typeof r === 'number' ? r : undefined;
  });
