#!/usr/bin/env bash
# Installs SoftHSM2 for tests/crypto_pkcs11.rs when it is absent. Idempotent: does nothing
# when softhsm2-util is already on PATH. Call from .ci/run before `cargo test`.
set -euo pipefail
if command -v softhsm2-util >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2
command -v softhsm2-util >/dev/null
