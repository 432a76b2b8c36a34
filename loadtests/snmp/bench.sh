#!/bin/bash
# SNMP benchmark: cucmsim's agent side by side with net-snmp snmpd, same run, REPS repetitions.
# Workloads (../shared/bench/snmp-get.sh, 16 requests outstanding, 10 s each): GET sysDescr.0, a GETNEXT walk
# and a GETBULK walk (max-repetitions 10) of the system group. Both servers run in their own cpuacct group.
# Usage: loadtests/snmp/bench.sh [REPS=3] [DURATION=10]
# Results: loadtests/snmp/results/<stamp>/results.tsv and summary.md (median [min..max] per label).
# Hold the shared lock around it: flock /tmp/cucmsim-build.lock loadtests/snmp/bench.sh
set -euo pipefail
REPS=${1:-3}; DUR=${2:-10}
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
BENCH=${BENCH:-$(cd "$ROOT/../shared/bench" && pwd)}
export RUNDIR=${RUNDIR:-/tmp/bench-run-snmp}
OFFSET=34000; PORT=$((161 + OFFSET)); CONTROL=127.0.0.1:34900
OUT="$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$OUT" "$RUNDIR"
BIN="$ROOT/src/CucmSim/bin/Release/net10.0/cucmsim"

dotnet build "$ROOT/src/CucmSim/CucmSim.csproj" -c Release -v q 2>&1 | grep -E ' error ' && exit 1
"$BENCH/build.sh" >/dev/null

"$BENCH/lib/incgroup.sh" cucmsim-snmp "$BIN" serve --only t2.snmp --bind 127.0.0.1 --port-offset $OFFSET \
  --control $CONTROL --ledger none --log-level warning >"$RUNDIR/cucmsim.log" 2>&1 &
SIM=$!
PEER=$("$BENCH/peers/start-peer.sh" snmpd)
cleanup() { kill -TERM "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true; "$BENCH/peers/stop-peer.sh" snmpd || true; }
trap cleanup EXIT

# Wait (bounded) for both agents to answer.
for t in 127.0.0.1:10161 127.0.0.1:$PORT; do
  for i in $(seq 1 50); do MIBS= snmpget -v2c -c public -t 1 -r 0 "$t" 1.3.6.1.2.1.1.1.0 >/dev/null 2>&1 && break; sleep 0.2; done
done

{
  echo "date: $(date -u +%FT%TZ)"; echo "host: $(uname -r), $(nproc) vCPU"; echo "cucmsim: $BIN (Release), pid $SIM"
  echo "snmpd: $(snmpd -v 2>/dev/null | grep -m1 -i version), pid $PEER"
} > "$OUT/commands.txt"
for rep in $(seq 1 "$REPS"); do
  for mode in get walk-next walk-bulk; do
    for who in snmpd cucmsim; do
      if [ $who = snmpd ]; then target=127.0.0.1:10161; pid=$PEER; else target=127.0.0.1:$PORT; pid=$SIM; fi
      cmd=("$BENCH/snmp-get.sh" --target "$target" --mode "$mode" --outstanding 16 --duration "$DUR" --server-pid "$pid")
      echo "${cmd[*]}" >> "$OUT/commands.txt"
      res=$("${cmd[@]}" 2>>"$OUT/run.log" | tail -1)
      printf '%s\t%s\n' "snmp-$mode-$who" "$res" | tee -a "$OUT/results.tsv"
    done
  done
done
python3 "$BENCH/lib/summarize.py" "$OUT/results.tsv" --fields rate,varbinds_per_s,p50_ms,p99_ms,timeouts,server_cpu_pct,server_us_per_op | tee "$OUT/summary.md"
