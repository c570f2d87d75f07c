/**
 * The RAG op's conformance cases (the ones `test/testing` runs for every registered op), here
 * so `npx vitest run test/rag` covers them on the device as opened. A CPU row skips where the CPU
 * backend serves the op with its float64 reference (the oracle itself).
 */
import { describeConformance } from '../conformance-suite.js';

await describeConformance('rag conformance', { ops: ['ivf_scan'], gpuCount: 1 });
