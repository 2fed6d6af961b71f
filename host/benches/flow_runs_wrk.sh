#!/usr/bin/env bash
# Load test of POST /api/v1/flows/{id}/runs against the real `thinkfleet serve` (release
# build), driven by wrk from its own process. One-step flow: the postgres piece's
# `connection_uri` (no outbound call; the connection is resolved and decrypted, the use
# and the run are recorded). Needs wrk (`apt-get install -y wrk`).
#
#   bash host/benches/flow_runs_wrk.sh [CONNECTIONS=16] [SECONDS=10] [RUST_LOG=warn]
#
# Environment:
#   PG=postgres://postgres@127.0.0.1:5432   run on PostgreSQL: a fresh database on that
#                                           server, dropped at the end (default: SQLite
#                                           in a temp data dir)
#   SERVERS=2                               two servers on the one database (PostgreSQL
#                                           only), each loaded by its own wrk with half
#                                           the connections; the runs/s are added up
#   BIN=path/to/thinkfleet                  a binary built elsewhere (to compare builds)
#   BULK=5000                               (PostgreSQL) that many more connections and
#                                           flows in the project before the load, so the
#                                           run path's statements meet tables of a real
#                                           size (rows written by SQL; never run)
#   METRICS=1                               serve /metrics (its recorder cost nothing
#                                           measurable here)
#                                           and print how many rows each group-committed
#                                           batch held, per server
#
# Besides wrk's figures it prints the CPU time each run cost: the server(s)' and, on
# PostgreSQL, the database's (the local postmaster and its children), user and system, from
# /proc/<pid>/stat across the load. Throughput moves with the shared VM's speed from day
# to day; CPU per run moves much less, so it is the figure to compare builds by.
set -euo pipefail
cd "$(dirname "$0")/../.."
connections="${1:-16}"
seconds="${2:-10}"
log="${3:-warn}"
servers="${SERVERS:-1}"
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin thinkfleet
    BIN=target/release/thinkfleet
fi
data="$(mktemp -d)"
pids=()
database=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$database" ]; then
        psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $database" >/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT
if [ -n "${PG:-}" ]; then
    database="tf_bench_$$"
    psql "$PG/postgres" -qc "CREATE DATABASE $database" >/dev/null
    export DATABASE_URL="$PG/$database"
elif [ "$servers" != 1 ]; then
    echo "SERVERS=$servers needs PG (several servers share one PostgreSQL database)" >&2
    exit 2
fi
AP_ENCRYPTION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export AP_ENCRYPTION_KEY
token="$("$BIN" project create bench --json --data-dir "$data" |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')"
ports=()
for i in $(seq 1 "$servers"); do
    port=$((18079 + i))
    ports+=("$port")
    env ${METRICS:+THINKFLEET_METRICS_TOKEN=bench-metrics} RUST_LOG="$log" "$BIN" serve --data-dir "$data" --listen "127.0.0.1:$port" \
        >"$data/serve-$i.log" 2>&1 &
    pids+=("$!")
done
for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
        sleep 0.2
    done
done
base="http://127.0.0.1:${ports[0]}/api/v1"
# shellcheck source=host/benches/flow_setup.sh
source host/benches/flow_setup.sh
flow_setup "$base" postgres connection_uri \
    '{"type":"custom","props":{"host":"db.internal","database":"app","user":"svc","password":"pw"}}'
if [ -n "${BULK:-}" ] && [ -n "$database" ]; then
    psql "$DATABASE_URL" -q -v bulk="$BULK" <<'SQL'
INSERT INTO connections (id, project_id, external_id, display_name, piece, auth_type,
    status, key_version, nonce, ciphertext, created_at, updated_at)
SELECT 'bulk-' || g, c.project_id, 'bulk-' || g, 'Bulk', c.piece, c.auth_type, 'active',
    c.key_version, c.nonce, c.ciphertext, 0, 0
FROM (SELECT * FROM connections LIMIT 1) c, generate_series(1, :bulk) g;
INSERT INTO flows (id, project_id, name, definition, created_at, updated_at)
SELECT 'bulk-' || g, f.project_id, 'Bulk', f.definition, 0, 0
FROM (SELECT * FROM flows LIMIT 1) f, generate_series(1, :bulk) g;
ANALYZE;
SQL
fi
if [ $((connections % servers)) -ne 0 ]; then
    echo "CONNECTIONS ($connections) must be a multiple of SERVERS ($servers)" >&2
    exit 2
