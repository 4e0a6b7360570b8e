#!/usr/bin/env bash
# Builds Baton's container image from the Dockerfile, labelled with the
# version, commit and date that `baton version` also prints:
#
#   scripts/docker-build.sh [TAG]             # TAG defaults to baton:<version>
#   DOCKER_BUILD_FLAGS="--network host --build-arg GO_IMAGE=… --build-arg RUNTIME_IMAGE=…" scripts/docker-build.sh
#
# Lints the Dockerfile with hadolint first when it is installed.
set -euo pipefail

cd "$(dirname "$0")/.."
version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
date="$(git show -s --format=%cI HEAD 2>/dev/null | xargs -r date -u +%Y-%m-%dT%H:%M:%SZ -d || date -u +%Y-%m-%dT%H:%M:%SZ)"
tag="${1:-baton:${version}}"

if command -v hadolint >/dev/null; then
	hadolint Dockerfile
fi
# shellcheck disable=SC2086 # DOCKER_BUILD_FLAGS is a list of flags
docker build ${DOCKER_BUILD_FLAGS:-} \
	--build-arg VERSION="$version" --build-arg COMMIT="$commit" --build-arg DATE="$date" \
	-t "$tag" .
docker image inspect --format 'built {{index .RepoTags 0}}: {{.Size}} bytes' "$tag"
