#!/usr/bin/env bash
# Builds Baton's release binaries with their checksums:
#
#   scripts/release.sh [VERSION]          # VERSION defaults to `git describe`
#   TARGETS="linux/amd64" scripts/release.sh v1.2.0   # fewer targets
#
# Output in dist/: baton_<version>_<os>_<arch>[.exe] and SHA256SUMS
# (check with `sha256sum -c SHA256SUMS`). Binaries are static (CGO_ENABLED=0,
# the SQLite driver is pure Go), reproducible (-trimpath, no build ids, the
# build date is the commit's date) and carry the version, the commit and the
# date that `baton version` prints. Front-end assets and templ views are
# committed, so neither npm nor templ is needed here.
set -euo pipefail

cd "$(dirname "$0")/.."
version="${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# The commit's time, not the clock's: building one commit twice gives the same bytes.
date="$(git show -s --format=%cI HEAD 2>/dev/null | xargs -r date -u +%Y-%m-%dT%H:%M:%SZ -d || date -u +%Y-%m-%dT%H:%M:%SZ)"
targets="${TARGETS:-linux/amd64 linux/arm64 darwin/arm64 windows/amd64}"
out="${DIST:-dist}"

rm -rf "$out"
mkdir -p "$out"
ldflags="-s -w -buildid= -X main.version=${version} -X main.commit=${commit} -X main.date=${date}"
for target in $targets; do
	os="${target%/*}"
	arch="${target#*/}"
	name="baton_${version}_${os}_${arch}"
	[ "$os" = windows ] && name="${name}.exe"
	echo "building $name"
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags "$ldflags" -o "$out/$name" ./cmd/baton
done
(cd "$out" && sha256sum baton_* > SHA256SUMS)
cat "$out/SHA256SUMS"
