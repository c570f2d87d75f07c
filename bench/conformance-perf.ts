/**
 * The conformance suite's `perf` mode: runs every op's cases (with `big` sizes) on the WebGPU
 * backend, checks them like the tests do, and prints GPU time per case from timestamp queries.
 * Usage: node dist/bench/conformance-perf.js [op ...]
 */
import '../src/register-all.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { conformanceCases, runCase } from '../src/testing/conformance.js';
import { freshSeed } from '../src/util/rng.js';

const ops = process.argv.slice(2);
const seed = freshSeed();
const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
console.log(`seed ${seed}; ${backend.caps.description || backend.caps.vendor}`);
console.log(['op', 'case', 'result', 'gpu ms', 'dispatches'].join('\t'));
let failed = 0;
for (const { op, cases } of conformanceCases({ seed, big: true, ops: ops.length ? ops : undefined })) {
  for (const c of cases) {
    // one untimed run compiles the pipelines, then a profiled run
    await runCase(backend, op, c);
    const profiling = backend.startProfiling();
    const r = await runCase(backend, op, c);
    const entries = profiling ? await backend.stopProfiling() : [];
    const gpuMs = entries.reduce((s, e) => s + e.ms, 0);
    if (!r.ok) failed++;
    console.log(
      [
        op.name,
        c.label,
        r.skipped ?? (r.ok ? 'ok' : `FAIL ${r.message}`),
        profiling ? gpuMs.toFixed(4) : `${r.ms?.toFixed(3)} (host)`,
        entries.length,
      ].join('\t'),
    );
  }
}
backend.destroy();
process.exit(failed ? 1 : 0);
