import { describe, expect, it } from '@jest/globals';
import { ProjectError } from './errors.ts';
import { parseNamedJson, stableStringify } from './json.ts';

describe('stableStringify', () => {
  it('sorts keys at every depth, keeps array order, ends with a newline', () => {
    const a = stableStringify({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } });
    expect(a).toBe(
      '{\n  "a": {\n    "c": null,\n    "d": [\n      3,\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n',
    );
  });
  it('gives the same bytes whatever the insertion order', () => {
    expect(stableStringify({ x: 1, y: 2 })).toBe(stableStringify({ y: 2, x: 1 }));
  });
  it('drops undefined fields', () => {
    expect(stableStringify({ a: undefined, b: 1 })).toBe('{\n  "b": 1\n}\n');
  });
});

describe('parseNamedJson', () => {
  it('parses JSON text', () => {
    expect(parseNamedJson('{"a":[1,2]}', 'x.json')).toEqual({ a: [1, 2] });
  });
  it('names the text, its subject and the hint when it is not JSON', () => {
    let err: unknown;
    try {
      parseNamedJson('{"a":', 'labels.json of artifact s3://b/m', {
        subject: 'labels.json',
        hint: 'train again',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProjectError);
    const e = err as ProjectError;
    expect(e.code).toBe('INVALID');
    expect(e.message).toMatch(
      /^labels\.json of artifact s3:\/\/b\/m is not valid JSON: .+\n {2}→ train again$/,
    );
    expect(e.subject).toBe('labels.json');
    expect(e.cause).toBeInstanceOf(SyntaxError);
  });
  it('takes `what` as the subject by default', () => {
    expect(() => parseNamedJson('nope', 'golden.json')).toThrow(
      expect.objectContaining({ subject: 'golden.json', hint: undefined }),
    );
  });
});
