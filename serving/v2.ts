/**
 * The Open Inference Protocol (KServe V2) REST API over the served model:
 * server and model health, metadata, and inference on FP32 tensors shaped
 * `[N, height, width, channels]` (the preprocessed input), or on a BYTES
 * input `image` of shape `[N]` holding base64 PNG or JPEG files (decoded and
 * preprocessed here, as /predict does; KServe's form for image models).
 * Errors use the protocol's `{"error": "<message>"}` body.
 *
 * @see https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol
 * @see https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
 */
import { compileValidator, ProjectError } from '../platform/index.ts';

/** Inference Request JSON Object. */
export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: {
    name: string;
    shape: number[];
    datatype: string;
    parameters?: Record<string, unknown>;
    data: unknown[];
  }[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
}

/** Tensor data types of the protocol. */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

const parameters = { type: 'object' };

/** JSON Schema of the Inference Request JSON Object, as the protocol defines it. */
export const inferRequestSchema = {
  type: 'object',
  required: ['inputs'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    parameters,
    inputs: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype', 'data'],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
          datatype: { enum: DATATYPES },
          parameters,
          data: { type: 'array' },
        },
      },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, parameters },
      },
    },
  },
} as const;

export const validateInferRequest = compileValidator<InferRequest>(inferRequestSchema);

export const INPUT_NAME = 'input';
/** The BYTES input of encoded images (base64 PNG or JPEG, one per element). */
export const IMAGE_INPUT_NAME = 'image';
export const OUTPUT_NAME = 'probabilities';
/** The BYTES output of each image's most probable label. */
export const LABEL_OUTPUT_NAME = 'label';
const OUTPUT_NAMES: readonly string[] = [OUTPUT_NAME, LABEL_OUTPUT_NAME];

/** Flatten row-major data (flat or nested), checking every element is a finite number. */
export function flattenFp32(data: unknown[], what: string, expected: number): Float32Array {
  const out = new Float32Array(expected);
  let n = 0;
  const walk = (v: unknown, depth: number): void => {
    if (Array.isArray(v)) {
      if (depth > 8) throw new ProjectError('INVALID', `${what} data is nested more than 8 levels deep`);
      for (const x of v) walk(x, depth + 1);
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ProjectError(
        'INVALID',
        `${what} data[${n}] is ${JSON.stringify(v)}, not a finite number (FP32 tensors hold numbers; NaN and Infinity are refused)`,
        { subject: what },
      );
    }
    if (n < expected) out[n] = v;
    n++;
  };
  walk(data, 0);
  if (n !== expected) {
    throw new ProjectError('INVALID', `${what} has ${n} data elements, but its shape needs ${expected}`, {
      subject: what,
    });
  }
  return out;
}

/** The one input of an infer request, with only outputs the model has asked for. */
function singleInput(req: InferRequest): InferRequest['inputs'][number] {
  if (req.inputs.length !== 1) {
    throw new ProjectError(
      'INVALID',
      `the model takes one input ("${INPUT_NAME}" FP32, or "${IMAGE_INPUT_NAME}" BYTES), the request has ${req.inputs.length}`,
    );
  }
  for (const o of req.outputs ?? []) {
    if (!OUTPUT_NAMES.includes(o.name)) {
      throw new ProjectError(
        'INVALID',
        `the model has no output "${o.name}" (outputs: ${OUTPUT_NAMES.map((n) => `"${n}"`).join(', ')})`,
      );
    }
  }
  return req.inputs[0]!;
}

/** True when the request sends encoded images (a BYTES input) rather than a preprocessed tensor. */
export const sendsImages = (req: InferRequest): boolean => req.inputs[0]?.datatype === 'BYTES';

/**
 * The encoded images of a BYTES input of shape `[N]`, 1 <= N <= maxBatch,
 * each element a base64 PNG or JPEG (a `data:` prefix allowed), with the name
 * each image's errors use.
 */
export function imageInputs(
  req: InferRequest,
  maxBatch: number,
  decode: (base64: string, what: string) => Uint8Array,
): { images: Uint8Array[]; sources: string[] } {
  const input = singleInput(req);
  const what = `input "${input.name}"`;
  const { shape, data } = input;
  if (shape.length !== 1 || shape[0] !== data.length || data.length < 1) {
    throw new ProjectError(
      'INVALID',
      `${what} has shape ${JSON.stringify(shape)} and ${data.length} data elements; a BYTES input of images has shape [N] with N elements, N >= 1`,
      { subject: what },
    );
  }
  if (data.length > maxBatch) {
    throw new ProjectError(
      'TOO_LARGE',
      `${what} has ${data.length} images, over the limit of ${maxBatch} per request`,
    );
  }
  const sources = data.map((_, i) => `${what} data[${i}]`);
  const images = data.map((v, i) => {
    if (typeof v !== 'string') {
      throw new ProjectError(
        'INVALID',
        `${sources[i]} is ${JSON.stringify(v)}, not a base64 string of a PNG or JPEG file`,
        {
          subject: what,
        },
      );
    }
    return decode(v, sources[i]!);
  });
  return { images, sources };
}

/**
 * Check an infer request against the model: one FP32 input of shape
 * `[N, height, width, channels]`, 1 <= N <= maxBatch, only the
 * `probabilities` output requested. Returns the N per-image inputs.
 */
export function tensorInputs(
  req: InferRequest,
  model: { height: number; width: number; channels: number },
  maxBatch: number,
): Float32Array[] {
  const input = singleInput(req);
  const what = `input "${input.name}"`;
  if (input.datatype !== 'FP32') {
    throw new ProjectError(
      'INVALID',
      `${what} has datatype ${input.datatype}; the model takes FP32 (the preprocessed tensor) or BYTES (encoded images)`,
    );
  }
  const want = [model.height, model.width, model.channels];
  const { shape } = input;
  if (shape.length !== 4 || want.some((d, i) => shape[i + 1] !== d) || shape[0]! < 1) {
    throw new ProjectError(
      'INVALID',
      `${what} has shape ${JSON.stringify(shape)}; the model takes [N,${want.join(',')}] with N >= 1`,
      { subject: what },
    );
  }
  const n = shape[0]!;
  if (n > maxBatch) {
    throw new ProjectError('TOO_LARGE', `${what} has ${n} images, over the limit of ${maxBatch} per request`);
  }
  const size = model.height * model.width * model.channels;
  const flat = flattenFp32(input.data, what, n * size);
  return Array.from({ length: n }, (_, i) => flat.slice(i * size, (i + 1) * size));
}

/**
 * The answer's outputs: `probabilities` FP32 [N, labels] and `label` BYTES
 * [N] (each image's most probable label), or those the request names.
 */
export function inferOutputs(req: InferRequest, outputs: Float32Array[], labels: readonly string[]) {
  const data: number[] = [];
  const top: string[] = [];
  for (const p of outputs) {
    let best = 0;
    for (let i = 0; i < p.length; i++) {
      data.push(p[i]!);
      if (p[i]! > p[best]!) best = i;
    }
    top.push(labels[best] ?? '');
  }
  const all = [
    { name: OUTPUT_NAME, datatype: 'FP32', shape: [outputs.length, labels.length], data },
    { name: LABEL_OUTPUT_NAME, datatype: 'BYTES', shape: [outputs.length], data: top },
  ];
  const asked = req.outputs?.map((o) => o.name);
  return asked?.length ? all.filter((o) => asked.includes(o.name)) : all;
}
