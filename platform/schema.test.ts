import { describe, expect, it } from '@jest/globals';
import { ProjectError } from './errors.ts';
import { compileValidator, setVariables } from './schema.ts';

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

describe('setVariables', () => {
  const env = { A: '1', B: '', C: undefined, D_X: 'x', D_Y: 'y', E: '2' };
  it('keeps the named variables that are set, an empty one counting as unset', () => {
    expect(setVariables(env, ['A', 'B', 'C', 'E', 'F'])).toEqual({ A: '1', E: '2' });
  });
  it('keeps the variables a test of their name takes', () => {
    expect(setVariables(env, (k) => k.startsWith('D_'))).toEqual({ D_X: 'x', D_Y: 'y' });
  });
});
