/**
 * The sparse ops' conformance cases (the ones `test/testing` runs for every registered op), here
 * so `npx vitest run test/sparse` covers them on the device as opened. A CPU row skips where the CPU
 * backend serves the op with its float64 reference (the oracle itself).
 */
import { describeConformance } from '../conformance-suite.js';

const OPS = [
  'spmm_coo',
  'spmm_csr',
  'spmm_ell',
  'spmm_bsr',
  'spmm_hyb',
  'sddmm_csr',
  'rgcn_csr',
  'edge_softmax_csr',
  'csr_to_ell',
  'coo_to_csr',
  'csr_to_coo',
];

await describeConformance('sparse conformance', { ops: OPS, gpuCount: 1 });
