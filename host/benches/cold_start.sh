#!/usr/bin/env bash
# Cold start of `thinkfleet serve`: from exec to the first 200 from /readyz, with every
# piece already in the compiled-component cache (warm) and with an empty cache (each
# piece compiled by cranelift), the two interleaved. The pieces: the six examples plus
# two installed into the database (the test pieces `versioned` and `tenant`), so the
# installed pieces' path is in the figure too. SQLite in a temp data dir.
#
#   bash host/benches/cold_start.sh [ROUNDS=5] [PROFILE=release]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
profile="${2:-release}"
cargo build --profile "$profile" --bin thinkfleet
cargo build -p thinkfleet-tests --bins # builds the test pieces into target/pieces
dir=target/$([ "$profile" = dev ] && echo debug || echo "$profile")
bin="$dir/thinkfleet"
data="$(mktemp -d)"
cache="$data/cache"
port=18090
server=""
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
export THINKFLEET_DATA_DIR="$data" THINKFLEET_CACHE_DIR="$cache" RUST_LOG=warn
"$bin" piece install target/pieces/versioned-1.wasm >/dev/null
"$bin" piece install target/pieces/tenant.wasm >/dev/null

start_once() {
    local t0 t1
    t0=$(date +%s%N)
    "$bin" serve --listen "127.0.0.1:$port" >/dev/null 2>"$data/serve.log" &
    server=$!
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.005; done
    t1=$(date +%s%N)
    kill "$server"
    wait "$server" 2>/dev/null || true
    echo $(((t1 - t0) / 1000000))
}

warm=()
cold=()
start_once >/dev/null # fills the cache
for _ in $(seq 1 "$rounds"); do
    warm+=("$(start_once)")
    rm -rf "$cache"
    cold+=("$(start_once)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "pieces: 6 examples + 2 installed; rounds: $rounds; profile: $profile"
echo "warm cache (precompiled): ms ${warm[*]} (median $(median "${warm[@]}"))"
echo "empty cache (compiled):   ms ${cold[*]} (median $(median "${cold[@]}"))"
