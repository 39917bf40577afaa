// Jest's node environment with every typed array constructor taken from Node's
// own realm, as jest-environment-node already does for Uint8Array and
// ArrayBuffer. The native tfjs backend (@tensorflow/tfjs-node) is a Node-API
// addon: Jest loads it once per worker in Node's realm, so the Float32Array
// and Int32Array it returns (tensor.dataSync()) come from there, and tfjs's
// `x instanceof Float32Array` checks in the test's realm would reject them
// ("Unsupported TypedArray subtype: Float32Array"). Outside Jest there is one
// realm and nothing to do.
import { TestEnvironment } from 'jest-environment-node';

const SHARED = [
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
];

export default class SharedTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}
