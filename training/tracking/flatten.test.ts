import { describe, expect, it } from '@jest/globals';
import { flattenParams, MAX_PARAM_VALUE_LENGTH } from './flatten.ts';

describe('flattenParams', () => {
  it('flattens nested config into dotted keys with string values', () => {
    expect(
      flattenParams({
        model: { layers: [32, 64], dropout: 0.2, name: 'cnn' },
        epochs: 10,
        augment: { flip: true },
        x: null,
      }),
    ).toEqual({
      'model.layers': '[32,64]',
      'model.dropout': '0.2',
      'model.name': 'cnn',
      epochs: '10',
      'augment.flip': 'true',
      x: 'null',
    });
  });

  it('cuts values MLflow would refuse, with a marker', () => {
    const v = flattenParams({ long: 'x'.repeat(10_000) }).long!;
    expect(v).toHaveLength(MAX_PARAM_VALUE_LENGTH);
    expect(v.endsWith('...[truncated]')).toBe(true);
  });
});
