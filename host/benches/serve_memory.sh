#!/usr/bin/env bash
# Memory of `thinkfleet serve` (release build, SQLite): resident set size at rest and with
# every sandbox slot held by an in-flight call. Each call is a flow run whose `openai`
# step waits on a loopback server that answers after HOLD seconds, so SLOTS clients keep
# SLOTS sandboxed calls in flight at once; (peak − rest) / SLOTS is the memory one
# in-flight call costs (the baseline is taken after one run). Needs wrk (`apt-get install -y wrk`).
#
#   bash host/benches/serve_memory.sh [SLOTS=64] [HOLD=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
slots="${1:-64}"
hold="${2:-3}"
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin thinkfleet
    BIN=target/release/thinkfleet
fi
data="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$data"' EXIT
slow_port=18180
port=18181
# The slow service: answers every request after `hold` seconds (with OpenAI's list of
# models), many requests at once.
cat >"$data/slow.py" <<'PY'
import http.server, socketserver, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(float(sys.argv[2]))
        body = b'{"data":[{"id":"gpt-4o-mini"}]}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$data/slow.py" "$slow_port" "$hold" >"$data/slow.log" 2>&1 &
pids+=("$!")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
AP_ENCRYPTION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export AP_ENCRYPTION_KEY
token="$("$BIN" project create bench --json --data-dir "$data" |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')"
RUST_LOG=warn THINKFLEET_MAX_CONCURRENT_CALLS="$slots" THINKFLEET_MAX_CALLS_PER_PROJECT="$slots" \
    THINKFLEET_MAX_OUTBOUND_PER_PROJECT="$slots" \
    "$BIN" serve --data-dir "$data" --listen "127.0.0.1:$port" \
    --outbound-override "api.openai.com=http://127.0.0.1:$slow_port" >"$data/serve.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port/api/v1"
# One run first (flow_setup checks it succeeds); the baseline is taken after it, so
# first-use costs are not counted per call.
# shellcheck source=host/benches/flow_setup.sh
source host/benches/flow_setup.sh
flow_setup "$base" openai list_models '{"type":"secret_text","secret_text":"sk-memory-bench"}'
idle="$(rss "$server")"
# SLOTS clients for two holds: every slot busy. Two rounds; the second one's peak is
# the figure (the first one's includes first-use allocations).
peak_during() {
    wrk -t1 -c"$slots" -d"$((2 * hold + 1))s" --timeout 30s -s "$data/run.lua" \
        "$base/flows/$flow/runs" >"$data/wrk.txt" &
    local load=$! peak=0 now
    while kill -0 "$load" 2>/dev/null; do
        now="$(rss "$server")"
        [ "$now" -gt "$peak" ] && peak="$now"
        sleep 0.1
    done
    if grep -q "Non-2xx" "$data/wrk.txt"; then cat "$data/wrk.txt" >&2; exit 1; fi
    echo "$peak"
}
first="$(peak_during)"
full="$(peak_during)"
sleep "$hold"
after="$(rss "$server")"
echo "SLOTS=$slots HOLD=$hold (RSS in KiB)"
echo "after one run, nothing in flight:       $idle"
echo "peak, first round of $slots in flight:       $first"
echo "peak, second round of $slots in flight:      $full"
echo "quiet after the rounds:                  $after"
echo "per in-flight call, (peak - rest) / $slots:  $(((full - idle) / slots))"
