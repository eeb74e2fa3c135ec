# Builds the manager and the guard into one small image, for machines with a Docker engine. Without
# one, `make image` builds the same image (hack/image: the same files, paths, user and entrypoint;
# test/image compares this file with it) into an OCI layout. The manager runs /manager; the injected
# guard sidecar runs /guard from the same image, so both always come from the same build.
#
#   docker build -t ghcr.io/breakwater-dev/breakwater:dev .
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace

# Dependencies first, so source changes do not download modules again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/

# Static binaries: the image has no libc. The flags are hack/image's.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/guard ./cmd/guard

# Nothing but the files below: no shell, no package manager. The CA bundle is Debian's, from the
# builder; /etc/passwd and /etc/group name the nonroot user 65532.
FROM scratch
COPY hack/image/ociimage/rootfs/etc/passwd /etc/passwd
COPY hack/image/ociimage/rootfs/etc/group /etc/group
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/manager /manager
COPY --from=builder /out/guard /guard
USER 65532:65532
ENTRYPOINT ["/manager"]
