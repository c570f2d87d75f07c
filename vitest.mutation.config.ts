/**
 * The test files Stryker runs against each mutant (npm run test:mutation): CPU-only tests that
 * cover the mutated modules. GPU work is skipped (TESSERA_NO_GPU), so a mutant is judged only by
 * tests that can run on any machine and in seconds.
 */
import { defineConfig } from 'vitest/config';

const noGpu = 'mutation testing runs the CPU tests only';
process.env.TESSERA_NO_GPU = noGpu;

export default defineConfig({
  test: {
    include: [
      'test/engine/engine.test.ts',
      'test/engine/kv-and-text.test.ts',
      'test/engine/sampler.test.ts',
      'test/engine/*-edges.test.ts',
      'test/attention/plan.test.ts',
      'test/attention/page-table.test.ts',
      'test/attention/*-edges.test.ts',
      'test/kernels/*-edges.test.ts',
      'test/server/*-edges.test.ts',
      'test/io/*-edges.test.ts',
      'test/attention/conformance.test.ts',
      'test/io/tokenizer.test.ts',
      'test/server/api.test.ts',
    ],
    env: { TESSERA_NO_GPU: noGpu },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
