#!/usr/bin/env bash
# Packs what `emberlm bench` needs on a lent GPU machine (the `device` tool) into .device-kit/ (ignored by git,
# ~30 MB): that machine has no Node.js, no npm registry and maybe no Vulkan loader, and takes at most 64 MiB of
# carried files. Node's binary, the bundled CLI (dist/, bin/), the runtime packages it imports (webgpu with the
# linux-x64 Dawn only, @huggingface/tokenizers and jinja, comlink) and this machine's Vulkan loader.
# Then: device run, carry ['.device-kit'], command 'bash bench/gpu/run.sh' (see that file).
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build --silent
kit=.device-kit
rm -rf "$kit" && mkdir -p "$kit"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
app="$stage/app"
mkdir -p "$app/node_modules/webgpu/dist/linux-x64" "$app/node_modules/@huggingface" "$app/vulkan"
cp -r bin dist package.json "$app/"
cp node_modules/webgpu/{index.js,package.json} "$app/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$app/node_modules/webgpu/dist/linux-x64/"
cp -r node_modules/@huggingface/tokenizers node_modules/@huggingface/jinja "$app/node_modules/@huggingface/"
cp -r node_modules/comlink "$app/node_modules/"
cp -L "$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')" "$app/vulkan/libvulkan.so.1"
tar -C "$stage" -cJf "$kit/app.tar.xz" app
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$kit/node.xz"
echo "$(node -v) $(git rev-parse --short HEAD)" > "$kit/VERSION"
du -sh "$kit"/*
