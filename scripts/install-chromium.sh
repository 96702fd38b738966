#!/usr/bin/env bash
# Installs Debian's Chromium for the whatsapp-web plugin when it is missing (idempotent).
# The plugin's start() runs this when its browser (/usr/bin/chromium by default) is missing,
# so Chromium is only installed on hosts where a whatsapp-web instance is enabled. It can
# also be run by hand or in an image build: `bash scripts/install-chromium.sh`.
# Needs root, or sudo without a password; puppeteer's own browser download stays skipped
# (.puppeteerrc.cjs, PUPPETEER_SKIP_DOWNLOAD).
set -euo pipefail

target="${CHROMIUM_PATH:-/usr/bin/chromium}"
log() { printf '[install-chromium] %s\n' "$*" >&2; }

if [ -x "$target" ]; then
  log "$target is present: nothing to do"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found: install Chromium with your package manager and set the plugin's executablePath"
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    log "installing Chromium needs root (or passwordless sudo): run 'sudo apt-get install chromium'"
    exit 1
  fi
fi

log "installing Debian's chromium package"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2

if [ ! -x "$target" ]; then
  log "the chromium package is installed but $target is missing: set the plugin's executablePath"
  exit 1
fi
log "installed: $("$target" --version 2>/dev/null || echo "$target")"
