#!/usr/bin/env bash
# What nmap's service detection names on every listener of a role: serve runs in a network namespace of its own on
# the profile's real ports (nmap's probes choose by port), nmap -sV over every TCP listener and -sU -sV over every
# UDP listener but the media pool. Writes nmap's grepable output to OUT.tcp and OUT.udp.
#   sudo loadtests/nmap/services.sh [DLL] [OUT-PREFIX] [ROLE]
set -euo pipefail
cd "$(dirname "$0")/../.."
dll=${1:-src/CucmSim/bin/Release/net10.0/cucmsim.dll}
out=${2:-/tmp/cucmsim-nmap}
role=${3:-cucm}
ns="csnmap$$"
state=$(mktemp -d)
cleanup() { set +e; ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM; sleep 1; ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL; ip netns del "$ns" 2>/dev/null; rm -rf "$state"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" dotnet "$dll" serve --role "$role" --control 127.0.0.1:9900 --ledger none --state-dir "$state" --log-level warning >"$state/serve.log" 2>&1 &
for _ in $(seq 1 300); do ip netns exec "$ns" curl -fs http://127.0.0.1:9900/healthz >/dev/null 2>&1 && break; sleep 0.2; done
listeners=$(ip netns exec "$ns" curl -fs http://127.0.0.1:9900/api/listeners)
tcp=$(python3 -c 'import json,sys; print(",".join(sorted({str(l["port"]) for l in json.load(sys.stdin) if l["transport"].lower()=="tcp" and l["port"]!=9900}, key=int)))' <<<"$listeners")
udp=$(python3 -c 'import json,sys; print(",".join(sorted({str(l["port"]) for l in json.load(sys.stdin) if l["transport"].lower()=="udp"}, key=int)))' <<<"$listeners")
echo "tcp: $tcp" >&2
echo "udp: $udp" >&2
ip netns exec "$ns" nmap -n -Pn -sT -sV -p "$tcp" -oG "$out.tcp" 127.0.0.1 >/dev/null
ip netns exec "$ns" nmap -n -Pn -sU -sV -p "$udp" -oG "$out.udp" 127.0.0.1 >/dev/null
grep -c "/open/" "$out.tcp" "$out.udp" >&2 || true
