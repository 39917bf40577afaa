import { describe, expect, it } from '@jest/globals';
import { findDuplicateKey, jsonPointer, lineColumnOf, parseJsonText } from './json-text.ts';

describe('parseJsonText', () => {
  it('parses valid JSON, strings with escapes and nested arrays included', () => {
    const text = '{"a": [1, {"b": "x\\"}y"}, []], "c": {"a": 1}, "d\\u0041": null}';
    expect(parseJsonText(text, 'f.json')).toEqual(JSON.parse(text));
  });

  it('finds a duplicate key with its path and position, escapes and nesting included', () => {
    const text = '{\n  "models": {\n    "m": {"versions": {"1": {}, "2": [1, {"x": 1, "x": 2}]}}\n  }\n}';
    expect(findDuplicateKey(text)).toEqual({
      path: ['models', 'm', 'versions', '2', '1'],
      key: 'x',
      offset: text.lastIndexOf('"x"'),
    });
    expect(findDuplicateKey('{"a\\u0062": 1, "ab": 2}')?.key).toBe('ab');
    expect(findDuplicateKey('{"a": 1, "b": {"a": 2}}')).toBeUndefined();
    expect(() => parseJsonText(text, 'f.json')).toThrow(
      /^f\.json:3:51: duplicate key "x" in \/models\/m\/versions\/2\/1/,
    );
  });

  it('names file, line and column of a syntax error and says how to restore', () => {
    expect(() => parseJsonText('{\n  "a": 1\n  "b": 2\n}', 'models.lock.json')).toThrow(
      expect.objectContaining({
        code: 'INVALID',
        message: expect.stringMatching(
          /^models\.lock\.json:3:3: not valid JSON .*\n {2}→ .*git checkout -- models\.lock\.json/,
        ),
      }),
    );
  });

  it('escapes JSON pointer segments and counts lines from 1', () => {
    expect(jsonPointer(['a/b', 'c~d'])).toBe('/a~1b/c~0d');
    expect(lineColumnOf('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
