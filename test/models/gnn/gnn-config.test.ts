/** The GNN config: defaults, layer widths, and the errors that name what is wrong. */
import { describe, expect, it } from 'vitest';
import { gnnLayers, parseGnnConfig } from '../../../src/models/gnn/gnn-config.js';
import { gnnFamily } from '../../../src/models/gnn/gnn-family.js';

const gat = {
  model_type: 'gnn',
  architecture: 'gat',
  in_features: 10,
  hidden_features: [8],
  num_classes: 3,
  heads: [4, 2],
};

describe('parseGnnConfig', () => {
  it('fills defaults per architecture and derives layer widths', () => {
    const c = parseGnnConfig(gat);
    expect([c.activation, c.negativeSlope]).toEqual(['elu', 0.2]);
    expect(gnnLayers(c)).toEqual([
      { fin: 10, fout: 8, heads: 4, concat: true, last: false },
      { fin: 32, fout: 3, heads: 2, concat: false, last: true },
    ]);
    const gcn = parseGnnConfig({ ...gat, architecture: 'gcn', heads: undefined });
    expect([gcn.activation, gcn.heads]).toEqual(['relu', [1, 1]]);
  });

  it.each([
    [{ ...gat, model_type: 'llama' }, /model_type/],
    [{ ...gat, architecture: 'gin' }, /architecture/],
    [{ ...gat, heads: [4] }, /heads must list one positive integer per layer \(2\)/],
    [{ ...gat, in_features: 0 }, /in_features/],
    [{ ...gat, negative_slope: 1.5 }, /negative_slope/],
  ])('refuses %j', (raw, msg) => {
    expect(() => parseGnnConfig(raw, 'x/config.json')).toThrow(msg);
  });

  it('is claimed by the gnn family only for model_type gnn in safetensors', () => {
    expect(gnnFamily.matches({ format: 'safetensors', modelType: 'gnn', architectures: [] })).toBe(true);
    expect(gnnFamily.matches({ format: 'safetensors', modelType: 'bert', architectures: [] })).toBe(false);
    expect(gnnFamily.matches({ format: 'gguf', ggufArchitecture: 'gnn', architectures: [] })).toBe(false);
  });
});
