/** Vitest config of scripts/seeded-faults.mjs: the project's config plus the fault-injecting setup file. */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../vitest.config.ts';

export default mergeConfig(
  base,
  defineConfig({ test: { setupFiles: ['scripts/seeded-faults.setup.mjs'], reporters: ['default'] } }),
);
