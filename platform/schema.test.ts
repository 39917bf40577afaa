import { describe, expect, it } from '@jest/globals';
import { ProjectError } from './errors.ts';
import { compileValidator } from './schema.ts';

const validate = compileValidator<{ name: string; epochs: number }>({
  type: 'object',
  additionalProperties: false,
  required: ['name', 'epochs'],
  properties: { name: { type: 'string' }, epochs: { type: 'integer', minimum: 1 } },
});

describe('compileValidator', () => {
  it('returns a valid value', () => {
    expect(validate({ name: 'a', epochs: 2 }, 'cfg.json')).toEqual({ name: 'a', epochs: 2 });
  });
  it('names every offending field in one error', () => {
    let err: unknown;
    try {
      validate({ epochs: 'ten', colour: 'red' }, 'cfg.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProjectError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^cfg\.json is invalid:/);
    expect(msg).toContain('/: missing required field "name"');
    expect(msg).toContain('/: unknown field "colour"');
    expect(msg).toContain('/epochs: must be integer');
  });
});
