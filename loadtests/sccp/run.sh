#!/bin/bash
# SCCP benchmark: registrations per second and server RSS per registered phone with keepalives, at
# 5,000 phones beside the full profile (RTP pool included) and 18,000 phones with the RTP pool excluded,
# then the same connection counts held by tcp-idle-conns (SCCP KeepAlive payload) against CucmSim and
# against nginx (peers/start-peer.sh nginx-hold) for the per-connection memory side by side.
#
# Run it under the shared lock, from the worktree:  flock /tmp/cucmsim-build.lock loadtests/sccp/run.sh
# Options: --phones "5000 18000" --hold 40 --ka 10 --proto 17 --reps 1 --no-peer
# Output: progress on stderr; one "LABEL<TAB>RESULT ..." line per measurement on stdout.
# Ports: CucmSim with --port-offset 31000 (SCCP on 127.0.0.1:33000), control API 127.0.0.1:31900.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
BENCH=${BENCH:-$(cd "$ROOT/../shared/bench" && pwd)}
PHONES="5000 18000"; HOLD=40; KA=10; PROTO=17; REPS=1; PEER=1
while [ $# -gt 0 ]; do case "$1" in
  --phones) PHONES=$2; shift 2;; --hold) HOLD=$2; shift 2;; --ka) KA=$2; shift 2;; --proto) PROTO=$2; shift 2;;
  --reps) REPS=$2; shift 2;; --no-peer) PEER=0; shift;; *) echo "unknown arg $1" >&2; exit 2;; esac; done
OFFSET=31000; SCCP_PORT=$((2000 + OFFSET)); CONTROL=127.0.0.1:31900
export RUNDIR=/tmp/bench-run-sccp; WORK=$(mktemp -d /tmp/sccp-bench.XXXXXX); mkdir -p "$RUNDIR"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
ulimit -n "$(ulimit -Hn)"

log "building (Release) and the load client"
dotnet build "$ROOT/src/CucmSim" -c Release -v q -nologo >&2
CUCMSIM="$ROOT/src/CucmSim/bin/Release/net10.0/cucmsim"
gcc -O2 -Wall -Wextra -o "$WORK/sccpload" "$HERE/sccpload.c"

SERVER_PID=
start_server() {  # start_server ARGS...: a fresh server (allocators keep freed memory: never reuse one)
  rm -f "$WORK/serve.log"
  "$CUCMSIM" serve --bind 127.0.0.1 --port-offset $OFFSET --control $CONTROL --ledger "$WORK/ledger.jsonl" \
    --state-dir "$WORK/state" --sccp-keepalive "$KA" "$@" >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q '^ready' "$WORK/serve.log" 2>/dev/null && break; sleep 0.1; done
  grep '^ready' "$WORK/serve.log" >&2 || { cat "$WORK/serve.log" >&2; exit 1; }
  # The SCCP port must be this server's alone (a leftover server with SO_REUSEPORT would share the load).
  local owners; owners=$(ss -Hltnp "sport = :$SCCP_PORT" | grep -o 'pid=[0-9]*' | sort -u)
  [ "$owners" = "pid=$SERVER_PID" ] || { echo "port $SCCP_PORT is held by: $owners (expected pid=$SERVER_PID)" >&2; exit 1; }
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=; }
trap '[ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null; true' EXIT
profile_args() { if [ "$1" -gt 5000 ]; then echo "--except rtp"; fi; }

for rep in $(seq 1 "$REPS"); do
for n in $PHONES; do
  # shellcheck disable=SC2046
  start_server $(profile_args "$n")
  fds=$(ls /proc/$SERVER_PID/fd | wc -l); limit=$(awk '/Max open files/{print $4}' /proc/$SERVER_PID/limits)
  log "server pid $SERVER_PID: $fds descriptors in use at start of $limit: room for $((limit - fds - 64)) phones"
  r=$("$WORK/sccpload" --target 127.0.0.1:$SCCP_PORT --phones "$n" --proto "$PROTO" --ka "$KA" --hold "$HOLD" --server-pid "$SERVER_PID" --src3 10 | tail -1)
  timeouts=$(grep -c '"sccp-keepalive-timeout"' "$WORK/ledger.jsonl" || true)
  printf 'cucmsim-sccp-register-%s\t%s server_fds_at_start=%s room_for_phones=%s keepalive_timeouts=%s\n' "$n" "$r" "$fds" "$((limit - fds - 64))" "$timeouts"
  stop_server

  # The same connection count held with the shared idle-connection tool (unregistered SCCP keepalives).
  # shellcheck disable=SC2046
  start_server $(profile_args "$n")
  r=$("$BENCH/tcp-idle-conns.sh" --target 127.0.0.1:$SCCP_PORT --conns "$n" --hold 20 --ka-interval 5 --payload-hex 040000000000000000000000 --server-pid "$SERVER_PID" | tail -1)
  printf 'cucmsim-sccp-idle-%s\t%s\n' "$n" "$r"
  stop_server

  if [ "$PEER" = 1 ]; then
    "$BENCH/peers/start-peer.sh" nginx-hold "$n" >&2
    NGINX=$(cat "$RUNDIR/nginx-hold.pid")
    r=$("$BENCH/tcp-idle-conns.sh" --target 127.0.0.1:18081 --conns "$n" --hold 20 --ka-interval 5 --server-pid "$NGINX" | tail -1)
    printf 'nginx-idle-%s\t%s\n' "$n" "$r"
    "$BENCH/peers/stop-peer.sh" nginx-hold >&2
  fi
done
done
rm -rf "$WORK"
