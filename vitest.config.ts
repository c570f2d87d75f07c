import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // GPU tests share one Dawn device per worker; lavapipe on 2 cores is slow to compile pipelines.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // Every test file sees all ops and kernels registered, as the CLI and the public index do.
    setupFiles: ['test/register-all.setup.ts'],
    // CI also writes a JSON report, from which .ci/run prints the plain 'N passed, N failed' line
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-results.json' },
  },
});
