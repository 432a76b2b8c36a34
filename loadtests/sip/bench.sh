#!/bin/bash
# SIP benchmarks of CucmSim side by side with the peers, in the same session (see PERFORMANCE.md ## SIP):
#   OPTIONS/s over UDP and TCP (SIPp UAC) against kamailio (stateless sl_send_reply) and CucmSim,
#   max sustainable rate and server CPU per request at a fixed 10 000/s;
#   calls/s (INVITE/100/180/200/ACK/BYE/200, SIPp UAC) against SIPp's own UAS and CucmSim.
# CucmSim listens on 127.0.0.1:5060 (udp+tcp), its control API on 127.0.0.1:32999; kamailio on 15060, SIPp UAS on 15070.
# Usage: loadtests/sip/bench.sh [REPS=3] [GROUP-REGEX=.]   groups: options-udp-fixed options-udp-max
#        options-tcp-fixed options-tcp-max calls-max calls-fixed
# Every run takes the shared lock (/tmp/cucmsim-build.lock) for its own duration only.
set -euo pipefail
REPS=${1:-3}; ONLY=${2:-.}
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
BENCH=${BENCH:-$(cd "$ROOT/../shared/bench" && pwd)}
export RUNDIR=${RUNDIR:-/tmp/bench-run-sip}
LOCK=/tmp/cucmsim-build.lock
OFFSET=0; SIM=127.0.0.1:5060; KAM=127.0.0.1:15060; UAS_PORT=15070; LPORT=32560
STAMP=$(date -u +%Y%m%d-%H%M%S); OUT="$HERE/results/$STAMP"; mkdir -p "$OUT" "$RUNDIR"
TSV="$OUT/results.tsv"; : > "$TSV"

command -v kamailio >/dev/null || apt-get install -y kamailio >/dev/null
command -v sipp >/dev/null || apt-get install -y sip-tester >/dev/null
# CUCMSIM_BIN: measure an already built binary (e.g. a copy built with -o) instead of building Release here.
if [ -z "${CUCMSIM_BIN:-}" ]; then
  flock "$LOCK" dotnet build "$ROOT/CucmSim.sln" -c Release -v q 2>&1 | grep -E ' error ' && exit 1
fi
BIN=${CUCMSIM_BIN:-$ROOT/src/CucmSim/bin/Release/net10.0/cucmsim}

# CucmSim: SIP on udp+tcp 127.0.0.1:5060 and a media pool of 14 000 ports (7 000 calls) below the ephemeral
# range, no ledger file, quiet. The pool's sockets need the descriptor limit raised (hard limit here: 20000).
ulimit -n "$(ulimit -Hn)"
cat > "$RUNDIR/profile.json" <<JSON
{"name":"sip-bench","extends":"cucm","rtp":{"cucm":"16400-30399"}}
JSON
DOTNET_gcServer=0 DOTNET_TieredPGO=1 "$BENCH/lib/incgroup.sh" cucmsim-sip "$BIN" serve --profile "$RUNDIR/profile.json" \
  --only t6.sip,t6.rtp-to-cucm --bind 127.0.0.1 --port-offset $OFFSET --control 127.0.0.1:32999 --ledger none \
  --state-dir "$RUNDIR/state" --log-level warning >"$RUNDIR/cucmsim.log" 2>&1 &
SIMPID=$!
KAMPID=$("$BENCH/peers/start-peer.sh" kamailio)
UASPID=$("$BENCH/peers/start-peer.sh" sipp-uas $UAS_PORT)
cleanup() { kill -TERM $SIMPID 2>/dev/null || true; "$BENCH/peers/stop-peer.sh" kamailio || true; "$BENCH/peers/stop-peer.sh" sipp-uas || true; }
trap cleanup EXIT
sleep 3
echo "cucmsim pid $SIMPID, kamailio pid $KAMPID, sipp-uas pid $UASPID; results in $OUT" >&2

run() { # LABEL command...
  local label=$1; shift
  echo "$* " >> "$OUT/commands.txt"
  local line
  line=$(flock "$LOCK" "$@" 2>>"$OUT/run.log" | tail -1)
  echo "$label: $line" >&2
  printf '%s\t%s\n' "$label" "$line" >> "$TSV"
}

for rep in $(seq 1 "$REPS"); do
  if [[ options-udp-fixed =~ $ONLY ]]; then
    run "options-udp@10k kamailio" "$BENCH/sip-options.sh" --target $KAM --transport u1 --rate 10000 --duration 15 --server-pid $KAMPID --local-port $LPORT
    run "options-udp@10k cucmsim" "$BENCH/sip-options.sh" --target $SIM --transport u1 --rate 10000 --duration 15 --server-pid $SIMPID --local-port $LPORT
  fi
  if [[ options-tcp-fixed =~ $ONLY ]]; then
    run "options-tcp@10k kamailio" "$BENCH/sip-options.sh" --target $KAM --transport t1 --rate 10000 --duration 15 --server-pid $KAMPID --local-port $LPORT
    run "options-tcp@10k cucmsim" "$BENCH/sip-options.sh" --target $SIM --transport t1 --rate 10000 --duration 15 --server-pid $SIMPID --local-port $LPORT
  fi
  if [[ options-udp-max =~ $ONLY ]]; then
    run "options-udp-max kamailio" "$BENCH/sip-options.sh" --target $KAM --transport u1 --start-rate 5000 --duration 15 --server-pid $KAMPID --local-port $LPORT
    run "options-udp-max cucmsim" "$BENCH/sip-options.sh" --target $SIM --transport u1 --start-rate 5000 --duration 15 --server-pid $SIMPID --local-port $LPORT
  fi
  if [[ options-tcp-max =~ $ONLY ]]; then
    run "options-tcp-max kamailio" "$BENCH/sip-options.sh" --target $KAM --transport t1 --start-rate 5000 --duration 15 --server-pid $KAMPID --local-port $LPORT
    run "options-tcp-max cucmsim" "$BENCH/sip-options.sh" --target $SIM --transport t1 --start-rate 5000 --duration 15 --server-pid $SIMPID --local-port $LPORT
  fi
  if [[ calls-fixed =~ $ONLY ]]; then
    run "calls@2000 sipp-uas" "$BENCH/sip-calls.sh" --target 127.0.0.1:$UAS_PORT --rate 2000 --call-ms 1000 --duration 15 --server-pid $UASPID --local-port $LPORT
    run "calls@2000 cucmsim" "$BENCH/sip-calls.sh" --target $SIM --rate 2000 --call-ms 1000 --duration 15 --server-pid $SIMPID --local-port $LPORT
  fi
  if [[ calls-max =~ $ONLY ]]; then
    # 100 ms calls: the max rate then needs rate*0.1 concurrent calls, well inside the media pool (SIPp's UAS holds no media).
    run "calls-max sipp-uas" "$BENCH/sip-calls.sh" --target 127.0.0.1:$UAS_PORT --start-rate 2000 --call-ms 100 --duration 15 --server-pid $UASPID --local-port $LPORT
    run "calls-max cucmsim" "$BENCH/sip-calls.sh" --target $SIM --start-rate 2000 --call-ms 100 --duration 15 --server-pid $SIMPID --local-port $LPORT
  fi
done
python3 "$BENCH/lib/summarize.py" "$TSV" | tee "$OUT/summary.txt"
