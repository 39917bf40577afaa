import { describe, expect, it } from '@jest/globals';
import { maxProbabilityDiff, multipartBody, readAnswer, requestOf } from './protocols.ts';

const PNG = new Uint8Array([137, 80, 78, 71]);
const LABELS = ['circle', 'cross', 'square'];

describe('bench/peer protocols', () => {
  it('builds a multipart body with one "image" file part (RFC 7578)', () => {
    const { body, contentType } = multipartBody(new Uint8Array([1, 2, 3]), 'b0');
    expect(contentType).toBe('multipart/form-data; boundary=b0');
    const text = body.toString('latin1');
    expect(
      text.startsWith('--b0\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\n'),
    ).toBe(true);
    expect(text.endsWith('\r\n\u0001\u0002\u0003\r\n--b0--\r\n')).toBe(true);
  });

  it("sends the PNG base64 in KServe's v1 image form", () => {
    const r = requestOf('v1', 'demo-classifier', PNG);
    expect(r.path).toBe('/v1/models/demo-classifier:predict');
    expect(r.contentType).toBe('application/json');
    expect(JSON.parse(r.body.toString())).toEqual({ instances: [{ image: { b64: 'iVBORw==' } }] });
  });

  it('sends exactly the v2 body of issue 26.1: one BYTES input "image", shape [1]', () => {
    const r = requestOf('v2', 'demo-classifier', PNG);
    expect(r.path).toBe('/v2/models/demo-classifier/infer');
    expect(r.body.toString()).toBe(
      '{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["iVBORw=="]}]}',
    );
  });

  it('reads the top-1 and probabilities of each route', () => {
    const top = [
      { label: 'square', probability: 0.9 },
      { label: 'circle', probability: 0.08 },
    ];
    const expected = { top1: 'square', probabilities: { square: 0.9, circle: 0.08 } };
    expect(readAnswer('predict', JSON.stringify({ predictions: top }), LABELS, 'x')).toEqual(expected);
    expect(readAnswer('v1', JSON.stringify({ predictions: [top] }), LABELS, 'x')).toEqual(expected);
    const v2 = {
      model_name: 'demo-classifier',
      model_version: 'v1',
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [1, 3], data: [0.08, 0.02, 0.9] },
        { name: 'label', datatype: 'BYTES', shape: [1], data: ['square'] },
      ],
    };
    expect(readAnswer('v2', JSON.stringify(v2), LABELS, 'x')).toEqual({
      top1: 'square',
      probabilities: { circle: 0.08, cross: 0.02, square: 0.9 },
    });
  });

  it('names the route and shows the body when an answer is not of its form', () => {
    expect(() => readAnswer('v2', '{"error":"no"}', LABELS, 'kserve (v2) POST /v2/models/m/infer')).toThrow(
      'kserve (v2) POST /v2/models/m/infer: not a v2 answer: {"error":"no"}',
    );
    expect(() => readAnswer('predict', 'Not Found', LABELS, 'fastapi')).toThrow(
      'fastapi: not a predict answer: Not Found',
    );
  });

  it('compares probabilities over the classes both answers carry', () => {
    const a = { top1: 'square', probabilities: { square: 0.9, circle: 0.08 } };
    const b = { top1: 'square', probabilities: { square: 0.85, circle: 0.1, cross: 0.05 } };
    expect(maxProbabilityDiff(a, b)).toBeCloseTo(0.05);
  });
});
