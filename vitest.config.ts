import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // GPU tests share one Dawn device per worker; lavapipe on 2 cores is slow to compile pipelines.
    // Every test in `npm test` is meant to finish well under 30 s on such a machine, so a 60 s limit
    // catches a test drifting slow long before CI's time runs out; the exhaustive sweeps run under
    // `npm run test:gpu-heavy` (test/heavy.ts), which lifts the limit.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // Every test file sees all ops and kernels registered, as the CLI and the public index do.
    setupFiles: ['test/register-all.setup.ts'],
  },
});
