# syntax=docker/dockerfile:1
#
# One image with both binaries, webhookd and fetcher:
# - they are one Go module at one version, released together and configured
#   by one Helm chart, so one image is one thing to build, scan, sign and
#   promote, and the two Deployments can never run mismatched versions;
# - `kubectl exec deploy/<release>-fetcher -- fetcher items ...` works in the
#   running image (no shell needed);
# - the cost is a few MB of the other binary in each pod.
#
# Static binaries (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") on distroless
# static: no shell, no package manager, CA certificates and tzdata only, and
# the "nonroot" user (65532), which the chart's securityContext expects.
# CI has no Docker: `make image-binaries` and deploy/deploytest build the
# binaries with exactly the flags of the `go build` line below (the test
# reads them from this file).

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/webhookd ./cmd/fetcher

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/webhookd /out/fetcher /usr/local/bin/
USER 65532:65532
# webhookd: 8080 public, 9090 admin; fetcher: 9091 admin.
EXPOSE 8080 9090 9091
# `docker run IMAGE` starts webhookd; `docker run IMAGE fetcher` the fetcher.
# The chart sets the command of each container explicitly.
CMD ["webhookd"]
