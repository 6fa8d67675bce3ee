#!/usr/bin/env bash
# What the native WebGPU-engine tests need: a Vulkan driver. Mesa's lavapipe (a CPU Vulkan
# implementation from Debian's mesa-vulkan-drivers) runs the same WGSL kernels everywhere, so
# tests/gpu.rs and the kernel tests can insist on an adapter. Idempotent.
set -euo pipefail
if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers
fi
