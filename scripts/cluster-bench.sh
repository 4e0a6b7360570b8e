#!/usr/bin/env bash
# Two `baton serve` instances on one new PostgreSQL database, driven by the
# steady-rate bench (docs/performance.md, "Several instances"):
#
#   scripts/cluster-bench.sh RATE DURATION [ADMIN_URL]
#   scripts/cluster-bench.sh 50 60s
#
# LOGDIR, when set, receives the servers' logs at exit.
# ADMIN_URL (default $BATON_TEST_POSTGRES_URL) is a server where the script may
# create and drop a database. Everything it starts is stopped at exit.
set -euo pipefail
rate=${1:-50}
duration=${2:-60s}
admin=${3:-${BATON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}
work=$(mktemp -d)
db="baton_bench_$(date +%s)_$$"
dburl=$(printf '%s' "$admin" | sed -E "s#/[^/?]*(\?|$)#/$db\1#")
bin="$work/baton"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${LOGDIR:-}" ]; then cp "$work"/serve-*.log "$LOGDIR"/ 2>/dev/null || true; fi
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$bin" ./cmd/baton
psql "$admin" -qc "CREATE DATABASE $db"
export BATON_DATABASE_URL="$dburl" BATON_DATA_DIR="$work/data" BATON_ADMIN_PASSWORD=bench-admin-password
"$bin" migrate >/dev/null
"$bin" user add bench --role designer --role operator --password bench-password-1 >/dev/null
"$bin" user add bench-approver --role approver --password bench-password-2 >/dev/null
token=$("$bin" token create --user bench 2>/dev/null | grep -Eo 'bt_[A-Za-z0-9_-]+' | head -1)
approver=$("$bin" token create --user bench-approver 2>/dev/null | grep -Eo 'bt_[A-Za-z0-9_-]+' | head -1)
for port in 18081 18082; do
  "$bin" serve --addr 127.0.0.1:$port >"$work/serve-$port.log" 2>&1 &
  pids+=($!)
done
for port in 18081 18082; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done
"$bin" bench --url "http://127.0.0.1:18081,http://127.0.0.1:18082" --token "$token" --approver-token "$approver" \
  --rate "$rate" --duration "$duration" --interval "${INTERVAL:-1m}" --timeout 30m
