/**
 * Hand-seeded shader faults: each is a realistic bug in generated WGSL, written as text rewrites
 * applied to every shader before it compiles (scripts/seeded-faults.setup.ts). Patterns follow the
 * generators in src/kernels/rope.ts, src/attention/variants.ts, src/attention/attention-wgsl.ts,
 * src/attention/attention-decode.ts and src/attention/dense-attention.ts; if a generator's text
 * changes so that a pattern no longer matches, the fault script reports the fault as not applied and
 * fails.
 */
/**
 * @typedef {object} SeededFault
 * @property {string} name
 * @property {string} what
 * @property {string[]} tests test files expected to catch it (run with the fault on; at least one test must fail)
 * @property {[RegExp, string][]} rewrites
 */

/** θ → 1.05·θ multiplies frequency i of `half` by 1.05^(−i/half) (f_i = θ^(−2i/rd), half = rd/2). */
const THETA_FACTOR = 1.05;

/** @type {SeededFault[]} */
export const seededFaults = [
  {
    name: 'rope-theta',
    what: `RoPE θ × ${THETA_FACTOR} (10000 → 10500), standalone rope kernel and the fused Q/K transform`,
    tests: ['test/kernels/rope.test.ts', 'test/attention/engine.test.ts', 'test/models/builtin-model.test.ts'],
    rewrites: [
      // src/kernels/rope.ts: the per-frequency turns h1 + h0 + lo read from the uniform in `turns(p, i)`; uw(4u) = rd/2
      [/let (h1|h0|lo) = uf\(([^;]*)\);/g, `let $1 = uf($2) * pow(${THETA_FACTOR}, -f32(i) / f32(uw(4u)));`],
      // src/attention/variants.ts rope(): frequency of element d
      [/freq_turns\[d % half\]/g, `(freq_turns[d % half] * pow(${THETA_FACTOR}, -f32(d % half) / f32(half)))`],
    ],
  },
  {
    name: 'causal-mask-off-by-one',
    what: 'causal mask lets each query see one key past its own position',
    tests: ['test/attention/engine.test.ts', 'test/kernels/attention.test.ts'],
    rewrites: [
      // src/attention/variants.ts causal
      [/\bkpos <= qpos\b/g, 'kpos <= qpos + 1'],
      // src/attention/dense-attention.ts
      [/kj \+ T <= qi \+ S\)/g, 'kj + T <= qi + S + 1u)'],
    ],
  },
  {
    name: 'softmax-scale',
    what: 'softmax scale × 1.05 (e.g. 1/√D of a wrong D)',
    tests: ['test/attention/engine.test.ts', 'test/kernels/attention.test.ts'],
    rewrites: [
      // src/attention/attention-wgsl.ts, attention-decode.ts
      [/const SCALE = ([^;]+);/g, 'const SCALE = ($1) * 1.05;'],
      // src/attention/dense-attention.ts
      [/let scale = uf\(5u\);/g, 'let scale = uf(5u) * 1.05;'],
    ],
  },
  {
    name: 'gqa-head-mapping',
    what: 'GQA maps query heads to KV heads interleaved (kv = q mod Hkv) instead of grouped (kv = q / group)',
    tests: ['test/attention/engine.test.ts', 'test/kernels/attention.test.ts'],
    rewrites: [
      // paged templates: query head of row r of KV head hk
      [/hk \* GRP \+ (r|rr) % GRP/g, '($1 % GRP) * (HQ / GRP) + hk'],
      // src/attention/dense-attention.ts
      [/let kh = h \/ \(Hq \/ Hk\);/g, 'let kh = h % Hk;'],
    ],
  },
  {
    name: 'kv-page-boundary',
    what: 'paged K/V read takes the page of key j + 1 (the last slot of each page reads the next page)',
    tests: ['test/attention/engine.test.ts'],
    rewrites: [[/page_base \+ j \/ PS/g, 'page_base + (j + 1u) / PS']],
  },
];
