#!/bin/bash
# Benchmarks of `cucmsim load` (PERFORMANCE.md, "Load generator (`cucmsim load`)"), side by side with peers in
# the same run, against one published `cucmsim serve` build on loopback:
#   sip-cps     SIP calls per second with G.711 media: SIPp as the UAC (its own RTP, rtp_stream; sipp-uac-rtp.xml)
#               and `cucmsim load --protocol sip` (phone to server), the same rate and hold; the rate stepped up
#               until a step fails (>= 0.1 % failed calls, or the calls placed late); generator CPU per call
#               (utime+stime of the whole process over its calls) at every step.
#   sccp-reg    SCCP registrations per second: loadtests/sccp/sccpload.c and `cucmsim load --protocol sccp
#               --no-media`, the same phone counts; the rate from serve's ledger for both (first connection to the
#               last registration), and each tool's own figure.
#   phones      N phones (SCCP, then SIP over UDP) in one `cucmsim load` process registered and kept alive for a
#               bounded time: registered count, rate, RSS per phone (against a 1,000-phone run), descriptors.
#   concurrent  calls with media held at once (phone to server: serve echoes; phone to phone if asked): calls
#               reached, RTP loss, jitter, MOS, CPU of both processes.
# Usage: loadtests/load/bench.sh SUB [REPS]   (SUB: sip-cps | sccp-reg | phones | concurrent | concurrent-p2p)
#   env: CUCMSIM_BIN (default: publish to /tmp/pub-bench under the lock), OUT (results directory; default
#   loadtests/load/results/<stamp>), HOLD (sip-cps hold, s; 3), DUR (sip-cps seconds of calls per step; 20),
#   RATES (sip-cps steps; "50 100 200 300 400 500 600 800 1000"), PHONES (sccp-reg; "5000 18000"),
#   GENS (sip-cps: the generators, in order; "sipp cucmsim", alternated), LOAD_ARGS (sip-cps: more options of cucmsim load),
#   REG_RATES (sccp-reg: the --register-rate values of cucmsim load; "5000 10000 20000 40000"),
#   NPHONES (phones; 18000), CC_CPS/CC_HOLD/CC_DUR (concurrent; 50, 40, 80), REP_FIRST (first repetition's number; 1),
#   PIN (sccp-reg: 1 runs serve on CPU 1 and each generator on CPU 0, as on two hosts, so that the generator's own CPU
#   does not slow the server it measures; default 0: both share every core).
# Every measuring run (serve, generator, serve stopped) holds /tmp/cucmsim-build.lock for its whole length,
# one run at a time, and releases it between runs. Traffic: serve on 127.0.0.77 with --port-offset 20000
# (SIP 25060, SCCP 22000, RTP pool 30000-39999, control 29900); generators on other loopback addresses.
set -euo pipefail
SUB=${1:?usage: bench.sh sip-cps|sccp-reg|phones|concurrent|concurrent-p2p [REPS]}; REPS=${2:-2}
REP_FIRST=${REP_FIRST:-1}   # number of the first repetition (more repetitions added to an existing OUT)
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
LOCK=/tmp/cucmsim-build.lock
ADDR=127.0.0.77; OFFSET=20000; SIP_PORT=25060; SCCP_PORT=22000; CONTROL=$ADDR:29900
STAMP=$(date -u +%Y%m%d-%H%M%S); OUT=${OUT:-$HERE/results/$STAMP}; mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/load-bench.XXXXXX)
TSV="$OUT/$SUB.tsv"
HOLD=${HOLD:-3}; DUR=${DUR:-20}; RATES=${RATES:-50 100 200 300 400 500 600 800 1000}
PHONES=${PHONES:-5000 18000}; NPHONES=${NPHONES:-18000}
CC_CPS=${CC_CPS:-50}; CC_HOLD=${CC_HOLD:-40}; CC_DUR=${CC_DUR:-80}
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
ulimit -n "$(ulimit -Hn)"

exec 9>"$LOCK"
lock() { flock 9; }
unlock() { flock -u 9; }

if [ -z "${CUCMSIM_BIN:-}" ]; then
  lock; dotnet publish "$ROOT/src/CucmSim" -c Release -o /tmp/pub-bench -v quiet -nologo >&2; unlock
