#!/usr/bin/env bash
# On a lent GPU machine (the `device` tool, carry ['.device-kit'] made by bench/gpu/kit.sh): unpacks Node and
# the CLI, points Dawn at the NVIDIA Vulkan driver, and runs the issue's benchmarks, each report to $OUT:
#   SmolLM2-135M and Llama-3.2-1B shapes, Q8_0, prompts of 128 and 2,048 tokens, the Q8_0 scales as f16 pairs (the
#   GPU default: 8.5 bits a weight) and as f32 (9 bits), side by side.
# BENCH_ARGS replaces the bench's arguments (e.g. a quicker check); the first argument, if any, names the report.
# TOOL=attention or TOOL=matmul runs that kernel bench instead (bench/gpu/tools.ts), appending to $OUT/<name>.txt;
# ORACLE=1 checks greedy ids against the shared oracles (bench/gpu/oracle_check.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/ember
decompress() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$1"; fi; }
if ! cmp -s .device-kit/VERSION /tmp/ember/VERSION; then # once per kit and machine
  rm -rf /tmp/ember/app
  decompress .device-kit/node.xz > /tmp/ember/node && chmod +x /tmp/ember/node
  decompress .device-kit/app.tar.xz | tar -C /tmp/ember -x
  cp .device-kit/VERSION /tmp/ember/VERSION
fi
# The loaders, as the device tool's README says, where the image has none (those packages may go to /).
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in .device-kit/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; fi
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$egl" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"; fi
ldconfig -p | grep -E 'libvulkan\.so|libGLdispatch' | head -3
export EMBERLM_CACHE=/tmp/ember/cache
nvidia-smi -L 2>/dev/null
echo "kit: $(cat .device-kit/VERSION); node $(/tmp/ember/node -v)"
name=${1:-gpu-bench}
cd /tmp/ember/app
if [ -n "${ORACLE:-}" ]; then # greedy ids against the shared oracles (bench/gpu/oracle_check.py)
  python3 "$repo/bench/gpu/oracle_check.py" /tmp/ember/node bin/emberlm.js "$repo/.device-kit/oracle" 2>&1 | tee -a "$out/$name.txt"
  exit
fi
if [ -n "${TOOL:-}" ]; then # a kernel bench (bench/gpu/tools.ts): TOOL=attention BENCH_ARGS='--ctx 128,2048 ...'
  # shellcheck disable=SC2086 # the arguments are words
  /tmp/ember/node tools/tools.js "$TOOL" ${BENCH_ARGS:-} 2>&1 | tee -a "$out/$name.txt"
  exit
fi
args=${BENCH_ARGS:---synthetic smollm2-135m:q8_0,llama-3.2-1b:q8_0 --scales f16,f32 --prompt-tokens 128,2048 --gen-tokens 64 --repeats 3}
# shellcheck disable=SC2086 # the arguments are words
/tmp/ember/node bin/emberlm.js bench $args --out "$out/$name.json" 2>&1 | tee "$out/$name.txt"
