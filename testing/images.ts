/**
 * Test helper: what the image tests need before they run (tools/containers/images.ts
 * builds the images): podman, and the base image the set-up made.
 */
import { existsSync } from 'node:fs';
import { runSync } from '../platform/shell.ts';
import { BASE_IMAGE_SETUP_STEP, baseImageOf, DOCKERFILE } from '../tools/containers/images.ts';
import { findPodman, PODMAN_SETUP_STEP, podmanPaths } from '../tools/containers/podman.ts';
import { type Requirement, requirement } from './services.ts';

const BASE_STEP = `run \`bash ${BASE_IMAGE_SETUP_STEP}\` (makes the base image from Debian and npm packages)`;

/** podman and runc (scripts/setup.d/75-podman.sh). */
export const podmanInstalled = (): Requirement =>
  requirement('podman (with runc)', findPodman(), `run \`bash ${PODMAN_SETUP_STEP}\``);

/**
 * The base image of serving/Dockerfile in the project's podman store
 * (scripts/setup.d/76-node-base-image.sh): decided when the test file loads.
 */
export function baseImageMade(dockerfile = DOCKERFILE): Requirement {
  const base = baseImageOf(dockerfile);
  const podman = findPodman();
  const paths = podmanPaths();
  let found: string | undefined;
  if (podman && existsSync(paths.containersConf) && existsSync(paths.storageConf)) {
    const env = {
      ...process.env,
      CONTAINERS_CONF: paths.containersConf,
      CONTAINERS_STORAGE_CONF: paths.storageConf,
      CONTAINERS_REGISTRIES_CONF: paths.registriesConf,
    };
    const r = runSync(podman, ['image', 'exists', base], { env, nothrow: true, timeoutMs: 60_000 });
    if (r.code === 0) found = `${base} in ${paths.graphroot}`;
  }
  return requirement(`the base image ${base}`, found, BASE_STEP);
}
