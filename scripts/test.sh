#!/usr/bin/env bash
# The test command (README; .ci/run calls it through `npm test`): typecheck, bundle, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
npm run build --silent   # vite bundles + tsc declarations (dist/types), which the examples' typecheck reads
npx tsc --noEmit -p .
npx vitest run "$@"
