#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the rendered-book test (tests/test_book_browser.py).
# Idempotent: does nothing when a chromium binary is already on PATH (or CHROMIUM points at one).
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_chromium.sh: chromium is missing and this user cannot run apt-get;" \
             "install the Debian package 'chromium' (or set CHROMIUM=/path/to/chromium)" >&2
        exit 1
    fi
fi
echo "installing Debian chromium (for the rendered-book test) ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
