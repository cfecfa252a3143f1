# Make targets are shortcuts for the commands CI runs (.ci/run).
.PHONY: test lint fuzz bench build run

test:
	go test -race ./...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go mod tidy -diff
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz:
	go test -run NONE -fuzz FuzzVerify -fuzztime 30s ./internal/verify

bench:
	bench/run.sh

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/ ./cmd/...

# The container image's two binaries, built exactly as the Dockerfile builds
# them (CI has no Docker; deploy/deploytest checks the flags match).
.PHONY: image-binaries
image-binaries:
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/ ./cmd/webhookd ./cmd/fetcher

run:
	go run ./cmd/devstack
