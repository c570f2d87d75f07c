/**
 * Atom W4A4 conformance: the per-token quantizer (every prologue, with and without the channel
 * gather) and the integer GEMV/GEMM, odd M and K a multiple of 128, on the device as opened,
 * against float64 oracles of the quantized math.
 */
import { describeConformance } from '../conformance-suite.js';

await describeConformance('atom w4a4 conformance', { ops: ['atom_quantize', 'atom_matmul'], gpuCount: 1 });
