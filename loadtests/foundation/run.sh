#!/usr/bin/env bash
# Foundation benchmarks, each side by side with a peer in the same run:
#   startup   full CUCM profile (107 TCP, 19 UDP, 8,189-port RTP pool): time to the ready line, RSS, descriptors
#   udp-echo  RTP-like 172-byte datagrams over 100 ports: the RTP pool against the C recvmmsg/sendmmsg reflector
#             (../shared/bench/udp-echo-pps.sh), at a fixed 50,000 pps (CPU per packet) and at the highest rate
#             with <=0.1 % loss
#   tcp-echo  closed-loop round trips on 32 connections: a cucmsim listener against socat's fork-per-connection
#             PIPE echo (loadtests/CucmSim.Bench)
# Usage: sudo loadtests/foundation/run.sh [REPS]      (root: the startup run binds the real ports)
# Output: loadtests/results/<stamp>/results.tsv (LABEL<TAB>RESULT ...) and a median summary on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
BENCH="${BENCH:-$ROOT/../shared/bench}"
REPS="${1:-3}"
OUT="$ROOT/loadtests/results/$(date +%Y%m%d-%H%M%S)-foundation"; mkdir -p "$OUT"
TSV="$OUT/results.tsv"; : > "$TSV"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$BENCH/bin/udpbench" ] || "$BENCH/build.sh" >&2
command -v socat >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null; }
dotnet build "$ROOT/CucmSim.sln" -c Release -v quiet -nologo >&2
SIM="$ROOT/src/CucmSim/bin/Release/net10.0/cucmsim"
CLIENT="$ROOT/loadtests/CucmSim.Bench/bin/Release/net10.0/cucmsim-bench"
PS="python3 $BENCH/lib/procstat.py"
HZ=$(getconf CLK_TCK)

SIM_PID=
start_sim() {
  "$SIM" serve "$@" --ledger none --log-level warning --state-dir "$OUT/state" > "$OUT/sim.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 300); do grep -q '^ready:' "$OUT/sim.log" && return 0; kill -0 $SIM_PID 2>/dev/null || break; sleep 0.05; done
  cat "$OUT/sim.log" >&2; echo "cucmsim did not get ready" >&2; exit 1
}
stop_sim() { kill -TERM "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=; }
cleanup() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true; [ -n "${SOCAT_PID:-}" ] && kill "$SOCAT_PID" 2>/dev/null || true; "$BENCH/peers/stop-peer.sh" reflector >/dev/null 2>&1 || true; }
trap cleanup EXIT

log "startup: full profile, $((REPS + 2)) runs"
for i in $(seq 1 $((REPS + 2))); do
  t0=$(date +%s.%N); start_sim --control 127.0.0.1:19900; t1=$(date +%s.%N)
  rss=$($PS rss $SIM_PID); fds=$(ls /proc/$SIM_PID/fd | wc -l)
  line=$(grep '^ready:' "$OUT/sim.log")
  reported=$(echo "$line" | grep -o '[0-9.]* s$' | cut -d' ' -f1)
  up=$(echo "$line" | grep -o 'ready: [0-9]*/[0-9]*' | cut -d' ' -f2)
  rtp=$(echo "$line" | grep -o 'rtp pool [0-9]*/[0-9]*' | cut -d' ' -f3)
  printf 'startup\tRESULT workload=startup wall_to_ready_s=%s reported_s=%s rss_mb=%s fds=%s listeners=%s rtp=%s\n' \
    "$(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.3f", b-a}')" "$reported" \
    "$(awk -v k=$rss 'BEGIN{printf "%.1f", k/1024}')" "$fds" "$up" "$rtp" >> "$TSV"
  stop_sim
done

log "udp-echo: RTP pool vs C reflector"
REFL=$("$BENCH/peers/start-peer.sh" reflector 100 | tail -1)
start_sim --only rtp --bind 127.0.0.1 --control 127.0.0.1:19900
for r in $(seq 1 "$REPS"); do
  printf 'udp50k-reflector\t%s\n' "$("$BENCH/udp-echo-pps.sh" --target 127.0.0.1:20000 --ports 100 --pps 50000 --duration 10 --server-pid "$REFL" | tail -1)" >> "$TSV"
  printf 'udp50k-cucmsim\t%s\n' "$("$BENCH/udp-echo-pps.sh" --target 127.0.0.1:24576 --ports 100 --pps 50000 --duration 10 --server-pid "$SIM_PID" | tail -1)" >> "$TSV"
done
printf 'udpmax-reflector\t%s\n' "$("$BENCH/udp-echo-pps.sh" --target 127.0.0.1:20000 --ports 100 --duration 10 --server-pid "$REFL" | tail -1)" >> "$TSV"
printf 'udpmax-cucmsim\t%s\n' "$("$BENCH/udp-echo-pps.sh" --target 127.0.0.1:24576 --ports 100 --duration 10 --server-pid "$SIM_PID" | tail -1)" >> "$TSV"
stop_sim
"$BENCH/peers/stop-peer.sh" reflector >/dev/null 2>&1 || true

log "tcp-echo: cucmsim listener vs socat PIPE"
socat TCP-LISTEN:18500,bind=127.0.0.1,reuseaddr,fork PIPE & SOCAT_PID=$!
start_sim --only t6.sccp --bind 127.0.0.1 --port-offset 16000 --control 127.0.0.1:19900
tcp_run() { # label port pid
  local t0 t1 s0 s1 line rate
  s0=$($PS ticks "$3"); t0=$(date +%s.%N)
  line=$("$CLIENT" echo-tcp --target "127.0.0.1:$2" --connections 32 --duration 10 | tail -1)
  t1=$(date +%s.%N); s1=$($PS ticks "$3")
  rate=$(echo "$line" | grep -o 'rate=[0-9]*' | cut -d= -f2)
  printf '%s\t%s server_cpu_pct=%s\n' "$1" "$line" "$(awk -v d=$((s1 - s0)) -v hz=$HZ -v a=$t0 -v b=$t1 'BEGIN{printf "%.0f", 100*d/hz/(b-a)}')" >> "$TSV"
}
for r in $(seq 1 "$REPS"); do
  tcp_run tcp-socat 18500 "$SOCAT_PID"
  tcp_run tcp-cucmsim 18000 "$SIM_PID"
done
stop_sim; kill "$SOCAT_PID" 2>/dev/null || true; SOCAT_PID=

log "results: $TSV"
grep -v '^startup' "$TSV" > "$OUT/echo.tsv"; grep '^startup' "$TSV" > "$OUT/startup.tsv"
python3 "$BENCH/lib/summarize.py" "$OUT/startup.tsv" --fields wall_to_ready_s,reported_s,rss_mb,fds
python3 "$BENCH/lib/summarize.py" "$OUT/echo.tsv" --fields rate,rtt_p50_ms,rtt_p99_ms,p50_us,p99_us,server_cpu_pct,server_us_per_op,errors
