import { describe, expect, test } from '@jest/globals';
import { isProjectError, type ProjectError } from '../platform/errors.ts';
import { parseObjects } from './objects.ts';

const fail = (text: string): ProjectError => {
  try {
    parseObjects(text, 'kustomize build environments/dev');
  } catch (e) {
    if (isProjectError(e)) return e;
    throw e;
  }
  throw new Error('parsed, an error was expected');
};

describe('parseObjects', () => {
  test('reads every document, typed head, metadata defaulted', () => {
    const objects = parseObjects(
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n---\napiVersion: v1\nkind: Namespace\n',
      'x',
    );
    expect(objects.map((o) => [o.kind, o.metadata])).toEqual([
      ['Service', { name: 's' }],
      ['Namespace', {}],
    ]);
  });

  test('a head that is not as Kubernetes has it is INVALID, naming the document and the field', () => {
    const err = fail(
      'apiVersion: v1\nkind: Service\n---\napiVersion: 1\nkind: Service\nmetadata:\n  annotations:\n    a: [1]\n',
    );
    expect(err.code).toBe('INVALID');
    expect(err.message).toBe(
      'kustomize build environments/dev: document 2: /apiVersion: must be string; /metadata/annotations/a: must be string',
    );
  });

  test('YAML that does not parse is INVALID and keeps the parser error as its cause', () => {
    const err = fail('a: [1\n');
    expect(err.message).toMatch(/^kustomize build environments\/dev: not valid YAML \(/);
    expect((err.cause as Error).name).toBe('YAMLParseError');
  });
});
