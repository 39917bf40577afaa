/**
 * The routes the peer benchmark drives, each with its request (the same PNG,
 * in the form the route takes) and a reader of its answer:
 *
 * - `predict`: `POST /predict`, multipart/form-data with a file field
 *   "image" (RFC 7578), answering `{"predictions": [{"label",
 *   "probability"}, ...top k]}`: this server, the FastAPI and LitServe peers;
 * - `v1`: KServe's v1 protocol, `POST /v1/models/<name>:predict` with
 *   `{"instances": [{"image": {"b64": "<base64 PNG>"}}]}` (TensorFlow Serving's
 *   binary form, KServe's documented image input), answering
 *   `{"predictions": [[{"label", "probability"}, ...]]}`;
 * - `v2`: the Open Inference Protocol, `POST /v2/models/<name>/infer` with one
 *   BYTES input "image" holding the base64 PNG, answering the outputs
 *   "probabilities" (FP32, `[1, classes]`) and "label" (BYTES, `[1]`).
 *
 * @see https://www.tensorflow.org/tfx/serving/api_rest#encoding_binary_values
 * @see https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
 */
import { ProjectError } from '../../platform/index.ts';

export type Protocol = 'predict' | 'v1' | 'v2';

/** One request as the load generator sends it, again and again. */
export interface Request {
  path: string;
  body: Buffer;
  contentType: string;
}

/** What the agreement check reads from any answer: the top-1 and the probabilities the answer carries. */
export interface Answer {
  top1: string;
  probabilities: Record<string, number>;
}

/** How each route is named in the tables. */
export const ROUTE_OF: Record<Protocol, (model: string) => string> = {
  predict: () => 'POST /predict, multipart PNG',
  v1: (model) => `POST /v1/models/${model}:predict, JSON {"instances":[{"image":{"b64":...}}]}`,
  v2: (model) => `POST /v2/models/${model}/infer, JSON BYTES input "image" (base64 PNG)`,
};

/** The request of `protocol` carrying `png`, for the model named `model`. */
export function requestOf(protocol: Protocol, model: string, png: Uint8Array): Request {
  const b64 = Buffer.from(png).toString('base64');
  const json = (path: string, value: unknown): Request => ({
    path,
    body: Buffer.from(JSON.stringify(value)),
    contentType: 'application/json',
  });
  switch (protocol) {
    case 'predict':
      return { path: '/predict', ...multipartBody(png) };
    case 'v1':
      return json(`/v1/models/${encodeURIComponent(model)}:predict`, {
        instances: [{ image: { b64 } }],
      });
    case 'v2':
      return json(`/v2/models/${encodeURIComponent(model)}/infer`, {
        inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [b64] }],
      });
  }
}

/** A multipart/form-data body with one file field `image` (RFC 7578), fixed boundary. */
export function multipartBody(
  png: Uint8Array,
  boundary = 'peer-bench-boundary',
): { body: Buffer; contentType: string } {
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    body: Buffer.concat([head, Buffer.from(png), tail]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

type Prediction = { label: string; probability: number };
const fromPredictions = (p: Prediction[] | undefined): Answer | undefined =>
  Array.isArray(p) && p.length && typeof p[0]?.label === 'string'
    ? { top1: p[0].label, probabilities: Object.fromEntries(p.map((q) => [q.label, q.probability])) }
    : undefined;

/** The v2 answer's outputs "label" and "probabilities" (in `labels` order). */
function fromV2(body: { outputs?: { name: string; data?: unknown[] }[] }, labels: readonly string[]) {
  const out = (name: string) => body.outputs?.find((o) => o.name === name)?.data;
  const label = out('label')?.[0];
  const probs = out('probabilities');
  if (typeof label !== 'string' || !probs || probs.length !== labels.length) return undefined;
  return { top1: label, probabilities: Object.fromEntries(labels.map((l, i) => [l, Number(probs[i])])) };
}

/**
 * The answer of `protocol` in `text` (`labels`: the artifact's labels.json,
 * the order of a v2 "probabilities" output). Throws naming `where` when the
 * answer is not of that form.
 */
export function readAnswer(
  protocol: Protocol,
  text: string,
  labels: readonly string[],
  where: string,
): Answer {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const b = (body ?? {}) as { predictions?: unknown[] };
  const answer =
    protocol === 'predict'
      ? fromPredictions(b.predictions as Prediction[])
      : protocol === 'v1'
        ? fromPredictions(b.predictions?.[0] as Prediction[])
        : fromV2(body as Parameters<typeof fromV2>[0], labels);
  if (!answer) {
    throw new ProjectError('INVALID', `${where}: not a ${protocol} answer: ${text.slice(0, 300)}`);
  }
  return answer;
}

/** The largest difference between two answers' probabilities, over the classes both carry. */
export function maxProbabilityDiff(a: Answer, b: Answer): number {
  const shared = Object.keys(a.probabilities).filter((l) => l in b.probabilities);
  return Math.max(0, ...shared.map((l) => Math.abs(a.probabilities[l]! - b.probabilities[l]!)));
}
