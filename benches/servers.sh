#!/usr/bin/env bash
# kmipd and pykmip-server side by side, with the same load generator (`kmipd bench`), the same
# certificates and KMIP 1.2, one line after the other (interleaved), on this machine.
#
# Usage: benches/servers.sh [OUT.md]
#   KMIPD=target/release/kmipd   (build it first: cargo build --release)
#   PYKMIP_SERVER=target/pykmip-venv/bin/pykmip-server   (from .ci/setup); unset or missing:
#   kmipd only.
#   DURATION=5 (seconds measured per line), WORK=/tmp/kmipd-servers (scratch, wiped)
#
# Each line prints: ops/s, p50/p99 latency, and the server's CPU time per operation (user +
# system, from /proc, over the whole bench run, setup included; 100% = one core), plus the
# 1-minute load average when the line started. Results go to stdout and, as a Markdown table,
# to OUT.md when given. Figures and their reading: docs/benchmarks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KMIPD=${KMIPD:-$ROOT/target/release/kmipd}
PYKMIP_SERVER=${PYKMIP_SERVER:-$ROOT/target/pykmip-venv/bin/pykmip-server}
DURATION=${DURATION:-5}
WORK=${WORK:-/tmp/kmipd-servers}
OUT=${1:-}
KPORT=5796
PPORT=5797

rm -rf "$WORK" && mkdir -p "$WORK/pyk-policy"
[ -x "$KMIPD" ] || { echo "build kmipd first: cargo build --release" >&2; exit 1; }

cleanup() { kill "${KPID:-}" "${PPID_:-}" 2>/dev/null || true; }
trap cleanup EXIT

"$KMIPD" serve --data-dir "$WORK/kd" --listen 127.0.0.1:$KPORT >"$WORK/kmipd.log" 2>&1 &
KPID=$!
for _ in $(seq 100); do grep -q listening "$WORK/kmipd.log" && break; sleep 0.1; done
CERTS=$WORK/kd/certs

if [ -x "$PYKMIP_SERVER" ]; then
  cat >"$WORK/pykmip.conf" <<EOF
[server]
hostname=127.0.0.1
port=$PPORT
certificate_path=$CERTS/server.pem
key_path=$CERTS/server.key
ca_path=$CERTS/ca.pem
auth_suite=TLS1.2
policy_path=$WORK/pyk-policy
enable_tls_client_auth=True
logging_level=WARNING
database_path=$WORK/pykmip.db
EOF
  "$PYKMIP_SERVER" -f "$WORK/pykmip.conf" -l "$WORK/pykmip.log" >"$WORK/pykmip.out" 2>&1 &
  PPID_=$!
  sleep 3
else
  echo "no pykmip-server at $PYKMIP_SERVER: kmipd only" >&2
fi

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

# line NAME PID PORT MIX CONNS [bench args...]
line() {
  local name=$1 pid=$2 port=$3 mix=$4 conns=$5; shift 5
  local load t0 t1 json
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(cpu "$pid")
  json=$("$KMIPD" bench --addr 127.0.0.1:"$port" --ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" \
    --key "$CERTS/client.key" --kmip-version 1.2 --mix "$mix" --connections "$conns" \
    --duration "$DURATION" --warmup 1 --json "$@" 2>/dev/null || echo '{}')
  t1=$(cpu "$pid")
  python3 - "$name" "$mix" "$conns" "$load" "$t0" "$t1" "$json" "$*" <<'PY'
import json, sys
name, mix, conns, load, t0, t1, raw, extra = sys.argv[1:9]
d = json.loads(raw).get("total") if raw.strip() else None
if not d or not d.get("count"):
    print(f"| {name} | {mix} | {conns} | {extra} | no request completed | | | {load} |")
else:
    cpu_us = (int(t1) - int(t0)) / 100.0 * 1e6 / d["count"]
    lat = d["latency"]
    print(f"| {name} | {mix} | {conns} | {extra} | **{d['ops_per_s']:,.0f}** | "
          f"{lat['p50_us']/1000:.2f} / {lat['p99_us']/1000:.2f} | {cpu_us:,.0f} | {load} |")
PY
}

both() {
  line kmipd "$KPID" $KPORT "$@"
  if [ -n "${PPID_:-}" ]; then line pykmip-server "$PPID_" $PPORT "$@"; fi
}

{
  echo "| server | mix | conns | options | ops/s | p50 / p99 ms | server CPU µs/op | load |"
  echo "|---|---|---|---|---|---|---|---|"
  both get 1
  both get 32
  both create 1
  both create 64
  # Destroy pools: created before the measurement (pykmip-server creates ≈ 100 objects/s,
  # so it gets a smaller pool; the load generator refills a pool that runs dry outside the
  # timings).
  line kmipd "$KPID" $KPORT destroy 1 --objects 100 --destroy-pool 20000
  [ -z "${PPID_:-}" ] || line pykmip-server "$PPID_" $PPORT destroy 1 --objects 100 --destroy-pool 2000
  line kmipd "$KPID" $KPORT destroy 32 --objects 100 --destroy-pool 80000
  [ -z "${PPID_:-}" ] || line pykmip-server "$PPID_" $PPORT destroy 32 --objects 100 --destroy-pool 2000
  both locate 1 --objects 1000
  both locate 32 --objects 1000
  # pykmip-server's Locate reads every object (≈ 1 s per Locate at 1k objects, 15 s at
  # 10k): 100k objects is measured on kmipd only.
  line kmipd "$KPID" $KPORT locate 32 --objects 100000
  line kmipd "$KPID" $KPORT locate 1 --objects 100000
} | tee "${OUT:-/dev/null}"
