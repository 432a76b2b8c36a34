#!/usr/bin/env bash
# Probe benchmarks, in one run, inside a network namespace of their own (the profile's own ports, on its loopback):
#   full     a full phone-role probe of the cucm profile (RTP sample 64) against serve: wall time (goal < 5 s)
#   drop     every port silently dropped (nftables): wall time against timeout x (retries + 1) + 2 s
#   nmap     the same target and ports: nmap -sT over the TCP ports plus nmap -sU -sV over the UDP ports, wall time
#            and definite answers ('open|filtered' is not one) against the probe's (a port is definite when its
#            verdict is not inconclusive)
# Usage: sudo loadtests/probe/bench.sh [REPS]
# Output: loadtests/results/<stamp>-probe/results.tsv (LABEL<TAB>VALUE) and a summary on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
REPS="${1:-3}"
OUT="$ROOT/loadtests/results/$(date +%Y%m%d-%H%M%S)-probe"; mkdir -p "$OUT"
TSV="$OUT/results.tsv"; : > "$TSV"
NS="cpb$$"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
command -v nmap >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap >/dev/null; }

dotnet build "$ROOT/CucmSim.sln" -c Release -v quiet -nologo >&2
SIM="$ROOT/src/CucmSim/bin/Release/net10.0/cucmsim"
SIM_PID=
cleanup() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"; ip -n "$NS" link set lo up
ip netns exec "$NS" "$SIM" serve --bind 127.0.0.1 --control 127.0.0.1:9900 --ledger none --log-level warning --state-dir "$OUT/state" > "$OUT/serve.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 1 300); do grep -q '^ready:' "$OUT/serve.log" && break; kill -0 $SIM_PID 2>/dev/null || { cat "$OUT/serve.log"; exit 1; }; sleep 0.05; done
grep '^ready:' "$OUT/serve.log" >&2

probe() { ip netns exec "$NS" "$SIM" probe 127.0.0.1 --control http://127.0.0.1:9900 "$@"; }
elapsed() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['elapsedMs']/1000, 3))" "$1"; }
definite() { python3 -c "
import json,sys
r=json.load(open(sys.argv[1]))
ports=set(); definite=set()
for f in r['flows']:
    for l in f['legs']:
        if l['name'] in ('echo','rtp-echo'):
            ports.add(l['listener'])
            if l['verdict']!='inconclusive': definite.add(l['listener'])
print(len(definite), len(ports))" "$1"; }

log "full: phone role, RTP sample 64, $REPS runs"
for i in $(seq 1 "$REPS"); do
  t0=$(date +%s.%N); probe --rtp-sample 64 --json "$OUT/full-$i.json" > "$OUT/full-$i.txt" || true; t1=$(date +%s.%N)
  printf 'full.run%s.wall_s\t%s\n' "$i" "$(python3 -c "print(round($t1-$t0,3))")" >> "$TSV"
  printf 'full.run%s.elapsed_s\t%s\n' "$i" "$(elapsed "$OUT/full-$i.json")" >> "$TSV"
done

# The ports the probe dialled: nmap gets the same.
TCP=$(python3 -c "import json; r=json.load(open('$OUT/full-1.json')); print(','.join(sorted({l['listener'][4:] for f in r['flows'] for l in f['legs'] if l['listener'].startswith('tcp/')}, key=int)))")
UDP=$(python3 -c "import json; r=json.load(open('$OUT/full-1.json')); print(','.join(sorted({l['listener'][4:] for f in r['flows'] for l in f['legs'] if l['listener'].startswith('udp/')}, key=int)))")

log "nmap: -sT over $TCP; -sU -sV over $UDP"
t0=$(date +%s.%N)
ip netns exec "$NS" nmap -n -Pn -sT -p "$TCP" -oG "$OUT/nmap-tcp.gnmap" 127.0.0.1 > /dev/null
ip netns exec "$NS" nmap -n -Pn -sU -sV -p "$UDP" -oG "$OUT/nmap-udp.gnmap" 127.0.0.1 > /dev/null
t1=$(date +%s.%N)
NMAP_WALL=$(python3 -c "print(round($t1-$t0,3))")
NMAP_DEFINITE=$(cat "$OUT"/nmap-*.gnmap | grep -o '[0-9]*/[a-z|]*/\(tcp\|udp\)' | awk -F/ '$2=="open"||$2=="closed"' | wc -l)
NMAP_PORTS=$(cat "$OUT"/nmap-*.gnmap | grep -o '[0-9]*/[a-z|]*/\(tcp\|udp\)' | wc -l)
read -r PROBE_DEFINITE PROBE_PORTS < <(definite "$OUT/full-1.json")
printf 'nmap.wall_s\t%s\nnmap.definite\t%s/%s\nprobe.definite\t%s/%s\n' "$NMAP_WALL" "$NMAP_DEFINITE" "$NMAP_PORTS" "$PROBE_DEFINITE" "$PROBE_PORTS" >> "$TSV"

log "drop: every port silently dropped, --timeout 2 --retries 1 (bound: 2 x 2 + 2 = 6 s)"
ip netns exec "$NS" nft -f - <<'RULES'
table inet bench {
  chain out {
    type filter hook output priority 0;
    tcp dport 9900 accept
    tcp sport 9900 accept
    meta l4proto { tcp, udp } drop
  }
}
RULES
t0=$(date +%s.%N); probe --timeout 2 --retries 1 --json "$OUT/drop.json" > "$OUT/drop.txt" || true; t1=$(date +%s.%N)
printf 'drop.wall_s\t%s\ndrop.elapsed_s\t%s\ndrop.bound_s\t6\n' "$(python3 -c "print(round($t1-$t0,3))")" "$(elapsed "$OUT/drop.json")" >> "$TSV"

cat "$TSV"
python3 - "$TSV" <<'PY'
import sys
v = dict(line.rstrip('\n').split('\t') for line in open(sys.argv[1]))
full = sorted(float(v[k]) for k in v if k.startswith('full.') and k.endswith('elapsed_s'))
median = full[len(full) // 2]
print(f"full phone role, RTP sample 64: median {median:.2f} s (goal < 5 s): {'met' if median < 5 else 'MISSED'}")
print(f"every port dropped: {float(v['drop.elapsed_s']):.2f} s (bound {v['drop.bound_s']} s): {'met' if float(v['drop.elapsed_s']) < float(v['drop.bound_s']) else 'MISSED'}")
print(f"nmap -sT + -sU -sV: {float(v['nmap.wall_s']):.1f} s, {v['nmap.definite']} definite; probe: {median:.2f} s, {v['probe.definite']} definite")
PY
