/**
 * Pins the sha256 of the `sample` kernel's generated WGSL over dtypes, workgroup sizes and the
 * f16/subgroup capabilities, so a refactor of the generator that changes a single byte fails here.
 * CPU only. After an intended change to the kernel, regenerate with UPDATE_WGSL_SNAPSHOT=1 and say
 * why in the commit.
 */
import { describeWgslSnapshot, sha256 } from '../wgsl-snapshot.js';
import { sampleWgsl } from '../../src/kernels/sample.js';
import type { DType } from '../../src/tensor/dtype.js';

const SNAPSHOT = new URL('./__snapshots__/sample-wgsl.sha256.json', import.meta.url);

function currentHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  const dtypes: DType[] = ['f32', 'f16', 'bf16'];
  for (const dtype of dtypes)
    for (const wg of [32, 256])
      for (const f16 of [false, true])
        for (const subgroups of [false, true])
          out[`${dtype}/wg${wg}/f16-${f16}/sg-${subgroups}`] = sha256(sampleWgsl(dtype, wg, { f16, subgroups }));
  return out;
}

describeWgslSnapshot('sample WGSL snapshot', SNAPSHOT, currentHashes);
