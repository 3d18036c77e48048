#!/usr/bin/env bash
# Debian packages the tests and the demo use: mosquitto (the real broker, started on loopback by the tests),
# gcc-arm-none-eabi + newlib + libstdc++ (compile rendered model data, the TFLM library and QEMU images),
# qemu-system-arm (emulated Cortex-M boards), chromium (headless dashboard tests), postgresql (the state
# backend for controller replicas; the tests initdb a throwaway server on loopback), espeak-ng (the
# synthetic speech of the keyword-spotting example), nginx-light (the static
# HTTP server devices fetch artifacts from with Range requests; the tests start one on loopback).
# Run by `make setup`: installs what is missing when run as root with apt-get, otherwise says what to install.
set -uo pipefail
PACKAGES=(mosquitto gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm chromium postgresql espeak-ng nginx-light)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || echo "apt-get update failed; trying the package lists already on the machine" >&2
    apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "missing Debian packages: ${missing[*]} (install them: sudo apt-get install ${missing[*]})" >&2
fi
