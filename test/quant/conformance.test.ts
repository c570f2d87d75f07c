/**
 * `quant_matmul` conformance: every format at GEMV sizes (M 1, 2..16) and a GEMM size, on the
 * device as opened, against the float64 oracle of the quantized math. The CPU row skips where the
 * CPU backend serves the op with that oracle itself.
 */
import { describeConformance } from '../conformance-suite.js';

await describeConformance('quant conformance', { ops: ['quant_matmul'], gpuCount: 1 });
