#!/usr/bin/env bash
# What answering from the address a datagram reached costs (recvmsg/sendmsg with IP_PKTINFO on a wildcard
# listener, against a listener bound to one address, which needs none), side by side with the peers in one run:
#   udp50k    RTP pool echo at a fixed 50,000 pps over 100 ports: server CPU per packet; peer: the C
#             recvmmsg/sendmmsg reflector (../shared/bench/udp-echo-pps.sh)
#   sip10k    SIP OPTIONS over UDP at a fixed 10,000/s: server CPU per request; peer: kamailio
#   sipmax    SIP OPTIONS over UDP, highest sustainable rate; peer: kamailio
# Each CucmSim is measured twice: --bind 127.0.0.1 (no arrival address) and bound to every address (0.0.0.0,
# arrival address on). CUCMSIM_BASE_BIN, if set, adds an older build bound to every address (before the change).
# Usage: loadtests/foundation/reply-address.sh [REPS=3]     (CUCMSIM_BIN: a published build; default Release)
# Output: loadtests/results/<stamp>-reply-address/results.tsv and a median summary on stdout. Every measured
# run holds the shared lock (/tmp/cucmsim-build.lock) for its own duration.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
BENCH="${BENCH:-$(cd "$ROOT/../shared/bench" && pwd)}"
export RUNDIR=${RUNDIR:-/tmp/bench-run-reply}
REPS="${1:-3}"; LOCK=/tmp/cucmsim-build.lock
OUT="$ROOT/loadtests/results/$(date +%Y%m%d-%H%M%S)-reply-address"; mkdir -p "$OUT" "$RUNDIR"
TSV="$OUT/results.tsv"; : > "$TSV"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$BENCH/bin/udpbench" ] || "$BENCH/build.sh" >&2
command -v kamailio >/dev/null || apt-get install -y -qq kamailio >/dev/null
command -v sipp >/dev/null || apt-get install -y -qq sip-tester >/dev/null
if [ -z "${CUCMSIM_BIN:-}" ]; then
  flock "$LOCK" dotnet build "$ROOT/CucmSim.sln" -c Release -v quiet -nologo >&2
fi
SIM=${CUCMSIM_BIN:-$ROOT/src/CucmSim/bin/Release/net10.0/cucmsim}
ulimit -n "$(ulimit -Hn)"
cat > "$RUNDIR/profile.json" <<JSON
{"name":"reply-bench","extends":"cucm","rtp":{"cucm":"24576-24675"}}
JSON

PIDS=()
# start NAME BIN OFFSET BIND: a server with SIP and a 100-port pool at OFFSET; prints its PID.
start() {
  local name=$1 bin=$2 offset=$3 bind=$4
  DOTNET_gcServer=0 DOTNET_TieredPGO=1 "$BENCH/lib/incgroup.sh" "reply-$name" "$bin" serve --profile "$RUNDIR/profile.json" \
    --only t6.sip,t6.rtp-to-cucm --bind "$bind" --port-offset "$offset" --control "127.0.0.1:$((19900 + offset))" \
    --ledger none --state-dir "$RUNDIR/state-$name" --log-level warning > "$RUNDIR/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do grep -q '^ready:' "$RUNDIR/$name.log" && { echo "$pid"; return 0; }; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  cat "$RUNDIR/$name.log" >&2; echo "$name did not get ready" >&2; exit 1
}
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  "$BENCH/peers/stop-peer.sh" kamailio >/dev/null 2>&1 || true
  "$BENCH/peers/stop-peer.sh" reflector >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Servers: label, binary, port offset, bind address.
SERVERS=("bound|$SIM|0|127.0.0.1" "wildcard|$SIM|1000|0.0.0.0")
[ -n "${CUCMSIM_BASE_BIN:-}" ] && SERVERS+=("base-wildcard|$CUCMSIM_BASE_BIN|2000|0.0.0.0")
declare -A PID_OF OFFSET_OF
for s in "${SERVERS[@]}"; do
  IFS='|' read -r label bin offset bind <<< "$s"
  PID_OF[$label]=$(start "$label" "$bin" "$offset" "$bind"); OFFSET_OF[$label]=$offset; PIDS+=("${PID_OF[$label]}")
done
KAM=$("$BENCH/peers/start-peer.sh" kamailio); REFL=$("$BENCH/peers/start-peer.sh" reflector 100 | tail -1)
sleep 2
log "servers: ${SERVERS[*]}; kamailio $KAM; reflector $REFL; results in $OUT"

run() { # LABEL command...
  local label=$1; shift
  echo "$*" >> "$OUT/commands.txt"
  printf '%s\t%s\n' "$label" "$(flock "$LOCK" "$@" 2>>"$OUT/run.log" | tail -1)" >> "$TSV"
  log "$label: $(tail -1 "$TSV" | cut -f2 | cut -c1-160)"
}

for rep in $(seq 1 "$REPS"); do
  run "udp50k reflector" "$BENCH/udp-echo-pps.sh" --target 127.0.0.1:20000 --ports 100 --pps 50000 --duration 10 --server-pid "$REFL"
  run "sip10k kamailio" "$BENCH/sip-options.sh" --target 127.0.0.1:15060 --transport u1 --rate 10000 --duration 15 --server-pid "$KAM" --local-port 32560
  for s in "${SERVERS[@]}"; do
    IFS='|' read -r label _ offset _ <<< "$s"
    run "udp50k $label" "$BENCH/udp-echo-pps.sh" --target "127.0.0.1:$((24576 + offset))" --ports 100 --pps 50000 --duration 10 --server-pid "${PID_OF[$label]}"
    run "sip10k $label" "$BENCH/sip-options.sh" --target "127.0.0.1:$((5060 + offset))" --transport u1 --rate 10000 --duration 15 --server-pid "${PID_OF[$label]}" --local-port 32560
  done
done
run "sipmax kamailio" "$BENCH/sip-options.sh" --target 127.0.0.1:15060 --transport u1 --start-rate 5000 --duration 10 --server-pid "$KAM" --local-port 32560
for s in "${SERVERS[@]}"; do
  IFS='|' read -r label _ offset _ <<< "$s"
  run "sipmax $label" "$BENCH/sip-options.sh" --target "127.0.0.1:$((5060 + offset))" --transport u1 --start-rate 5000 --duration 10 --server-pid "${PID_OF[$label]}" --local-port 32560
done

python3 "$BENCH/lib/summarize.py" "$TSV" --fields rate,loss_pct,server_cpu_pct,server_us_per_op,failed,retrans | tee "$OUT/summary.md"
