/**
 * Test helpers for the native TensorFlow backend: the requirement (set up by
 * scripts/setup.d/70-tfjs-native.sh; required in CI) and the comparison the
 * agreement tests make between backends.
 */
import { expect } from '@jest/globals';
import { nativeManifestOf } from '../model/backend.ts';
import { needs, requirement } from './services.ts';

/** The set-up step that builds the CPU native backend. */
export const NATIVE_SETUP = 'bash scripts/setup.d/70-tfjs-native.sh';

/** `it` for a test that needs @tensorflow/tfjs-node set up: skipped with the step to run, a failure in CI. */
export const itNative = needs(
  requirement(
    'the native backend',
    nativeManifestOf('@tensorflow/tfjs-node') !== undefined ? '@tensorflow/tfjs-node' : undefined,
    `run ${NATIVE_SETUP}`,
  ),
).it;

/** The largest element-wise difference of two equally long arrays (their lengths are asserted equal). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}
