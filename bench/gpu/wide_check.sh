#!/usr/bin/env bash
# One device call (carry ['.device-kit'], after bench/gpu/kit.sh) for what was written for GPUs on 2026-12-04 without
# one to run it on: decode_wide against the default decode attention, one layer (bench/attention.ts) at SmolLM2's and
# Llama-3.2-1B's heads and in whole models (--attention wide,default, side by side); the sampler's part (the bench's
# profile, kernel family "sample"); what autotune's attention trial picks when nothing is forced (its table); and
# greedy ids with decode_wide forced (ORACLE=1 with GEN_ARGS); and the GEMMs by rows and tiled at 256 tokens (autotune's
# GPU trial now runs at 64); and one Llama-3.2-1B layer's fused GEMVs against the separate kernels (bench/fused.ts: the
# prologue's block maximum by shuffles and the first blocks loaded before it, written since without a GPU). Reports in
# $OUT, ~8 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
for heads in 9/3 32/8; do
  TOOL=attention BENCH_ARGS="--heads $heads --head-dim 64 --ctx 128,2048 --prefill 0 --decode keys,wide" bash bench/gpu/run.sh wide-layer
done
BENCH_ARGS='--synthetic llama-3.2-1b:q8_0,smollm2-135m:q8_0 --prompt-tokens 128,2048 --gen-tokens 64 --repeats 2 --attention wide,default' \
  bash bench/gpu/run.sh wide-bench
BENCH_ARGS='--synthetic llama-3.2-1b:q8_0 --prompt-tokens 128 --gen-tokens 32 --repeats 1' bash bench/gpu/run.sh wide-autotune
ORACLE=1 GEN_ARGS='--attention wide' bash bench/gpu/run.sh wide-oracle
for gemm in rows tiled; do
  TOOL=matmul BENCH_ARGS="--formats q8 --shapes 2048x3072,2048x16384,8192x2048 --prefill 256 --gemm $gemm --iters 20" bash bench/gpu/run.sh wide-gemm
done
TOOL=fused BENCH_ARGS="--shape 2048,8192,3072 --iters 50 --repeats 3" bash bench/gpu/run.sh wide-fused
