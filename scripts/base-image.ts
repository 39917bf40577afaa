/**
 * Make the base image serving/Dockerfile names (node:<version>-bookworm-slim)
 * in the project's podman store, from Debian packages and the npm registry
 * (tools/containers/base-image.ts says how). Run by scripts/setup.d/76-node-base-image.sh.
 *
 *   npx tsx scripts/base-image.ts [--force]
 *
 * Exit codes: 0, 1 failure, 2 bad usage.
 */
import { join } from 'node:path';
import { command, isMain, runMain, scriptDeps } from '../platform/cli.ts';
import { makeBaseImage } from '../tools/containers/base-image.ts';
import { imageSize, preparePodman } from '../tools/containers/podman.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx scripts/base-image.ts',
  summary: `Make docker.io/library/node:<version>-bookworm-slim (and debian:bookworm-slim),
the base image serving/Dockerfile names, in the podman store under
~/.cache/gitops-ml/containers, from Debian packages and the npm registry, unless
it is there from the same recipe. Run by scripts/setup.d/76-node-base-image.sh.`,
  options: { force: { type: 'boolean', default: false, help: 'make both again' } },
  notes: `environment:
  GITOPS_ML_DEBIAN_MIRROR  the Debian mirror (default: http://deb.debian.org)
  GITOPS_ML_CACHE          the cache folder (default: ~/.cache/gitops-ml)

It prints each image's size, the Node, npm, corepack and yarn versions, and the store.`,
} as const;

export const main = command(
  COMMAND,
  async ({ values }, deps: { print?: (text: string) => void; env?: Record<string, string | undefined> }) => {
    const d = scriptDeps(deps);
    const log = (line: string) => d.print(`${line}\n`);
    const podman = await preparePodman(d.env);
    const started = performance.now();
    const r = await makeBaseImage({
      podman,
      root: join(import.meta.dirname, '..'),
      env: d.env,
      log,
      force: values.force,
    });
    const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
    log(
      `${r.base.image}${r.cached.node ? ' (cached)' : ''}: ${mb(await imageSize(podman, r.base.image))}` +
        ` (Node ${r.versions.node}, npm ${r.versions.npm}, corepack ${r.versions.corepack}, yarn ${r.versions.yarn});` +
        ` ${r.debianImage}${r.cached.debian ? ' (cached)' : ''}: ${mb(await imageSize(podman, r.debianImage))};` +
        ` ${((performance.now() - started) / 1000).toFixed(1)} s, store ${podman.paths.graphroot} (${podman.driver})`,
    );
    return 0;
  },
);

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
