#!/usr/bin/env bash
# Packs what `emberlm bench` needs on a lent GPU machine (the `device` tool) into .device-kit/ (ignored by git,
# ~30 MB): that machine has no Node.js, no npm registry and maybe no Vulkan loader, and takes at most 64 MiB of
# carried files. Node's binary, the bundled CLI (dist/, bin/), the runtime packages it imports (webgpu with the
# linux-x64 Dawn only, @huggingface/tokenizers and jinja, comlink), and the Vulkan and GL loader packages that the
# device tool's README names for a machine without them (libvulkan1, libglvnd0, ...: the NVIDIA ICD needs libglvnd).
# And bench/gpu/tools.ts bundled (tools/tools.js: the attention and matmul kernel benches), and the oracle check's
# models and references from ../shared/models (oracle/, ~6 MB).
# Then: device run, carry ['.device-kit'], command 'bash bench/gpu/run.sh' (see that file).
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build --silent
kit=.device-kit
rm -rf "$kit" && mkdir -p "$kit"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
app="$stage/app"
mkdir -p "$app/node_modules/webgpu/dist/linux-x64" "$app/node_modules/@huggingface" "$kit/debs"
cp -r bin dist package.json "$app/"
TOOLS_OUT="$app/tools" npx vite build --config bench/gpu/vite.tools.ts --logLevel warn # the kernel benches: tools/tools.js
cp node_modules/webgpu/{index.js,package.json} "$app/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$app/node_modules/webgpu/dist/linux-x64/"
cp -r node_modules/@huggingface/tokenizers node_modules/@huggingface/jinja "$app/node_modules/@huggingface/"
cp -r node_modules/comlink "$app/node_modules/"
apt="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$stage/lists"
mkdir -p "$stage/lists/partial"
# shellcheck disable=SC2086 # the options are words
apt-get $apt update -qq && (cd "$kit/debs" && apt-get $apt download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
tar -C "$stage" -cJf "$kit/app.tar.xz" app
# The oracle check's models and references (bench/gpu/oracle_check.py), ~6 MB, from the shared folder beside the repo.
shared=../shared/models
mkdir -p "$kit/oracle"
cp "$shared"/stories260K/stories260K.gguf "$shared"/stories260K-derived/stories260K-Q8_0.gguf "$kit/oracle/"
cp "$shared"/oracle/stories260K{,-Q8_0}.{llama-cpp,numpy-ref}.json "$shared"/oracle/stories260K.llama-cpp.kvf16.json "$kit/oracle/"
for t in Q8_0 Q4_K_M Q6_K; do cp "$shared"/kquants-real/kqr-$t.{gguf,llama-cpp.json,numpy-ref.json} "$kit/oracle/"; done
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$kit/node.xz"
echo "$(node -v) $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes) $(date -u +%FT%TZ)" > "$kit/VERSION" # run.sh unpacks a kit once
du -sh "$kit"/*
