#!/usr/bin/env bash
# For machines that run Docker but cannot pull images (no registry access):
# makes local stand-ins for the Dockerfile's two base images from what this
# machine has, so the real Dockerfile builds unchanged:
#
#   baton-local/go:<go version>    this machine's Go toolchain ($(go env GOROOT)),
#                                  busybox (apt-get install busybox-static) as the shell, CA certificates
#   baton-local/static:nonroot     what distroless/static holds: CA certificates, /etc/passwd
#                                  and /etc/group with nonroot (65532), /tmp, /home/nonroot
#
# then prints the DOCKER_BUILD_FLAGS for scripts/docker-build.sh. Where images
# can be pulled, skip this: the defaults (golang, distroless) are better.
set -euo pipefail

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
busybox="$(command -v busybox || true)"
[ -n "$busybox" ] || { echo "needs a static busybox: apt-get install busybox-static" >&2; exit 1; }
goroot="$(go env GOROOT)"
gover="$(go env GOVERSION)"

# Builder: Go + busybox as /bin/sh, mkdir and friends.
b="$root/build"
mkdir -p "$b/bin" "$b/usr/local" "$b/etc/ssl/certs" "$b/tmp" "$b/root" "$b/go"
cp -a "$goroot" "$b/usr/local/go"
cp "$busybox" "$b/bin/busybox"
for tool in sh mkdir ls cp rm cat env; do ln -s busybox "$b/bin/$tool"; done
cp /etc/ssl/certs/ca-certificates.crt "$b/etc/ssl/certs/"
chmod 1777 "$b/tmp"
tar -C "$b" -c . | docker import \
	--change 'ENV PATH=/go/bin:/usr/local/go/bin:/bin' \
	--change 'ENV GOPATH=/go' --change 'ENV HOME=/root' \
	--change 'WORKDIR /go' - "baton-local/go:${gover}" >/dev/null

# Runtime: distroless/static's contents, no shell.
r="$root/runtime"
mkdir -p "$r/etc/ssl/certs" "$r/tmp" "$r/home/nonroot"
cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$r/etc/group"
chmod 1777 "$r/tmp"
chown 65532:65532 "$r/home/nonroot"
tar -C "$r" -c . | docker import --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' - baton-local/static:nonroot >/dev/null

echo "DOCKER_BUILD_FLAGS=\"--network host --build-arg GO_IMAGE=baton-local/go:${gover} --build-arg RUNTIME_IMAGE=baton-local/static:nonroot\""
