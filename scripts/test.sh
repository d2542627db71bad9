#!/usr/bin/env bash
# The test command (README; .ci/run calls it through `npm test`): typecheck, bundle, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# lavapipe compiles each pipeline at its first dispatch, up to tens of seconds apiece with LLVM's optimization passes (a new CI
# machine's Mesa shader cache is empty: most of the run). Without them a pipeline compiles 2-3x faster and runs ~1.2x
# slower (test/hf_oracle.test.ts: 634 s cold, 179 s warm, against 147 s warm with them). Their own shader cache, so
# that what the tests compiled this way never stands in for the optimized kernels a benchmark runs.
export GALLIVM_PERF="${GALLIVM_PERF-nopt}"
export MESA_SHADER_CACHE_DIR="${MESA_SHADER_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/emberlm-test-mesa}"
npm run build --silent   # vite bundles + tsc declarations (dist/types), which the examples' typecheck reads
npx tsc --noEmit -p .
npx vitest run "$@"
