#!/usr/bin/env bash
# Installs what WebGPU needs on a machine without a GPU (Debian bookworm):
#  - Mesa >= 25 lavapipe (software Vulkan) from bookworm-backports, for Dawn in Node (npm package `webgpu`);
#    bookworm's own Mesa 22 is too old for Dawn.
#  - Debian's chromium, whose SwiftShader backs the browser tests.
# Idempotent: exits quickly when everything is already there. On a machine with a real GPU nothing is needed;
# set EMBERLM_SKIP_SYSTEM_INSTALL=1 to skip it.
set -euo pipefail
[ "${EMBERLM_SKIP_SYSTEM_INSTALL:-0}" = 1 ] && exit 0

lvp_icd=/usr/share/vulkan/icd.d/lvp_icd.json
mesa_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && [ -f "$lvp_icd" ] && dpkg --compare-versions "$v" ge 25
}
chromium_ok() { command -v chromium >/dev/null 2>&1; }

if mesa_ok && chromium_ok && dpkg -s libvulkan1 >/dev/null 2>&1; then
  echo "install-webgpu: lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) and chromium already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
if [ "$codename" = bookworm ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
if [ "$codename" = bookworm ]; then
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
$SUDO apt-get install -y -qq chromium >/dev/null
mesa_ok || { echo "install-webgpu: mesa-vulkan-drivers >= 25 did not install" >&2; exit 1; }
echo "install-webgpu: installed lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) and $(chromium --version 2>/dev/null)"
