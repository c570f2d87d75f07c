/**
 * The benchmark index: every program in bench/, what it measures, roughly how long it takes and
 * what it needs; runs one, several or all of them, each in its own process under one
 * BENCH_RUN_ID (so the peer figures a run's anchor scripts write count as the same run).
 *
 * Usage: npm run bench -- --list            the index
 *        npm run bench -- <name> [args…]    one bench, args passed on
 *        npm run bench -- --all             every bench that needs nothing but what is here
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchEntry {
  name: string;
  measures: string;
  duration: string;
  needs: string;
  /** Runs with no arguments on whatever this machine has (so `--all` includes it). */
  standalone: boolean;
}

export const BENCHES: readonly BenchEntry[] = [
  {
    name: 'copy',
    measures: 'copy bandwidth (read + write) vs torch copy_',
    duration: '~30 s',
    needs: 'GPU; anchor: bench/anchors/torch_gemm.py',
    standalone: true,
  },
  {
    name: 'gemm',
    measures: 'GEMM/GEMV TFLOP/s and GB/s, 1024³…8192³ and Llama-3-8B linears, vs torch bf16',
    duration: '~5 min',
    needs: 'GPU; anchor: bench/anchors/torch_gemm.py',
    standalone: true,
  },
  {
    name: 'attention-decode',
    measures: 'paged decode attention GB/s vs torch SDPA',
    duration: '~2 min',
    needs: 'GPU; anchor: bench/anchors/torch_attention.py',
    standalone: true,
  },
  {
    name: 'attention-prefill',
    measures: 'causal prefill attention TFLOP/s vs torch SDPA',
    duration: '~2 min',
    needs: 'GPU with subgroup matrices; anchor: bench/anchors/torch_attention.py',
    standalone: true,
  },
  {
    name: 'attention-cascade',
    measures: 'shared-prefix cascade vs plain paged decode (and SDPA)',
    duration: '~1 min',
    needs: 'GPU; anchor: bench/anchors/torch_attention.py',
    standalone: true,
  },
  {
    name: 'attention-check',
    measures: 'paged attention correctness at large sizes (no timing, no result file)',
    duration: '~1 min',
    needs: 'GPU',
    standalone: true,
  },
  {
    name: 'conformance-perf',
    measures: "every op's conformance cases at big sizes, checked, with GPU time (no result file)",
    duration: '~4 min',
    needs: 'GPU',
    standalone: true,
  },
  {
    name: 'fusion',
    measures: 'Llama block dispatches and GPU time, fused vs unfused',
    duration: '~1 min (--small: seconds)',
    needs: 'GPU',
    standalone: true,
  },
  {
    name: 'host-overhead',
    measures: 'host ms per unrecorded (prefill) step and per dispatch, built-in model, logits checked (no result file)',
    duration: '~30 s (lavapipe)',
    needs: 'GPU, else the CPU backend',
    standalone: true,
  },
  {
    name: 'ttft-host',
    measures:
      'host and wall ms of a fresh single-sequence prefill, recorded bucket vs unrecorded, built-in model, logits checked (no result file)',
    duration: '~1 min (lavapipe)',
    needs: 'GPU, else the CPU backend',
    standalone: true,
  },
  {
    name: 'decode',
    measures: 'Llama-3-8B-shape decode tokens/s, batch 1 and 16, vs HF eager; tokens vs PyTorch',
    duration: '~3 min + the checkpoint',
    needs: 'GPU (80 GB); DIR from bench/anchors/hf_decode.py',
    standalone: false,
  },
  {
    name: 'decode-quant',
    measures:
      'end-to-end quantized decode (w4, w8, Q4_K_M) at batch 1/16/64 beside our float checkpoint and llama.cpp Q4_K_M; tokens vs our f32 path on the same weights',
    duration: '~5 min a model on the 8B shape (its f32 reference load included)',
    needs: 'GPU (80 GB); quantized checkpoints from `bash bench/run-h100.sh atom-e2e-prep`',
    standalone: false,
  },
  {
    name: 'serve',
    measures:
      "serving throughput and latency under Poisson arrivals vs transformers' continuous batching and llama.cpp (--peer, repeated)",
    duration: '~3 min (built-in model, 8 requests, on lavapipe: ~2 min)',
    needs: 'GPU; --model DIR; peers: bench/anchors/hf_serve_cb.py, bench/peers/llama-cpp-serve.ts',
    standalone: false,
  },
  {
    name: 'parity',
    measures: 'logits and greedy tokens vs HF on random real-shape checkpoints',
    duration: '~2 min',
    needs: 'GPU; DIR from bench/parity/make_checkpoints.py',
    standalone: false,
  },
  {
    name: 'tokenizer-parity',
    measures: 'our tokenizer vs Python tokenizers on the Llama-3 vocabulary',
    duration: '~10 s',
    needs: 'CPU; TOKENIZER_DIR and ids from bench/parity/tokenize.py',
    standalone: false,
  },
  {
    name: 'mcu-planner',
    measures: 'vMCU vs tensor-level peak SRAM (byte counts, every plan proven safe)',
    duration: '~10 s',
    needs: 'CPU',
    standalone: true,
  },
  {
    name: 'cpu-decode',
    measures: 'CPU backend: built-in model batch-1 decode and 128-token prefill tokens/s, beside llama.cpp CPU',
    duration: '~1 min',
    needs: 'CPU; the llama.cpp peer from scripts/pack-llama-cpp.sh (else the rows say why it is absent)',
    standalone: true,
  },
  {
    name: 'mcu-qemu',
    measures: 'generated C bit-exact under QEMU Cortex-M4/M7 (no result file)',
    duration: '~1 min',
    needs: 'CPU; arm-none-eabi-gcc, qemu-system-arm',
    standalone: true,
  },
  {
    name: 'mixed-steps',
    measures:
      'per-step host cost of mixed prefill+decode serving steps: compiles, bind groups, buffers, replays (no result file)',
    duration: '~1 min (built-in model, 12 requests, on lavapipe)',
    needs: 'GPU (lavapipe suffices); --model DIR (default the built-in model)',
    standalone: true,
  },
  {
    name: 'upload-probe',
    measures: 'checkpoint loading by stage: file reads, writeBuffer, the mapped staging ring (GB/s; no result file)',
    duration: '~30 s for 16 GB',
    needs: 'GPU; a safetensors checkpoint folder (argument)',
    standalone: false,
  },
  {
    name: 'skinny-tune',
    measures: 'skinny GEMM (M = 1–256) parameter sweep on the Llama-3-8B shapes vs GEMV and split-K; writes the table',
    duration: '~4 min',
    needs: 'GPU (subgroups; subgroup matrices for the tensor-core variant)',
    standalone: false,
  },
  {
    name: 'mid-gemm-probe',
    measures:
      'the mid-M skinny GEMM (M = 64–256) whole and multiply-only beside the split-K GEMM on the 8B shapes: ms, weight TB/s, TFLOP/s, checked against float64',
    duration: '~2 min',
    needs: 'GPU (f16 subgroup matrices)',
    standalone: false,
  },
  {
    name: 'sparse-graphs',
    measures: 'writes the R-MAT graphs of the sparse bench as CSR files for both sides (no timing)',
    duration: '~1 min',
    needs: 'CPU; an output folder (argument)',
    standalone: false,
  },
  {
    name: 'sparse',
    measures: "SpMM per format and the tuner's pick on R-MAT graphs vs cuSPARSE (torch.sparse.mm)",
    duration: '~3 min',
    needs: 'GPU; anchor: bench/anchors/torch_sparse.py on the files of sparse-graphs',
    standalone: false,
  },
  {
    name: 'sparse-gnn',
    measures: 'GCN/GraphSAGE/GAT end-to-end latency on Cora/Citeseer and RGCN, vs PyTorch Geometric',
    duration: '~1 min',
    needs: 'GPU; anchor: scripts/sparse/train_pyg.py output (--pyg)',
    standalone: false,
  },
  {
    name: 'cpu-programs',
    measures: 'compiled tensor programs on the CPU backend: generated JS vs closure tree vs the float64 interpreter',
    duration: '~10 s',
    needs: 'CPU',
    standalone: true,
  },
  {
    name: 'quant-decode',
    measures: 'quantized-weight matmuls of one Llama-3-8B layer (f16, W8, W4, Q4_K, Q8_0) at b1/b16/b64',
    duration: '~2 min',
    needs: 'GPU',
    standalone: true,
  },
  {
    name: 'telerag',
    measures: 'IVF search on WordNet glosses (GloVe vectors): recall@10 vs nprobe and QPS beside FAISS IVF-Flat',
    duration: '~2 min',
    needs: 'CPU; Debian wordnet-base and python3-faiss (the peer)',
    standalone: false,
  },
  {
    name: 'lora',
    measures:
      'many LoRA adapters in one batch (8B shape, rank 16 and 64): b64 tokens/s over 1/8/64 adapters vs the base and the one-adapter loop; b1 latency',
    duration: '~4 min',
    needs: 'GPU (80 GB); --tiny runs anywhere',
    standalone: false,
  },
  {
    name: 'lora-delta-time',
    measures:
      'the lora_delta dispatches alone at the 8B shape (b1 and b64, rank 16/64): µs per projection group and the step total, checked against float64',
    duration: '~1 min',
    needs: 'GPU (about 10 GB at rank 64: every layer its own stacks); --tiny runs anywhere',
    standalone: false,
  },
  {
    name: 'lora-parity',
    measures: 'logits of a mixed-adapter batch on the built-in model vs peft (max relative error ≤ 1e-2)',
    duration: '~10 s',
    needs: 'GPU; the JSON of scripts/lora/peft_parity.py',
    standalone: false,
  },
  {
    name: 'magicpig',
    measures:
      'LSH sampling attention (src/longctx) on the CPU, 32K keys: ms per query and error vs exact CPU attention',
    duration: '~20 s',
    needs: 'CPU',
    standalone: true,
  },
  {
    name: 'nanoflow-overlap',
    measures:
      'one Llama-3-8B layer: GEMM chain, decode attention, uploads alone, together in one pass and in one partitioned dispatch',
    duration: '~25–55 s on an H100 (--budget-s bounds it; --tiny on lavapipe: ~10 s)',
    needs: 'GPU (--tiny fits lavapipe)',
    standalone: true,
  },
  {
    name: 'nanoflow',
    measures:
      'engine throughput (ShareGPT-like mix) and latency at Poisson rates, nano-batching on vs off, vs NanoFlow optimal; tokens equal',
    duration: '~4 min (8B: --requests 256); lavapipe, built-in model, 6 requests: ~2 min',
    needs: 'GPU; --model DIR (default: the built-in model)',
    standalone: false,
  },
  {
    name: 'nanoflow-shapes',
    measures:
      'the step shapes each arm of the nanoflow bench meets (replayed, recorded on the spot, by kind and rows), counted by driving the engine with a runner that computes nothing',
    duration: '~10 s at the 8B configuration (256 requests)',
    needs: 'CPU',
    standalone: true,
  },
  {
    name: 'atom-ppl',
    measures:
      "perplexity of the built-in model under Atom's ablation (FP, KV8/KV4, W4A16, W4A4 with/without outliers) as float64 fake quantization",
    duration: '~10 min',
    needs: 'CPU (or --model DIR for a larger model)',
    standalone: false,
  },
  {
    name: 'kv-quant-attention',
    measures: 'decode attention over int8/int4 KV pages vs f16 at the 8B attention shape, checked against float64',
    duration: '~1 min',
    needs: 'GPU',
    standalone: true,
  },
  {
    name: 'magicpig-decode',
    measures: 'decode tok/s vs context length and batch: full GPU attention vs LSH sampling attention, GPU KV bytes',
    duration: '~5 min',
    needs: 'GPU; the 8B checkpoint (bench/anchors/hf_decode.py)',
    standalone: false,
  },
  {
    name: 'magicpig-quality',
    measures: 'retrieval accuracy of a trained long-context model: exact, MagicPIG (K, L), TopK, Quest, StreamingLLM',
    duration: 'tens of minutes',
    needs: 'a model from scripts/longctx/train_retrieval.py',
    standalone: false,
  },
  {
    name: 'magicpig-scan',
    measures: 'the sampled scan of one 8B layer on the CPU at 16K/64K keys: ms and store bytes per token',
    duration: '~1 min',
    needs: 'CPU',
    standalone: true,
  },
  {
    name: 'derain',
    measures:
      'the de-raining networks on WebGPU vs PyTorch (PSNR ≥ 50 dB between them), 512² and 1024² vs torch eager and torch.compile',
    duration: '~2 min',
    needs: 'GPU; weights and torch outputs from scripts/derain/train.py',
    standalone: false,
  },
  {
    name: 'derain-profile',
    measures:
      "the de-raining filter's GPU time by kernel at each size, beside the whole call (random weights; no result file)",
    duration: '~1 min (128² and 256² on lavapipe)',
    needs: 'GPU (lavapipe suffices)',
    standalone: true,
  },
  {
    name: 'st-check',
    measures: 'the BERT encoder vs sentence-transformers: parity on random MiniLM-L6 weights and texts/s beside it',
    duration: '~30 s',
    needs: 'GPU; the folder scripts/embeddings/st_reference.py writes',
    standalone: false,
  },
  {
    name: 'sparse-tir-vs-template',
    measures:
      'SpMM/SDDMM/RGCN kernels generated from the TIR against the former WGSL templates: outputs equal, time ratio',
    duration: '~2 min',
    needs: 'GPU (run bundled with esbuild: it reads the templates from bench/)',
    standalone: false,
  },
];