fi
per_server=$((connections / servers))
# CPU ticks of processes: one line per pid, "pid utime stime cutime cstime" (cutime and
# cstime: the children it has reaped, which is how an exited PostgreSQL backend's time
# stays counted, on the postmaster).
ticks() {
    local pid
    for pid in "$@"; do
        awk -v pid="$pid" '{ sub(/^.*\) /, ""); print pid, $12, $13, $14, $15 }' \
            "/proc/$pid/stat" 2>/dev/null || true
    done
}
# The postmaster of the PostgreSQL that PG names, and its children: found through its
# checkpointer's pid, taken only when that pid is a local `postgres` process (nothing
# for a server on another machine, or without PG). A backend reaped between the reads
# of the postmaster and of its children is miscounted; rare with pooled connections.
db_pids() {
    local checkpointer postmaster
    [ -n "$database" ] || return 0
    checkpointer="$(psql "$PG/postgres" -Atc \
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" || true)"
    [ -n "$checkpointer" ] && [ "$(ps -o comm= -p "$checkpointer" || true)" = postgres ] ||
        return 0
    postmaster="$(ps -o ppid= -p "$checkpointer" | tr -d ' ')"
    echo "$postmaster"
    pgrep -P "$postmaster" || true
}
ticks "${pids[@]}" >"$data/server-ticks-0"
# shellcheck disable=SC2046
ticks $(db_pids) >"$data/db-ticks-0"
wrks=()
for i in "${!ports[@]}"; do
    wrk -t1 -c"$per_server" -d"${seconds}s" --latency -s "$data/run.lua" \
        "http://127.0.0.1:${ports[$i]}/api/v1/flows/$flow/runs" >"$data/wrk-$i.txt" &
    wrks+=("$!")
done
for pid in "${wrks[@]}"; do wait "$pid"; done
ticks "${pids[@]}" >"$data/server-ticks-1"
# shellcheck disable=SC2046
ticks $(db_pids) >"$data/db-ticks-1"
total=0
for i in "${!ports[@]}"; do
    echo "== server $((i + 1)) of $servers (${per_server} connections)"
    cat "$data/wrk-$i.txt"
    rate="$(awk '/^Requests\/sec/ {print $2}' "$data/wrk-$i.txt")"
    total="$(python3 -c "print(round($total + $rate))")"
done
# Every request must be answered 2xx: a refused one (busy, database error) or a socket
# error would distort the figure.
failed="$(grep -h "Non-2xx\|Socket errors" "$data"/wrk-*.txt || true)"
[ -z "$failed" ] || { echo "runs failed: $failed" >&2; exit 1; }
echo "== total: $total runs/s ($servers server(s), $([ -n "${PG:-}" ] && echo PostgreSQL || echo SQLite))"
# CPU per run: ticks -> µs, divided by the runs wrk counted (its summary line).
runs=0
for f in "$data"/wrk-*.txt; do
    runs=$((runs + $(awk '/requests in/ {print $1}' "$f")))
done
python3 - "$runs" "$(getconf CLK_TCK)" "$data" <<'PY'
import sys

runs, hz, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def load(name):
    rows = {}
    for line in open(f"{data}/{name}"):
        pid, *t = line.split()
        rows[pid] = list(map(int, t))
    return rows


def spent(who):
    """(user, system) ticks over the load: each process's own, plus what its reaped
    children added (an exited backend's whole time) less what they had at the start."""
    before, after = load(f"{who}-ticks-0"), load(f"{who}-ticks-1")
    user = system = 0
    for pid, (u, s, cu, cs) in after.items():
        u0, s0, cu0, cs0 = before.get(pid, [0, 0, cu, cs])
        user += u - u0 + cu - cu0
        system += s - s0 + cs - cs0
    for pid, (u0, s0, _, _) in before.items():
        if pid not in after:
            user -= u0
            system -= s0
    return user, system


def per(t):
    return t * 1e6 / hz / max(runs, 1)


parts = []
for who, name in (("server", "server"), ("db", "database")):
    user, system = spent(who)
    if user + system:
        parts.append(f"{name} {per(user + system):.0f} µs "
                     f"(user {per(user):.0f}, system {per(system):.0f})")
print(f"== CPU per run: {'; '.join(parts)} over {runs} runs")
PY
# How full the group-committed batches were (rows per batch, from each server's /metrics).
[ -n "${METRICS:-}" ] || exit 0
for port in "${ports[@]}"; do
    { curl -sf -H 'Authorization: Bearer bench-metrics' "http://127.0.0.1:$port/metrics" ||
        echo "no /metrics on :$port" >&2; } |
        awk -v port="$port" '
            /^thinkfleet_store_batch_rows_(sum|count)\{/ {
                match($0, /writer="[^"]*"/); w = substr($0, RSTART + 8, RLENGTH - 9)
                if ($0 ~ /_sum/) sum[w] = $NF; else count[w] = $NF
            }
            END { for (w in count) if (count[w] > 0)
                printf "== server :%s batches of %s: %d, %.1f rows each\n", port, w, count[w], sum[w] / count[w] }'
done
