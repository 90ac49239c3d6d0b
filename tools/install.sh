#!/usr/bin/env bash
# Installs what NACOS needs on a fresh Debian machine: the cross compilers and emulator (system
# packages) and the pinned Python stack with NACOS itself (editable, so targets/ and schedules/ of
# this checkout are used). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user cmake dataset-fashion-mnist)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# torch==2.13.0 is pinned in pyproject.toml: pip then takes the local CPU wheel instead of CUDA builds.
python3 -m pip install -q --root-user-action=ignore -e ".[test]"
python3 -c "import nacos, tvm, torch; print('nacos ready: tvm', tvm.__version__, 'torch', torch.__version__)"
