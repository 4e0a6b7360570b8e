# Baton's container image: a static binary (CGO_ENABLED=0; the SQLite driver
# is pure Go) on distroless/static, running as the unprivileged user 65532.
#
#   docker build -t baton --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(date -u +%FT%TZ) .
#   docker run -p 8080:8080 -v baton-data:/data baton
#
# scripts/docker-build.sh does this; see docs/operations.md#container-image.
# The runtime image has no shell: its instructions are in exec form, and the
# health check is `baton healthcheck`, not curl.

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
RUN go build -ldflags "-s -w -buildid= -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/baton ./cmd/baton \
 && mkdir -p /out/data

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
LABEL org.opencontainers.image.title="Baton" \
      org.opencontainers.image.description="Workflow orchestration in one binary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/baton /usr/local/bin/baton
# The data volume's mount point, owned by the runtime user (the runtime image
# has no shell to run mkdir with).
COPY --from=build --chown=65532:65532 /out/data /data
# Listen on every interface inside the container (publish the port to choose
# who reaches it); SQLite and the secrets key live on the /data volume.
ENV BATON_ADDR=0.0.0.0:8080 \
    BATON_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/baton", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/baton"]
CMD ["serve"]
