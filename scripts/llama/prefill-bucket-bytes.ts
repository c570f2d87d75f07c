/**
 * Device bytes one recorded prefill bucket holds (src/models/llama/prefill-buckets.ts), from the
 * compiled decoder's storage plan rather than a device: the VM's planned storage at the bucket's
 * row count (one tensor per storage token and shape), the returned logits, the step inputs, the
 * attention's log-sum-exp, its Q/K/V scratch, and the split-KV partial-state scratch the recorded
 * stream binds (maxItems × tileRows rows of headDim + 1 f32, shared by the layers' attention calls
 * and, since it is kernel scratch, by every recorded stream: it is counted once per bucket here).
 * The stream's uniform buffers (a few hundred bytes per dispatch) are left out.
 *
 * Usage: npx tsx scripts/llama/prefill-bucket-bytes.ts [--model DIR|8b] [--rows 128,512,2048]
 *   [--max-tokens 2048] [--max-seqs 64] [--act f16] [--tile-rows 64] [--grid 528]
 * `8b` is the Llama-3-8B shape (hidden 4096, FFN 14336, 32 layers, 32/8 heads of 128, vocab 128256).
 * tileRows is the prefill attention's row tile on the target device (BatchAttention picks it from
 * the device's subgroup-matrix support), so it is an argument here.
 */
import { compile } from '../../src/compiler/compile.js';
import type { Sym } from '../../src/ir/sym/sym.js';
import { llamaModule } from '../../src/models/llama/graph.js';
import { type LlamaConfig, readLlamaConfig } from '../../src/models/llama/llama-config.js';
import { bytesPerElement, type DType } from '../../src/tensor/dtype.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const model = option('model', '8b');
const maxTokens = Number(option('max-tokens', '2048'));
const maxSeqs = Number(option('max-seqs', '64'));
const act = option('act', 'f16') as DType;
const tileRows = Number(option('tile-rows', '64'));
const grid = Number(option('grid', '528'));
const rowsList = option('rows', '128,512,2048').split(',').map(Number);

const LLAMA3_8B = {
  modelType: 'llama',
  hiddenSize: 4096,
  intermediateSize: 14336,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  vocabSize: 128256,
  maxPositionEmbeddings: 8192,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeScaling: null,
  tieWordEmbeddings: false,
  qkvBias: false,
  oBias: false,
  mlpBias: false,
  slidingWindow: null,
  bosTokenId: 128000,
  eosTokenIds: [128001],
  torchDtype: 'bfloat16',
} as LlamaConfig;
const cfg = model === '8b' ? LLAMA3_8B : await readLlamaConfig(`${model}/config.json`);

const exe = compile(llamaModule(cfg, { maxTokens, maxSeqs, weightDtype: 'bf16', actDtype: act }));
const f = exe.funcs.get('forward')!;
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(
  `${model === '8b' ? 'Llama-3-8B shape' : model}, ${act} activations, maxTokens ${maxTokens}, maxSeqs ${maxSeqs}, attention tileRows ${tileRows}, grid ${grid}; free dims ${f.symVars.join(', ')}`,
);
for (const rows of rowsList) {
  const env: Record<string, number> = {};
  for (const v of f.symVars) env[v] = v === 'b' || v.startsWith('b') ? 1 : rows;
  const held = new Map<string, number>();
  let fresh = 0;
  for (const ins of f.instrs) {
    if (ins.op !== 'alloc') continue;
    const bytes = ins.shape.reduce((a, d: Sym) => a * d.eval(env), bytesPerElement(ins.dtype));
    if (ins.token === undefined) fresh += bytes;
    else held.set(`${ins.token}:${ins.dtype}[${ins.shape.map((d) => d.eval(env)).join(',')}]`, bytes);
  }
  const storage = [...held.values()].reduce((a, b) => a + b, 0);
  const a = bytesPerElement(act);
  const inputs = (2 * rows + 1) * 4;
  const lse = rows * cfg.numHeads * 4;
  const qkv = rows * (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim * a;
  const group = cfg.numHeads / cfg.numKvHeads;
  const maxItems = cfg.numKvHeads * (Math.ceil((maxTokens * group) / tileRows) + maxSeqs) + 2 * grid;
  const partial = maxItems * tileRows * (cfg.headDim + 1) * 4;
  const total = storage + fresh + inputs + lse + qkv + partial;
  console.log(
    `${String(rows).padStart(5)} rows: ${MiB(total)} = storage ${MiB(storage)} (${held.size} tensors) + logits ${MiB(fresh)} + inputs/lse/QKV ${MiB(inputs + lse + qkv)} + attention partial states ${MiB(partial)} (${maxItems} items × ${tileRows} rows)`,
  );
}
