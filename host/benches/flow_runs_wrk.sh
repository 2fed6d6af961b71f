#!/usr/bin/env bash
# Load test of POST /api/v1/flows/{id}/runs against the real `thinkfleet serve` (release
# build, SQLite in a temp data dir), driven by wrk from its own process. One-step flow:
# the postgres piece's `connection_uri` (no outbound call; the connection is resolved and
# decrypted, the use is recorded). Needs wrk (`apt-get install -y wrk`).
#
#   bash host/benches/flow_runs_wrk.sh [CONNECTIONS=16] [SECONDS=10] [RUST_LOG=warn]
set -euo pipefail
cd "$(dirname "$0")/../.."
connections="${1:-16}"
seconds="${2:-10}"
log="${3:-warn}"
cargo build --release --bin thinkfleet
bin=target/release/thinkfleet
data="$(mktemp -d)"
port=18080
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
token="$("$bin" project create bench --json --data-dir "$data" |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')"
RUST_LOG="$log" "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$data/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/api/v1/openapi.json" >/dev/null && break; sleep 0.2; done
api() { curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
api -d '{"piece":"postgres","display_name":"db","value":{"type":"custom","props":{"host":"db.internal","database":"app","user":"svc","password":"pw"}}}' \
    "http://127.0.0.1:$port/api/v1/connections" >/dev/null
flow="$(api -d "{\"name\":\"bench\",\"steps\":[{\"name\":\"uri\",\"piece\":\"postgres\",\"action\":\"connection_uri\",\"auth\":\"{{connections['db']}}\"}]}" \
    "http://127.0.0.1:$port/api/v1/flows" | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])')"
printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$data/run.lua"
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$data/run.lua" \
    "http://127.0.0.1:$port/api/v1/flows/$flow/runs"
