import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';
import { clientError } from './routes/middleware.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;

beforeAll(async () => {
  fixture = await tempFixture();
  s = await startTestServer(fixture);
});
afterAll(async () => {
  await s?.close();
  await fixture?.cleanup();
});

const png = shapePng('circle');

async function post(path: string, body: BodyInit, type?: string) {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    body,
    ...(type ? { headers: { 'content-type': type } } : {}),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

describe('POST /predict', () => {
  test('raw image/png body answers top-k with model and version', async () => {
    const r = await post('/predict', png, 'image/png');
    expect(r.status).toBe(200);
    expect(r.json.model).toBe('demo-classifier');
    expect(r.json.version).toBe(fixture.pin.version);
    expect(typeof r.json.request_id).toBe('string');
    const preds = r.json.predictions as { label: string; probability: number }[];
    expect(preds).toHaveLength(3);
    expect(preds[0]!.probability).toBeGreaterThanOrEqual(preds[1]!.probability);
  });

  test('?k=4 gives all labels and the probabilities sum to 1', async () => {
    const r = await post('/predict?k=4', png, 'image/png');
    const preds = r.json.predictions as { label: string; probability: number }[];
    expect(preds.map((p) => p.label).sort()).toEqual(['circle', 'cross', 'square', 'triangle']);
    expect(preds.reduce((a, p) => a + p.probability, 0)).toBeCloseTo(1, 5);
  });

  test('multipart field "image" gives the same answer as the raw body', async () => {
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), 'circle.png');
    const a = await post('/predict?k=4', form);
    const b = await post('/predict?k=4', png, 'image/png');
    expect(a.status).toBe(200);
    expect(a.json.predictions).toEqual(b.json.predictions);
  });

  test('JSON {"images": [...]} answers one list per image', async () => {
    const images = (['circle', 'square', 'triangle'] as const).map((sh) =>
      Buffer.from(shapePng(sh)).toString('base64'),
    );
    const r = await post('/predict?k=2', JSON.stringify({ images }), 'application/json');
    expect(r.status).toBe(200);
    const preds = r.json.predictions as unknown[][];
    expect(preds).toHaveLength(3);
    for (const p of preds) expect(p).toHaveLength(2);
  });

  test('the same image gives the same probabilities alone and in a batch', async () => {
    const alone = await post('/predict?k=4', png, 'image/png');
    const b64 = Buffer.from(png).toString('base64');
    const other = Buffer.from(shapePng('cross')).toString('base64');
    const batch = await post('/predict?k=4', JSON.stringify({ images: [other, b64] }), 'application/json');
    const a = alone.json.predictions as { label: string; probability: number }[];
    const b = (batch.json.predictions as { label: string; probability: number }[][])[1]!;
    expect(b.map((p) => p.label)).toEqual(a.map((p) => p.label));
    b.forEach((p, i) => {
      expect(p.probability).toBeCloseTo(a[i]!.probability, 5);
    });
  });
});

