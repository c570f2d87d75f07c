/**
 * The 8-bit subgroup-matrix self-test's probe (self-test-i8.ts) on a device without subgroup
 * matrices (lavapipe): the builtins are written out in plain WGSL under each reading of the load
 * units, and the probe's data and expected product must agree exactly under the reading it was
 * written for and disagree under the other, so that on a real device it tells the two apart.
 */
import { describe, expect, it } from 'vitest';
import type { SubgroupMatrixConfig } from '../../src/backends/capabilities.js';
import { packedMatrixProbe, probeError } from '../../src/backends/webgpu/self-test-i8.js';
import { runOnce } from '../../src/backends/webgpu/self-test.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const LANES = 32;
const gpu = await gpuBackend();

/** The probe with its builtins in plain WGSL, loads read as `reading` (bytes per unit 4 or 1). */
function emulate(wgsl: string, cfg: SubgroupMatrixConfig, reading: 'word' | 'component'): string {
  const per = (cfg.M * cfg.N) / LANES;
  const unitBytes = reading === 'word' ? 4 : 1;
  const signed = cfg.componentType === 'i8';
  const byte = signed
    ? (arr: string, b: string) => `((bitcast<i32>(${arr}[(${b}) >> 2u]) << (24u - 8u * ((${b}) & 3u))) >> 24u)`
    : (arr: string, b: string) => `i32((bitcast<u32>(${arr}[(${b}) >> 2u]) >> (8u * ((${b}) & 3u))) & 255u)`;
  const scalar = signed ? 'i32' : 'u32';
  const helpers = `fn emu_mma(l: vec2<u32>, q: vec2<u32>, c: array<${scalar}, ${per}>, lane: u32) -> array<${scalar}, ${per}> {
  var r = c;
  for (var i = 0u; i < ${per}u; i++) {
    let e = lane * ${per}u + i; let m = e / ${cfg.N}u; let n = e % ${cfg.N}u;
    var s = 0;
    for (var k = 0u; k < ${cfg.K}u; k++) {
      let ba = (l.x + m * l.y) * ${unitBytes}u + k;
      let bb = (q.x + n * q.y) * ${unitBytes}u + k;
      s += ${byte('sa', 'ba')} * ${byte('sb', 'bb')};
    }
    r[i] += ${scalar}(s);
  }
  return r;
}
`;
  const out = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;\n', '')
    .replace(/subgroup_matrix_result<\w+, \d+, \d+>\(\)/, `array<${scalar}, ${per}>()`)
    .replace(
      /subgroupMatrixLoad<subgroup_matrix_\w+<\w+, \d+, \d+>, \w+>\(&\w+, ([^,]+), ([^,)]+)\)/g,
      'vec2<u32>($1, $2)',
    )
    .replace('subgroupMatrixMultiplyAccumulate(l, r, c)', `emu_mma(l, r, c, t % ${LANES}u)`)
    .replace(
      /subgroupMatrixStore<row_major>\(&sc, 0u, c, (\d+)u\);/,
      `for (var i = 0u; i < ${per}u; i++) { sc[(t % ${LANES}u) * ${per}u + i] = c[i]; }`,
    );
  if (/subgroupMatrix|subgroup_matrix/.test(out)) throw new Error('a subgroup-matrix builtin was left unemulated');
  return out.replace(/(@compute)/, `${helpers}$1`);
}

describe.skipIf(!gpu)(
  `8-bit subgroup-matrix self-test probe, builtins emulated${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    const configs: SubgroupMatrixConfig[] = [
      { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 },
      { componentType: 'u8', resultComponentType: 'u32', M: 16, N: 8, K: 32 },
    ];
    for (const cfg of configs)
      for (const units of ['word', 'component'] as const)
        it(`${cfg.componentType} ${cfg.M}x${cfg.N}x${cfg.K} written in ${units}s: exact under that reading only`, async () => {
          const p = packedMatrixProbe(cfg, LANES, units);
          const run = async (reading: 'word' | 'component') => {
            const got = await runOnce(
              gpu!.ctx.device,
              emulate(p.wgsl, cfg, reading),
              [new Float32Array(p.a.buffer), new Float32Array(p.b.buffer)],
              p.want.length,
              LANES,
            );
            if (typeof got === 'string') throw new Error(got);
            return probeError(p, got, cfg, reading);
          };
          expect(await run(units)).toBeNull();
          expect(await run(units === 'word' ? 'component' : 'word')).toMatch(/wrong at/);
        });
  },
);

if (!gpu) it.skip(`8-bit subgroup-matrix self-test probe emulated (skipped: ${gpuSkipReason()})`, () => {});