fi
BIN=${CUCMSIM_BIN:-/tmp/pub-bench/cucmsim}
cat > "$WORK/profile.json" <<'JSON'
{"name":"load-bench","extends":"cucm","rtp":{"cucm":"10000-19999"}}
JSON
{ echo "commit $(git -C "$ROOT" rev-parse --short HEAD) binary $BIN"; "$BIN" --version 2>/dev/null || true
  echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*')"; nproc; uname -r; } >> "$OUT/machine.txt" 2>&1 || true

SERVER_PID=
start_serve() {  # start_serve ARGS...: a fresh server on $ADDR; the ports must be its alone
  rm -f "$WORK/serve.log" "$WORK/ledger.jsonl"
  ${SERVE_PIN:-} "$BIN" serve --profile "$WORK/profile.json" --bind $ADDR --port-offset $OFFSET --control $CONTROL \
    --state-dir "$WORK/state" --log-level warning "$@" >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q '^ready' "$WORK/serve.log" 2>/dev/null && break; sleep 0.1; done
  grep '^ready' "$WORK/serve.log" | tee -a "$OUT/run.log" >&2 || { cat "$WORK/serve.log" >&2; exit 1; }
  local owners; owners=$(ss -Hlntup "( sport = :$SIP_PORT or sport = :$SCCP_PORT )" 2>/dev/null | grep -o 'pid=[0-9]*' | sort -u | tr '\n' ' ')
  [ -z "$owners" ] || [ "$owners" = "pid=$SERVER_PID " ] || { echo "serve ports shared: $owners" >&2; exit 1; }
}
stop_serve() { [ -n "$SERVER_PID" ] && { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }; SERVER_PID=; }
cleanup() { stop_serve; rm -rf "$WORK"; }
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime+stime, clock ticks
HZ=$(getconf CLK_TCK)
pool_packets() { curl -s "http://$CONTROL/metrics" | awk '/^cucmsim_rtp_packets_total /{print $2}'; }
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# window_of PID FILE: the CPU ticks of the generator (the deepest descendant of PID: /usr/bin/time, timeout, the
# generator) from 8 s to 18 s after its start, when calls are placed at the full rate and held (steady state).
window_of() {
  local c=$1 n t0 t1
  sleep 0.5
  for _ in 1 2 3 4; do n=$(pgrep -P "$c" | head -1 || true); [ -n "$n" ] || break; c=$n; done
  [ "$c" != "$1" ] || { echo 0 > "$2"; return; }
  sleep 8; t0=$(ticks "$c" 2>/dev/null || echo 0); sleep 10; t1=$(ticks "$c" 2>/dev/null || echo 0)
  echo $(( t1 - t0 )) > "$2"
}
row() { printf '%s\n' "$*" | tee -a "$TSV" >&2; }

# ---------- sip-cps ----------
sipp_step() {  # sipp_step RATE -> one row; returns 1 when the step failed
  local rate=$1 calls=$(( $1 * DUR )) d="$WORK/sipp-$1"; mkdir -p "$d"
  head -c 8000 /dev/zero | tr '\0' '\377' > "$d/ulaw.raw"   # 1 s of µ-law silence, looped
  local s0 p0; s0=$(ticks "$SERVER_PID"); p0=$(pool_packets)
  ( cd "$d" && exec /usr/bin/time -o "$d/time" -f '%e %U %S %M' timeout $(( DUR + HOLD + 60 )) \
      sipp $ADDR:$SIP_PORT -sf "$HERE/sipp-uac-rtp.xml" -i 127.0.0.1 -p 26060 -mp 40000 -s 1000 \
      -d $(( HOLD * 1000 )) -r "$rate" -rp 1000 -m "$calls" -timeout $(( DUR + HOLD + 30 ))s -timer_resol 1 \
      -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000 -nostdin -trace_stat -stf "$d/stat.csv" -fd 1 \
      -trace_err -error_file "$d/err.log" >/dev/null 2>"$d/stderr" ) &
  local tp=$!; window_of "$tp" "$d/window" &
  local wp=$!; wait "$tp" || true; wait "$wp" || true
  sleep 1
  local s1 p1; s1=$(ticks "$SERVER_PID"); p1=$(pool_packets)
  python3 - "$d" "$rate" "$calls" "$HOLD" "$DUR" "$(( s1 - s0 ))" "$HZ" "$(( p1 - p0 ))" "$rep" >> "$TSV" <<'PY'
import csv, sys
d, rate, calls, hold, dur, srv, hz, pool, rep = sys.argv[1:]
rate, calls, hold, dur, srv, hz, pool = int(rate), int(calls), float(hold), float(dur), int(srv), int(hz), int(pool)
el, ut, st, rss = open(d + "/time").read().split()[-4:]
rows = [r for r in csv.reader(open(d + "/stat.csv"), delimiter=";") if r]
last = dict(zip(rows[0], rows[-1]))
g = lambda k: int(float(last.get(k) or 0))
created, ok, failed, retr = g("TotalCallCreated"), g("SuccessfulCall(C)"), g("FailedCall(C)"), g("Retransmissions(C)")
cpu = float(ut) + float(st)
steady = int(open(d + "/window").read().strip() or 0) / hz / (rate * 10) * 1e6   # 10 s at the full rate
late = float(el) > dur + hold + 5          # SIPp fell behind the rate
good = created == calls and failed <= 0.001 * created and ok >= 0.999 * calls and not late
expected = ok * hold * 50                  # RTP packets SIPp should have sent (serve's pool counts them)
print("\t".join(map(str, ["sipp", rep, rate, hold, calls, created, ok, failed, retr, round(float(el), 1),
      round(cpu, 2), round(cpu / max(ok, 1) * 1e6), round(steady), int(rss), round(srv / hz, 2), round(srv / hz / max(ok, 1) * 1e6),
      pool, f"{min(pool / expected, 9.99) if expected else 0:.4f}", "-", "-", "-", "ok" if good else "FAIL"])))
PY
  tail -1 "$TSV" >&2
  tail -1 "$TSV" | grep -q 'ok$'
}
load_step() {  # load_step RATE -> one row; returns 1 when the step failed
  local rate=$1 d="$WORK/load-$1"; mkdir -p "$d"
  local phones=$(( rate * HOLD * 3 / 2 + 100 ))
  local s0 p0; s0=$(ticks "$SERVER_PID"); p0=$(pool_packets)
  /usr/bin/time -o "$d/time" -f '%e %U %S %M' timeout $(( DUR + HOLD + 90 )) \
    "$BIN" load $ADDR --profile "$WORK/profile.json" --port-offset $OFFSET --sources 127.0.1.0/24 --phones "$phones" \
      --protocol sip --register-rate 5000 --cps "$rate" --hold "${HOLD}s" --duration "${DUR}s" --max-failure-ratio 0.001 \
      --quiet --json "$d/report.json" ${LOAD_ARGS:-} > "$d/summary.txt" 2>&1 &
  local tp=$!; window_of "$tp" "$d/window" &
  local wp=$!; wait "$tp" || true; wait "$wp" || true
  sleep 1
  local s1 p1; s1=$(ticks "$SERVER_PID"); p1=$(pool_packets)
  cp "$d/summary.txt" "$OUT/sip-cps-cucmsim-r$rep-$rate.txt"
  python3 - "$d" "$rate" "$HOLD" "$DUR" "$(( s1 - s0 ))" "$HZ" "$(( p1 - p0 ))" "$rep" >> "$TSV" <<'PY'
import json, re, sys
d, rate, hold, dur, srv, hz, pool, rep = sys.argv[1:]
rate, hold, dur, srv, hz, pool = int(rate), float(hold), float(dur), int(srv), int(hz), int(pool)
el, ut, st, rss = open(d + "/time").read().split()[-4:]
try:
    c = json.load(open(d + "/report.json"))["counters"]
except Exception:
    c = {}
txt = open(d + "/summary.txt").read()
calls = int(rate * dur)
att, ok, failed = c.get("callsAttempted", 0), c.get("callsCompleted", 0), c.get("callsFailed", 0)
dropped = c.get("callsDropped", 0)
cpu = float(ut) + float(st)
steady = int(open(d + "/window").read().strip() or 0) / hz / (rate * 10) * 1e6   # 10 s at the full rate
late = float(el) > dur + hold + 5 + 10     # registration and unregistration take a few seconds of their own
good = att == calls and failed + dropped <= 0.001 * att and ok >= 0.999 * calls and not late \
    and c.get("registrationsFailed", 1) == 0
sent = c.get("rtpSent", 0); lost = c.get("rtpLost", 0)
m = re.search(r"jitter p50 ([\d.]+) ms, p95 ([\d.]+) ms", txt); mos = re.search(r"MOS worst ([\d.]+), p5 ([\d.]+)", txt)
expected = ok * hold * 50 * 1.0
print("\t".join(map(str, ["cucmsim", rep, rate, hold, calls, att, ok, failed + dropped, c.get("registrationsFailed", "?"),
      round(float(el), 1), round(cpu, 2), round(cpu / max(ok, 1) * 1e6), round(steady), int(rss), round(srv / hz, 2),
      round(srv / hz / max(ok, 1) * 1e6), pool, f"{min(pool / expected, 9.99) if expected else 0:.4f}",
      f"{lost / sent:.5f}" if sent else "-", m.group(2) if m else "-", mos.group(2) if mos else "-",
      "ok" if good else "FAIL"])))
PY
  tail -1 "$TSV" >&2
  tail -1 "$TSV" | grep -q 'ok$'
}
sip_cps() {
  [ -s "$TSV" ] || row "gen	rep	rate	hold_s	calls_planned	created	ok	failed	retrans_or_regfail	elapsed_s	gen_cpu_s	gen_us_per_call	gen_us_per_call_steady	gen_maxrss_kb	serve_cpu_s	serve_us_per_call	pool_rtp_packets	pool_rtp_vs_expected	rtp_loss	jitter_p95_ms	mos_p5	verdict"
  for rep in $(seq "$REP_FIRST" $(( REP_FIRST + REPS - 1 ))); do
    local order="sipp cucmsim"; [ $(( rep % 2 )) = 0 ] && order="cucmsim sipp"
    [ -n "${GENS:-}" ] && order=$GENS
    for gen in $order; do
      lock; log "sip-cps rep $rep $gen: hold ${HOLD}s, ${DUR}s of calls a step, rates $RATES"
      start_serve --only t6.sip,t6.rtp-to-cucm --ledger none
      for rate in $RATES; do
        if [ $gen = sipp ]; then sipp_step "$rate" || break; else load_step "$rate" || break; fi
      done
      stop_serve; unlock
    done
  done
}

# ---------- sccp-reg ----------
sccp_reg() {
  local gen_pin=
  if [ "${PIN:-0}" = 1 ]; then SERVE_PIN="taskset -c 1"; gen_pin="taskset -c 0"; log "sccp-reg pinned: serve on CPU 1, generators on CPU 0"; fi
  gcc -O2 -Wall -Wextra -o "$WORK/sccpload" "$ROOT/loadtests/sccp/sccpload.c"
  [ -s "$TSV" ] || row "gen	rep	phones	register_rate_opt	registered	failed	tool_rate	ledger_span_s	ledger_rate	gen_cpu_s	gen_us_per_reg	serve_cpu_s	serve_us_per_reg	verdict"
  for rep in $(seq "$REP_FIRST" $(( REP_FIRST + REPS - 1 ))); do
    for n in $PHONES; do
      local order="sccpload cucmsim"; [ $(( rep % 2 )) = 0 ] && order="cucmsim sccpload"
      for gen in $order; do
        local rates="-"; [ $gen = cucmsim ] && rates=${REG_RATES:-5000 10000 20000 40000}
        for rr in $rates; do
          lock; log "sccp-reg rep $rep $gen $n phones (register rate $rr)"
          start_serve --only t6.sccp --ledger "$WORK/ledger.jsonl" --ledger-max-mb 1024 --sccp-keepalive 10
          local s0 d="$WORK/sccp-$gen-$n-$rr"; mkdir -p "$d"; s0=$(ticks "$SERVER_PID")
          if [ $gen = sccpload ]; then
            $gen_pin /usr/bin/time -o "$d/time" -f '%e %U %S %M' "$WORK/sccpload" --target $ADDR:$SCCP_PORT --phones "$n" --proto 17 \
              --ka 10 --hold 5 --server-pid "$SERVER_PID" --src3 10 > "$d/out.txt" 2>"$d/err.txt" || true
          else
            $gen_pin /usr/bin/time -o "$d/time" -f '%e %U %S %M' "$BIN" load $ADDR --profile "$WORK/profile.json" --port-offset $OFFSET \
              --sources 127.0.10.0/29 --phones "$n" --protocol sccp --no-media --register-rate "$rr" --cps 0.001 \
              --duration 5s --quiet --json "$d/report.json" > "$d/out.txt" 2>&1 || true
            cp "$d/out.txt" "$OUT/sccp-reg-cucmsim-r$rep-$n-$rr.txt"
          fi
          local s1; s1=$(ticks "$SERVER_PID")
          stop_serve; unlock
          python3 - "$d" "$gen" "$rep" "$n" "$rr" "$(( s1 - s0 ))" "$HZ" "$WORK/ledger.jsonl" >> "$TSV" <<'PY'
import json, re, sys
from datetime import datetime
d, gen, rep, n, rr, srv, hz, ledger = sys.argv[1:]
n, srv, hz = int(n), int(srv), int(hz)
el, ut, st, rss = open(d + "/time").read().split()[-4:]
cpu = float(ut) + float(st)
t_open = t_reg = None; regs = 0
for line in open(ledger):
    if '"tcp-open"' not in line and '"sccp-register"' not in line:
        continue
    r = json.loads(line)
    t = datetime.fromisoformat(r["time"]).timestamp()
    if r["kind"] == "tcp-open" and t_open is None:
        t_open = t
    if r["kind"] == "sccp-register" and r.get("verdict") == "registered":
        regs += 1; t_reg = t
span = (t_reg - t_open) if t_open and t_reg else 0
out = open(d + "/out.txt").read()
if gen == "sccpload":
    m = re.search(r"registered=(\d+).*?failed=(\d+).*?reg_rate=(\d+)", out)
    registered, failed, tool = (m.group(1), m.group(2), m.group(3)) if m else ("?", "?", "?")
else:
    c = json.load(open(d + "/report.json"))["counters"]
    registered, failed = c["registrationsSucceeded"], c["registrationsFailed"]
    tool = "-"
good = str(registered) == str(n) and str(failed) == "0" and regs == n
print("\t".join(map(str, [gen, rep, n, rr, registered, failed, tool, round(span, 3), round(regs / span) if span else 0,
      round(cpu, 2), round(cpu / max(n, 1) * 1e6, 1), round(srv / hz, 2), round(srv / hz / max(n, 1) * 1e6, 1),
      "ok" if good else "FAIL"])))
PY
          tail -1 "$TSV" >&2
        done
      done
    done
  done
}

# ---------- phones ----------
phones() {
  [ -s "$TSV" ] || row "protocol	rep	phones	registered	failed	refreshes	refreshes_failed	reg_span_s	reg_rate	gen_fds	gen_rss_kb_held	gen_maxrss_kb	serve_fds	serve_rss_kb	gen_cpu_s	verdict"
  for rep in $(seq "$REP_FIRST" $(( REP_FIRST + REPS - 1 ))); do
    for proto in sccp sip; do
      for n in 1000 "$NPHONES"; do
        lock; log "phones rep $rep: $n $proto phones held 60 s"
        if [ $proto = sccp ]; then start_serve --only t6.sccp --ledger none --sccp-keepalive 10; else start_serve --only t6.sip --ledger none; fi
        local d="$WORK/phones-$proto-$n"; mkdir -p "$d"
        /usr/bin/time -o "$d/time" -f '%e %U %S %M' "$BIN" load $ADDR --profile "$WORK/profile.json" --port-offset $OFFSET \
          --sources 127.0.20.0/29 --phones "$n" --protocol $proto --no-media --register-rate 5000 --cps 0.001 \
          --duration 60s --refresh 20s --quiet --json "$d/report.json" > "$d/out.txt" 2>&1 &
        local tp=$! lp=
        for _ in $(seq 1 50); do lp=$(pgrep -P "$tp" -x cucmsim || true); [ -n "$lp" ] && break; sleep 0.1; done
        sleep 40   # registered (at 5,000/s: under 4 s) and a couple of keepalive or refresh rounds in
        local gfds grss sfds srss; gfds=$(fds_of "$lp"); grss=$(rss_kb "$lp"); sfds=$(fds_of "$SERVER_PID"); srss=$(rss_kb "$SERVER_PID")
        wait "$tp" || true
        stop_serve; unlock
        cp "$d/out.txt" "$OUT/phones-$proto-r$rep-$n.txt"
        python3 - "$d" "$proto" "$rep" "$n" "$gfds" "$grss" "$sfds" "$srss" >> "$TSV" <<'PY'
import json, sys
d, proto, rep, n, gfds, grss, sfds, srss = sys.argv[1:]
n = int(n)
el, ut, st, rss = open(d + "/time").read().split()[-4:]
r = json.load(open(d + "/report.json")); c = r["counters"]
tl = [t for t in r["timeline"] if t["counters"]["registrationsSucceeded"] > 0]
span = (tl[-1]["startMs"] + tl[-1]["lengthMs"] - tl[0]["startMs"]) / 1000 if tl else 0
good = c["registrationsSucceeded"] == n and c["registrationsFailed"] == 0 and c["refreshesFailed"] == 0
print("\t".join(map(str, [proto, rep, n, c["registrationsSucceeded"], c["registrationsFailed"], c["refreshes"],
      c["refreshesFailed"], span, round(c["registrationsSucceeded"] / span) if span else 0, gfds, grss, rss, sfds, srss,
      round(float(ut) + float(st), 2), "ok" if good else "FAIL"])))
PY
        tail -1 "$TSV" >&2
      done
    done
  done
}

# ---------- concurrent ----------
concurrent() {  # concurrent MODE (server|phone)
  local mode=$1
  [ -s "$TSV" ] || row "mode	rep	cps	hold_s	calls	established	failed	dropped	max_concurrent	legs	legs_lost	rtp_sent	rtp_lost	loss	jitter_p50_ms	jitter_p95_ms	jitter_p99_ms	mos_worst	mos_p5	setup_p99_ms	gen_cpu_pct	serve_cpu_pct	gen_maxrss_kb	verdict"
  for rep in $(seq "$REP_FIRST" $(( REP_FIRST + REPS - 1 ))); do
    lock; log "concurrent rep $rep ($mode): --cps $CC_CPS --hold $CC_HOLD --duration $CC_DUR"
    local extra=(); [ "$mode" = phone ] && extra=(--mode phone)
    start_serve --only t6.sip,t6.rtp-to-cucm --ledger none
    local d="$WORK/cc-$mode-$rep" phones=$(( CC_CPS * CC_HOLD * 3 / 2 + 100 )); mkdir -p "$d"
    [ "$mode" = phone ] && phones=$(( phones * 2 ))
    local s0 t0; s0=$(ticks "$SERVER_PID"); t0=$(date +%s.%N)
    /usr/bin/time -o "$d/time" -f '%e %U %S %M' "$BIN" load $ADDR --profile "$WORK/profile.json" --port-offset $OFFSET \
      --sources 127.0.30.0/24 --phones "$phones" --protocol sip --register-rate 2000 --cps "$CC_CPS" --hold "${CC_HOLD}s" \
      --duration "${CC_DUR}s" --ramp-up 10s --ramp-down 10s --max-failure-ratio 0.001 "${extra[@]}" \
      --quiet --json "$d/report.json" > "$d/out.txt" 2>&1 || true
    local s1 t1; s1=$(ticks "$SERVER_PID"); t1=$(date +%s.%N)
    stop_serve; unlock
    cp "$d/out.txt" "$OUT/concurrent-$mode-c$CC_CPS-r$rep.txt"
    python3 - "$d" "$mode" "$rep" "$CC_CPS" "$CC_HOLD" "$(( s1 - s0 ))" "$HZ" "$t0" "$t1" >> "$TSV" <<'PY'
import json, re, sys
d, mode, rep, cps, hold, srv, hz, t0, t1 = sys.argv[1:]
srv, hz, wall = int(srv), int(hz), float(t1) - float(t0)
el, ut, st, rss = open(d + "/time").read().split()[-4:]
r = json.load(open(d + "/report.json")); c = r["counters"]; txt = open(d + "/out.txt").read()
j = re.search(r"jitter p50 ([\d.]+) ms, p95 ([\d.]+) ms, p99 ([\d.]+) ms", txt)
mos = re.search(r"MOS worst ([\d.]+), p5 ([\d.]+)", txt); su = re.search(r"setup time .*?p99 ([\d.]+) ms", txt)
sent, lost = c["rtpSent"], c["rtpLost"]
loss = lost / sent if sent else 0
good = c["callsFailed"] <= 0.001 * c["callsAttempted"] and loss < 0.001
print("\t".join(map(str, [mode, rep, cps, hold, c["callsAttempted"], c["callsEstablished"], c["callsFailed"],
      c["callsDropped"], r["maxConcurrentCalls"], c["mediaLegs"], c["mediaLegsLost"], sent, lost, f"{loss:.5f}",
      j.group(1) if j else "-", j.group(2) if j else "-", j.group(3) if j else "-", mos.group(1) if mos else "-",
      mos.group(2) if mos else "-", su.group(1) if su else "-", round(100 * (float(ut) + float(st)) / float(el)),
      round(100 * srv / hz / wall), int(rss), "ok" if good else "FAIL"])))
PY
    tail -1 "$TSV" >&2
  done
}

case "$SUB" in
  sip-cps) sip_cps;;
  sccp-reg) sccp_reg;;
  phones) phones;;
  concurrent) concurrent server;;
  concurrent-p2p) TSV="$OUT/concurrent.tsv"; concurrent phone;;
  *) echo "unknown benchmark $SUB" >&2; exit 2;;
esac
log "done: $TSV"
