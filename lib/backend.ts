import * as tf from '@tensorflow/tfjs';

/** Backend names, fastest first. tfjs-node* are optional native packages. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  /** The tfjs backend name now active (tf.getBackend()). */
  name: string;
  /** The npm package that provided it. */
  package: string;
  /** Why each faster candidate was skipped. */
  skipped: { package: string; reason: string }[];
}

interface Candidate {
  package: string;
  backend: string;
  load: () => Promise<unknown>;
}

const CANDIDATES: Record<BackendName, Candidate> = {
  'tensorflow-gpu': {
    package: '@tensorflow/tfjs-node-gpu',
    backend: 'tensorflow',
    load: () => import('@tensorflow/tfjs-node-gpu' as string),
  },
  tensorflow: {
    package: '@tensorflow/tfjs-node',
    backend: 'tensorflow',
    load: () => import('@tensorflow/tfjs-node' as string),
  },
  wasm: {
    package: '@tensorflow/tfjs-backend-wasm',
    backend: 'wasm',
    load: () => import('@tensorflow/tfjs-backend-wasm'),
  },
  cpu: { package: '@tensorflow/tfjs (pure JS)', backend: 'cpu', load: async () => undefined },
};

/** Training cannot use wasm (no Conv2DBackpropFilter kernel); serving can. */
export const TRAINING_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'cpu'];
export const SERVING_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Pick the fastest backend that loads, in `order`. `force` (e.g. from
 * TRAINING_BACKEND / SERVING_BACKEND) restricts the choice to one name.
 */
export async function selectBackend(order: BackendName[], force?: BackendName): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  const names = force ? [force] : order;
  for (const name of names) {
    const c = CANDIDATES[name];
    try {
      await c.load();
      if (!(await tf.setBackend(c.backend))) throw new Error(`tf.setBackend('${c.backend}') returned false`);
      await tf.ready();
      return { name: tf.getBackend(), package: c.package, skipped };
    } catch (e) {
      skipped.push({ package: c.package, reason: ((e as Error).message ?? String(e)).split('\n')[0] ?? '' });
    }
  }
  throw new Error(
    `no tfjs backend could be loaded: ${skipped.map((s) => `${s.package} (${s.reason})`).join('; ')}`,
  );
}
