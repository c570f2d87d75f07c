/**
 * The de-raining graphs in the IR's text form: printing and parsing them gives the same text, before
 * and after compilation (conv2d/resize_nearest attributes and shape arguments, the programs they
 * legalize to, the Restormer's match_cast), so `tessera compile --print` shows what runs.
 */
import { describe, expect, it } from 'vitest';
import { compileModule } from '../../../src/compiler/compile.js';
import { moduleOf } from '../../../src/ir/graph.js';
import { parseModule } from '../../../src/ir/parser.js';
import { printModule } from '../../../src/ir/printer.js';
import { DEFAULT_DERAIN_CONFIG } from '../../../src/models/derain/derain-config.js';
import { derainFunc } from '../../../src/models/derain/graph.js';
import { DEFAULT_PRENET_CONFIG, prenetFunc } from '../../../src/models/derain/prenet.js';
import { DEFAULT_RESTORMER_CONFIG, restormerFunc } from '../../../src/models/derain/restormer.js';

const graphs = {
  filter: () => derainFunc(DEFAULT_DERAIN_CONFIG),
  refiner: () => derainFunc({ ...DEFAULT_DERAIN_CONFIG, reference: false }),
  prenet: () => prenetFunc(DEFAULT_PRENET_CONFIG),
  transformer: () => restormerFunc(DEFAULT_RESTORMER_CONFIG),
};

describe('de-raining graphs as text', () => {
  for (const [name, build] of Object.entries(graphs)) {
    it(`${name}: print → parse → print is the identity, before and after the passes`, () => {
      const input = moduleOf([build()]);
      const text = printModule(input);
      expect(text).toMatch(/conv2d\(/);
      if (name === 'filter') expect(text).toMatch(/resize_nearest\(/);
      expect(printModule(parseModule(text))).toBe(text);
      const compiled = printModule(compileModule(input).module);
      expect(printModule(parseModule(compiled))).toBe(compiled);
    });
  }
});
