#!/usr/bin/env bash
# Headless Chromium for the dashboard tests: Debian's `chromium` package (no browser download from elsewhere), and
# CJK fonts so that screenshots show Chinese. Idempotent: installs only what is missing. Prints the executable.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "missing ${missing[*]}; installing needs root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
command -v chromium
