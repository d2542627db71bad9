#!/usr/bin/env bash
# One device call (carry ['.device-kit'], after bench/gpu/kit.sh) for embed's several inputs a pass (2026-12-07, written
# without a GPU): a list of 64 inputs of 8, 32 and 128 tokens embedded batched and one a pass, side by side, on the
# SmolLM2-135M and Qwen3-0.6B shapes in Q8_0 (Qwen3-Embedding-0.6B's shape: a decoder embeds by its last row). The
# synthetic files are written on the device (~1 minute for Qwen3-0.6B's 637 MB). Reports in $OUT, ~4 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
for model in smollm2-135m qwen3-0.6b; do
  BENCH_ARGS="--embed --synthetic $model:q8_0 --prompt-tokens 8,32,128 --inputs 64 --batch on,off --repeats 3" \
    bash bench/gpu/run.sh "embed-batched-$model"
done