describe('Open Inference Protocol v2', () => {
  const zeros = (n: number) => new Array(n * 16 * 16).fill(0.5);

  test('health, server and model metadata', async () => {
    expect((await fetch(`${s.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${s.url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${s.url}/v2/models/demo-classifier/ready`)).status).toBe(200);
    const meta = (await (await fetch(`${s.url}/v2/models/demo-classifier`)).json()) as Record<
      string,
      unknown
    >;
    expect(meta).toMatchObject({
      name: 'demo-classifier',
      versions: [fixture.pin.version],
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16, 16, 1] }],
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 4] },
        { name: 'label', datatype: 'BYTES', shape: [-1] },
      ],
    });
    const server = (await (await fetch(`${s.url}/v2`)).json()) as Record<string, unknown>;
    expect(server).toHaveProperty('extensions');
  });

  test('infer with flat data answers [N, labels] probabilities', async () => {
    const body = {
      id: 'abc',
      inputs: [{ name: 'input', shape: [2, 16, 16, 1], datatype: 'FP32', data: zeros(2) }],
    };
    const r = await post('/v2/models/demo-classifier/infer', JSON.stringify(body), 'application/json');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      model_name: 'demo-classifier',
      model_version: fixture.pin.version,
      id: 'abc',
    });
    const [out] = r.json.outputs as { name: string; datatype: string; shape: number[]; data: number[] }[];
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 4] });
    expect(out!.data).toHaveLength(8);
    expect(out!.data.slice(0, 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  test('nested data equals flat data, and the versioned route works', async () => {
    const flat = zeros(1).map((_, i) => (i % 7) / 7);
    const nested = [
      Array.from({ length: 16 }, (_, y) => Array.from({ length: 16 }, (_, x) => [flat[y * 16 + x]])),
    ];
    const a = await post(
      '/v2/models/demo-classifier/infer',
      JSON.stringify({ inputs: [{ name: 'input', shape: [1, 16, 16, 1], datatype: 'FP32', data: flat }] }),
      'application/json',
    );
    const b = await post(
      `/v2/models/demo-classifier/versions/${fixture.pin.version}/infer`,
      JSON.stringify({ inputs: [{ name: 'input', shape: [1, 16, 16, 1], datatype: 'FP32', data: nested }] }),
      'application/json',
    );
    expect(b.status).toBe(200);
    expect((b.json.outputs as { data: number[] }[])[0]!.data).toEqual(
      (a.json.outputs as { data: number[] }[])[0]!.data,
    );
  });
});

describe('Open Inference Protocol v2: encoded images (BYTES input "image")', () => {
  const b64 = (sh: Parameters<typeof shapePng>[0]) => Buffer.from(shapePng(sh)).toString('base64');
  const infer = (input: Record<string, unknown>) =>
    post('/v2/models/demo-classifier/infer', JSON.stringify({ inputs: [input] }), 'application/json');

  test('base64 PNGs answer the same probabilities as /predict gives for them', async () => {
    const shapes = ['circle', 'cross'] as const;
    const r = await infer({ name: 'image', datatype: 'BYTES', shape: [2], data: shapes.map(b64) });
    expect(r.status).toBe(200);
    const [out] = r.json.outputs as { name: string; datatype: string; shape: number[]; data: number[] }[];
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 4] });
    const labels = ['circle', 'cross', 'square', 'triangle']; // the fixture's label order
    for (const [i, sh] of shapes.entries()) {
      const p = await post('/predict?k=4', shapePng(sh), 'image/png');
      for (const { label, probability } of p.json.predictions as { label: string; probability: number }[]) {
        expect(out!.data[i * 4 + labels.indexOf(label)]).toBeCloseTo(probability, 5);
      }
    }
    // Each image's most probable label as the BYTES output "label", as KServe's image models answer.
    const label = (r.json.outputs as { name: string; data: string[] }[])[1]!;
    expect(label).toMatchObject({ name: 'label', datatype: 'BYTES', shape: [2] });
    expect(label.data).toEqual(
      await Promise.all(
        shapes.map(
          async (sh) =>
            ((await post('/predict', shapePng(sh), 'image/png')).json.predictions as { label: string }[])[0]!
              .label,
        ),
      ),
    );
    // Asked for one output, the answer has that one.
    const only = await post(
      '/v2/models/demo-classifier/infer',
      JSON.stringify({
        inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [b64('circle')] }],
        outputs: [{ name: 'label' }],
      }),
      'application/json',
    );
    expect((only.json.outputs as { name: string }[]).map((o) => o.name)).toEqual(['label']);
    // The metadata names this second form of input.
    const meta = (await (await fetch(`${s.url}/v2/models/demo-classifier`)).json()) as {
      parameters: Record<string, unknown>;
    };
    expect(meta.parameters.image_input).toMatchObject({ name: 'image', datatype: 'BYTES', shape: [-1] });
  });

  test('a shape that does not match, a non-string, bad base64 or a non-image are 400 naming the element', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { name: 'image', datatype: 'BYTES', shape: [2], data: [b64('circle')] },
        'has shape [2] and 1 data elements',
      ],
      [
        { name: 'image', datatype: 'BYTES', shape: [1], data: [7] },
        'input "image" data[0] is 7, not a base64 string',
      ],
      [
        { name: 'image', datatype: 'BYTES', shape: [1], data: ['%%%'] },
        'input "image" data[0] is not base64',
      ],
      [
        { name: 'image', datatype: 'BYTES', shape: [1], data: [Buffer.from('hello').toString('base64')] },
        'input "image" data[0]',
      ],
      [
        { name: 'image', datatype: 'INT8', shape: [1], data: [1] },
        'the model takes FP32 (the preprocessed tensor) or BYTES',
      ],
    ];
    for (const [input, message] of cases) {
      const r = await infer(input);
      expect(r.status).toBe(400);
      expect(String(r.json.error)).toContain(message);
    }
    const many = Array.from({ length: 65 }, () => b64('circle'));
    const big = await infer({ name: 'image', datatype: 'BYTES', shape: [65], data: many });
    expect(big.status).toBe(413);
  });
});

