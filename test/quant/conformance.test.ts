/**
 * `quant_matmul` conformance: every format at M 1, 2..16 and 17..40 through the kernel each gets by
 * default (quant-matmul-kernels.test.ts forces each kernel), on the device as opened, against the float64 oracle of the quantized math. The CPU row skips where the
 * CPU backend serves the op with that oracle itself.
 */
import { describeConformance } from '../conformance-suite.js';

await describeConformance('quant conformance', { ops: ['quant_matmul'], gpuCount: 1 });
