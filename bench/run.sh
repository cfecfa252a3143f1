#!/usr/bin/env bash
# bench/run.sh — the benchmark suite of issue #8 (method and results in
# BENCHMARKS.md). Builds the binaries, starts every server under test side by
# side, runs loadgen against each in interleaved rounds and prints the raw
# outputs and the ratios. Everything listens on loopback, ports 7600–7619:
#
#   7600 NATS JetStream (loadgen nats, file storage)   7601 webhookd   7611 webhookd admin
#   7602 ceiling (loadgen serve)   7603 ideal (loadgen serve)   7604 Node (bench/node)
#   7610 key server (the Plaid simulator inside loadgen ingest/burst)
#
# Usage: bench/run.sh [all|ingest|burst|fetch|micro]...   (default: all)
# Knobs (environment): ROUNDS (5), REQUESTS (20000), CONNS (32), OUT (bench/out).
# Needs Go; the Node comparison also needs node and npm (skipped without them).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench/out}
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-20000}
CONNS=${CONNS:-32}
BIN=$OUT/bin
mkdir -p "$BIN"
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}
trap cleanup EXIT

# wait_port HOST:PORT — wait until something accepts connections there.
wait_port() {
	local i
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "nothing listening on $1" >&2
	return 1
}

build() {
	echo "## build"
	CGO_ENABLED=0 go build -trimpath -o "$BIN/" ./cmd/webhookd ./cmd/fetcher ./cmd/loadgen
	if command -v npm >/dev/null && [ ! -d bench/node/node_modules ]; then
		(cd bench/node && npm ci --no-audit --no-fund --silent)
	fi
}

machine() {
	echo "## machine"
	echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sm)"
	go version
	if command -v node >/dev/null; then echo "node $(node --version)"; fi
	date -u +%Y-%m-%dT%H:%MZ
}

# start_servers starts NATS, webhookd, the two bare handlers and the Node
# server, all pointing at the key server loadgen will serve on 7610.
start_servers() {
	rm -rf "$OUT/nats"
	"$BIN/loadgen" nats --port 7600 --store-dir "$OUT/nats" >"$OUT/nats.log" 2>&1 &
	PIDS+=($!)
	wait_port 127.0.0.1:7600
	PLAID_SECRET=test_secret "$BIN/webhookd" --listen 127.0.0.1:7601 --admin-listen 127.0.0.1:7611 \
		--nats-url nats://127.0.0.1:7600 --plaid-base-url http://127.0.0.1:7610 --plaid-client-id test_client_id \
		>"$OUT/webhookd.log" 2>&1 &
	PIDS+=($!)
	wait_port 127.0.0.1:7601
	"$BIN/loadgen" serve --mode ceiling --listen 127.0.0.1:7602 --nats-url nats://127.0.0.1:7600 >"$OUT/ceiling.log" 2>&1 &
	PIDS+=($!)
	"$BIN/loadgen" serve --mode ideal --listen 127.0.0.1:7603 --nats-url nats://127.0.0.1:7600 \
		--plaid-base-url http://127.0.0.1:7610 >"$OUT/ideal.log" 2>&1 &
	PIDS+=($!)
	wait_port 127.0.0.1:7602
	wait_port 127.0.0.1:7603
	NODE_TARGET=()
	if command -v node >/dev/null && [ -d bench/node/node_modules ]; then
		LISTEN=127.0.0.1:7604 NATS_URL=nats://127.0.0.1:7600 PLAID_BASE_URL=http://127.0.0.1:7610 \
			node bench/node/server.mjs >"$OUT/node.log" 2>&1 &
		PIDS+=($!)
		wait_port 127.0.0.1:7604
		NODE_TARGET=(--target node=http://127.0.0.1:7604/plaid/webhook)
	fi
}

ingest() {
	echo "## ingest (items 1 and 2): $ROUNDS rounds of $REQUESTS requests per target, $CONNS connections"
	start_servers
	"$BIN/loadgen" ingest --nats-url nats://127.0.0.1:7600 --key-server 127.0.0.1:7610 \
		--conns "$CONNS" --requests "$REQUESTS" --rounds "$ROUNDS" \
		--target webhookd=http://127.0.0.1:7601/plaid/webhook \
		--target ceiling=http://127.0.0.1:7602/plaid/webhook \
		--target ideal=http://127.0.0.1:7603/plaid/webhook \
		"${NODE_TARGET[@]}" \
		--half-load-of ideal --half-load-targets webhookd,ideal --half-load-seconds 4 \
		--compare webhookd/ideal,webhookd/ceiling,webhookd/node,ideal/ceiling
	cleanup
}

burst() {
	echo "## burst (item 3): 1,000 concurrent webhooks with a kid webhookd has never seen"
	start_servers
	"$BIN/loadgen" burst --url http://127.0.0.1:7601/plaid/webhook --key-server 127.0.0.1:7610 --n 1000
	cleanup
}

fetch() {
	echo "## fetcher (items 4, 5, 6)"
	"$BIN/loadgen" fetch --fetcher-bin "$BIN/fetcher" --webhookd-bin "$BIN/webhookd" --work-dir "$OUT/fetch"
}

micro() {
	echo "## micro-benchmarks (items 3 and 7), benchstat-friendly"
	go test -run NONE -bench . -benchmem -count 3 -benchtime 0.5s \
		./internal/verify ./internal/events ./internal/fetch ./cmd/loadgen ./internal/app/webhookd
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(all)
machine
build
for s in "${stages[@]}"; do
	case $s in
	all) ingest; burst; fetch; micro ;;
	ingest | burst | fetch | micro) "$s" ;;
	*) echo "unknown stage $s (want all, ingest, burst, fetch, micro)" >&2; exit 2 ;;
	esac
done
