#!/usr/bin/env bash
# Builds FerretDB v1.24.2 from the Go module proxy into $1 (a file path), with the patches in
# scripts/ferretdb-patches applied.
# `go install ...@v1.24.2` cannot be used as is: it asks the proxy for the module's version
# list (refused here), and a build outside FerretDB's git tree lacks build/version/version.txt,
# which FerretDB requires. So: a throwaway module that requires it, with a patched copy.
set -euo pipefail
dest="$1"
version="v1.24.2"
patches="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ferretdb-patches"
command -v go >/dev/null || { echo "FerretDB needs Go to build (https://go.dev/dl); none on PATH" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<GOMOD
module dialmesh.local/ferretdb-build

go 1.24

require github.com/FerretDB/FerretDB $version
GOMOD
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/FerretDB/FerretDB/cmd/ferretdb"\n' > tools.go
echo "[ferretdb] resolving modules (go mod tidy)" >&2
go mod tidy >&2
src="$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)"
cp -r "$src" ferretdb-src
chmod -R u+w ferretdb-src
echo "$version" > ferretdb-src/build/version/version.txt
# Our fixes to its SQLite backend (scripts/ferretdb-patches/*.patch; each says why).
for p in "$patches"/*.patch; do
  echo "[ferretdb] applying $(basename "$p")" >&2
  if command -v patch >/dev/null; then
    patch -d ferretdb-src -p1 --forward --quiet < "$p" >&2
  else
    git -C ferretdb-src apply -p1 "$p" >&2
  fi
done
go mod edit -replace "github.com/FerretDB/FerretDB=./ferretdb-src"
echo "[ferretdb] building $version" >&2
mkdir -p "$(dirname "$dest")"
CGO_ENABLED=0 go build -o "$dest.tmp.$$" github.com/FerretDB/FerretDB/cmd/ferretdb >&2
mv "$dest.tmp.$$" "$dest"