describe('health and metrics', () => {
  test('/healthz and /readyz', async () => {
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const r = await fetch(`${s.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ready: true, model: 'demo-classifier', version: fixture.pin.version });
  });

  test('/metrics exposes the contract metrics with route patterns, never raw paths', async () => {
    await post('/predict', png, 'image/png');
    await fetch(`${s.url}/v2/models/demo-classifier`);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    for (const name of [
      'serving_http_requests_total',
      'serving_http_request_duration_seconds_bucket',
      'serving_http_requests_in_flight',
      'serving_inference_duration_seconds_bucket',
      'serving_inference_batch_size_bucket',
      'serving_inference_queue_depth',
      'serving_inference_queue_capacity 256',
      `serving_predictions_total{model="demo-classifier",version="${fixture.pin.version}",class=`,
      'serving_prediction_confidence_bucket',
      `serving_model_info{model="demo-classifier",version="${fixture.pin.version}",sha256="${fixture.pin.sha256}",backend="cpu",execution="layers"} 1`,
      'serving_model_ready 1',
      'serving_drift_enabled 0',
      'serving_drift_prediction_psi',
      'serving_drift_mean_confidence',
      'serving_drift_window_samples',
      'process_cpu_seconds_total',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toContain('serving_http_requests_total{route="/predict",method="POST",code="200"}');
    expect(text).toContain('route="/v2/models/:name",method="GET",code="200"');
    expect(text).not.toContain('route="/v2/models/demo-classifier"');
  });

  test('a request no route took is labelled unmatched; load shed is counted apart (the SLO counts neither)', async () => {
    expect((await fetch(`${s.url}/`, { method: 'PROPFIND' })).status).toBe(501);
    expect((await fetch(`${s.url}/no/such/path`)).status).toBe(404);
    const small = await startTestServer(fixture, { SERVING_QUEUE_CAPACITY: '2' });
    try {
      const images = Array.from({ length: 3 }, () => Buffer.from(png).toString('base64'));
      const shed = await fetch(`${small.url}/predict`, {
        method: 'POST',
        body: JSON.stringify({ images }),
        headers: { 'content-type': 'application/json' },
      });
      expect(shed.status).toBe(503);
      expect(shed.headers.get('retry-after')).toBe('1');
      const bad = await fetch(`${small.url}/predict`, {
        method: 'POST',
        body: 'x',
        headers: { 'content-type': 'image/png' },
      });
      expect(bad.status).toBe(400);
      const text = await (await fetch(`${small.url}/metrics`)).text();
      expect(text).toContain('serving_http_requests_total{route="/predict",method="POST",code="503"} 1');
      expect(text).toMatch(/^serving_http_requests_shed_total 1$/m);
    } finally {
      await small.close();
    }
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toContain('serving_http_requests_total{route="unmatched",method="PROPFIND",code="501"} 1');
    expect(text).toContain('serving_http_requests_total{route="unmatched",method="GET",code="404"}');
    expect(text).toMatch(/^serving_http_requests_shed_total 0$/m);
  });

  test('the page and its model information are served', async () => {
    const html = await (await fetch(`${s.url}/`)).text();
    expect(html).toContain('<script src="/app.js"');
    const info = (await (await fetch(`${s.url}/api/model`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ model: 'demo-classifier', version: fixture.pin.version, backend: 'cpu' });
    expect(info.samples).toEqual(['circle.png', 'cross.png', 'square.png', 'triangle.png']);
    expect((info.evaluation as Record<string, number>).accuracy).toBe(0.25);
    const sample = await fetch(`${s.url}/samples/circle.png`);
    expect(sample.headers.get('content-type')).toBe('image/png');
    expect((await fetch(`${s.url}/samples/..%2Fartifact%2Fmodel.json`)).status).toBe(404);
  });

  test('inference leaves no tensor behind, in the worker thread nor in the main thread', async () => {
    expect(s.model.runner).toBe('worker');
    const before = await s.model.numTensors();
    const mainBefore = tf.memory().numTensors;
    expect(before).toBeGreaterThan(0); // the model's weights live in the worker
    await post('/predict', png, 'image/png');
    expect(await s.model.numTensors()).toBe(before);
    expect(tf.memory().numTensors).toBe(mainBefore);
  });
});

describe('security headers and error text', () => {
  const secure = (h: Headers) => {
    expect(h.get('x-content-type-options')).toBe('nosniff');
    expect(h.get('x-frame-options')).toBe('DENY');
    expect(h.get('referrer-policy')).toBe('no-referrer');
  };

  test('every answer carries them; API answers are not cached and allow no content', async () => {
    for (const res of [
      await fetch(`${s.url}/healthz`),
      await fetch(`${s.url}/metrics`),
      await fetch(`${s.url}/nope`),
      await fetch(`${s.url}/predict`, {
        method: 'POST',
        body: png,
        headers: { 'content-type': 'image/png' },
      }),
      await fetch(`${s.url}/predict`, {
        method: 'POST',
        body: 'x',
        headers: { 'content-type': 'image/png' },
      }),
    ]) {
      secure(res.headers);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    }
  });

  test('the page gets its own CSP, with frame-ancestors', async () => {
    const res = await fetch(`${s.url}/`);
    secure(res.headers);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toMatch(
      /^default-src 'self';.*frame-ancestors 'none'/,
    );
  });

  test('PUT on a known path is 405 with Allow, not 404', async () => {
    const res = await fetch(`${s.url}/predict`, { method: 'PUT', body: '' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('POST');
  });

  test('an unexpected error answers "internal error" with the request id, never its own text', () => {
    const e = new Error('ENOENT: /srv/secret/path/weights.bin');
    expect(clientError(e, 'req-1')).toEqual({
      status: 500,
      message: 'internal error; the server log has the detail under request id req-1',
    });
  });
});

describe('shutdown (last: it cannot be undone)', () => {
  test('beginShutdown turns readiness false on /readyz, /v2/health/ready and serving_model_ready', async () => {
    s.app.serving.lifecycle.beginShutdown();
    expect((await fetch(`${s.url}/readyz`)).status).toBe(503);
    const v2 = await fetch(`${s.url}/v2/health/ready`);
    expect(v2.status).toBe(400);
    expect(await v2.json()).toEqual({ ready: false });
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect(await s.registry.getSingleMetricAsString('serving_model_ready')).toContain(
      'serving_model_ready 0',
    );
  });
});
