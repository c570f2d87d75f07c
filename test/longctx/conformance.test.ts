/**
 * The long-context op's conformance cases (the ones `test/testing` runs for every registered op),
 * here so `npx vitest run test/longctx` covers them on the device as opened and on the CPU backend.
 */
import { describeConformance } from '../conformance-suite.js';

await describeConformance('longctx conformance', { ops: ['simhash_pack'], gpuCount: 1 });
