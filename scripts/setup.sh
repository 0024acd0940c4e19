#!/usr/bin/env bash
# One-time machine set-up, idempotent: Debian's Fashion-MNIST package (the example's data) and a C compiler
# (the native-fix tests build two tiny shared libraries). The .NET SDK itself is expected on PATH.
set -euo pipefail
need=()
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need+=(dataset-fashion-mnist)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v dotnet >/dev/null 2>&1 || { echo "setup: the .NET 10 SDK is required (https://dot.net)" >&2; exit 2; }
