/**
 * The RAG pipeline latency bench at lavapipe scale (its `--small` sizes: the built-in model, a 2 MiB
 * store against a 1 MiB GPU budget): every pipeline with and without lookahead through the bench's
 * own checks, which must all pass for it to write its result. Among them: both modes generate the
 * same tokens and retrieve the same ids, the engine runs the same steps, and no cluster upload
 * found the LLM's dispatches encoded and unsubmitted (none split a step). A
 * failed check exits the bench; here that exit is intercepted and fails the test with its reason.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PIPELINE_BENCH_SIZES, pipelineBench } from '../../bench/telerag-pipelines.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { PIPELINES } from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `the pipeline bench at lavapipe scale${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    let out = '';
    afterEach(() => {
      vi.restoreAllMocks();
      vi.unstubAllEnvs();
      if (out) rmSync(out, { recursive: true, force: true });
    });

    it('passes its checks with every pipeline and writes its result', async () => {
      out = mkdtempSync(join(tmpdir(), 'tessera-telerag-'));
      vi.stubEnv('BENCH_OUT', out);
      const failures: string[] = [];
      vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void failures.push(a.join(' ')));
      vi.spyOn(process, 'exit').mockImplementation((code) => {
        throw new Error(`the bench exited with ${code}: ${failures.join(' / ')}`);
      });
      await pipelineBench({
        ...PIPELINE_BENCH_SIZES.small,
        modelDir: builtinModelPath(),
        seed,
        pipelines: PIPELINES,
        keepCache: false,
        backend: gpu!,
      });
      const files = readdirSync(out).filter((f) => f.startsWith('telerag-pipelines-'));
      expect(files).toHaveLength(1);
      const doc = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as { checks: string[] };
      for (const name of PIPELINES) {
        expect(doc.checks.some((c) => c.startsWith(`${name} q0: the same engine steps`))).toBe(true);
        expect(doc.checks.some((c) => c.startsWith(`${name} q0: no upload found the LLM's work`))).toBe(true);
      }
    }, 240_000);
  },
);
