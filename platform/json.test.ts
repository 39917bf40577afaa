import { describe, expect, it } from '@jest/globals';
import { stableStringify } from './json.ts';

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
