# Sourced by the wrk bench scripts: sets up the one-step flow they load. Needs `token`
# (the project's API token) and `data` (a scratch directory).
#
#   flow_setup BASE_URL PIECE ACTION CONNECTION_VALUE_JSON
#
# makes the connection `bench` of PIECE with that value and a flow whose one step calls
# ACTION with it, runs the flow once — the run must succeed: a failed run answers 200
# too (its report says why), and a bench of failures would measure nothing — and sets
# `flow` (its id) and writes `$data/run.lua` (wrk's POST with the token).

api() { curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@"; }

json_field() { python3 -c "import sys, json; print(json.load(sys.stdin)[\"$1\"])"; }

flow_setup() {
    local base="$1" piece="$2" action="$3" value="$4" status
    api -d "{\"piece\":\"$piece\",\"display_name\":\"bench\",\"external_id\":\"bench\",\"value\":$value}" \
        "$base/connections" >/dev/null
    flow="$(api -d "{\"name\":\"bench\",\"steps\":[{\"name\":\"step\",\"piece\":\"$piece\",\"action\":\"$action\",\"auth\":\"{{connections['bench']}}\"}]}" \
        "$base/flows" | json_field id)"
    status="$(api -X POST "$base/flows/$flow/runs" | json_field status)"
    if [ "$status" != succeeded ]; then
        echo "the flow's first run did not succeed: $status" >&2
        exit 1
    fi
    printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$data/run.lua"
}