export function indexText(): string {
  const w = (k: keyof BenchEntry) => Math.max(k.length, ...BENCHES.map((b) => String(b[k]).length));
  const cols: (keyof BenchEntry)[] = ['name', 'measures', 'duration', 'needs'];
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(w(cols[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cols), ...BENCHES.map((b) => line(cols.map((c) => String(b[c]))))].join('\n');
}

function run(entry: BenchEntry, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const file = join(dirname(fileURLToPath(import.meta.url)), `${entry.name}.js`);
  console.log(`\n== ${entry.name} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [file, ...args], { stdio: 'inherit', env });
  return r.status ?? 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [first, ...rest] = process.argv.slice(2);
  if (!first || first === '--list' || first === '--help') {
    console.log(indexText());
    console.log('\nnpm run bench -- <name> [args…] runs one; --all runs every bench that needs no arguments.');
    process.exit(0);
  }
  const env = {
    ...process.env,
    BENCH_RUN_ID: process.env.BENCH_RUN_ID || `run-${Date.now()}-${randomBytes(3).toString('hex')}`,
  };
  if (first === '--all') {
    const failed = BENCHES.filter((b) => b.standalone)
      .filter((b) => run(b, [], env) !== 0)
      .map((b) => b.name);
    console.log(failed.length ? `\nfailed: ${failed.join(', ')}` : '\nall benches passed their checks');
    process.exit(failed.length ? 1 : 0);
  }
  const entry = BENCHES.find((b) => b.name === first);
  if (!entry) {
    console.error(`no bench '${first}'; npm run bench -- --list shows them`);
    process.exit(2);
  }
  process.exit(run(entry, rest, env));
}
