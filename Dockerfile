# syntax=docker/dockerfile:1
#
# graceguard's container image: one static binary on distroless, run as an
# unprivileged user, happy on a read-only root filesystem.
#
#   docker build -t graceguard .
#   docker build --build-arg GEOIP_DEMO=1 -t graceguard:demo .     # with the demo GeoIP databases
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t graceguard .
#
# cmd/graceguard/dockerfile_test.go runs the build command below, as written
# here, and checks what it makes; keep the go build in one RUN.

ARG GO_VERSION=1.26

# The build runs on the builder's own platform and cross-compiles, so an
# arm64 image does not need emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Set by BuildKit from --platform; empty (the builder's own) without it.
ARG TARGETOS
ARG TARGETARCH
# VERSION lands in main.version, which `graceguard version` prints; empty
# falls back to what Go recorded, "(devel)" for a source tree.
ARG VERSION=
# The demo GeoIP databases place documentation addresses in invented
# networks: useful for `graceguard demo` and `rules test`, not against real
# traffic, so the image leaves them out unless GEOIP_DEMO=1.
ARG GEOIP_DEMO=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    tags=nogeoipdemo; if [ "$GEOIP_DEMO" = 1 ]; then tags=; fi; \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -tags "$tags" -ldflags "-s -w -X main.version=$VERSION" \
        -o /out/graceguard ./cmd/graceguard
# The state directory, created here because the final image has no shell;
# a volume mounted over it starts out owned by the user that writes it.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/graceguard /usr/local/bin/graceguard
COPY --from=build --chown=65532:65532 /out/state /var/lib/graceguard
# watch's default --state-dir is relative (.graceguard), so working here
# keeps every file graceguard writes in the volume, never on the root
# filesystem, even when nobody passes --state-dir.
WORKDIR /var/lib/graceguard
VOLUME ["/var/lib/graceguard"]
# Numeric, so Kubernetes can check runAsNonRoot against it.
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/graceguard"]
CMD ["--help"]
