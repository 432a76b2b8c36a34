#!/usr/bin/env bash
# Runs every test of CucmSim. On a fresh Debian machine it first installs what the tests need: the real
# protocol clients from Debian (the tests talk to CucmSim with them) and the NuGet packages (dotnet restore).
set -euo pipefail
cd "$(dirname "$0")"

packages=(sip-tester sipsak afl++ snmp snmpd snmptrapd tftp-hpa atftp curl openssl tshark nmap netcat-openbsd iproute2 nftables libxml2-utils ike-scan iptables conntrack openssh-client zsh ldap-utils busybox chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The profile's listener ports that lie in the kernel's ephemeral range (CUCM's 50000-50004; serve warns of the same
# at start): reserved from it (net.ipv4.ip_local_reserved_ports, the ports already reserved kept), so that no outgoing
# connection of an earlier test holds one when the tests that bind the whole profile run. Root only; without, a
# leftover client socket on such a port can fail those tests' bind.
if [ "$(id -u)" -eq 0 ]; then
  reserve=$(python3 - <<'PY'
import json, re
lines = [l for l in open("profiles/cucm.json") if not l.lstrip().startswith("//")]
profile = json.loads("".join(lines))
low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
ports = set()
for part in open("/proc/sys/net/ipv4/ip_local_reserved_ports").read().strip().split(","):
    if part:
        a, _, b = part.partition("-")
        ports.update(range(int(a), int(b or a) + 1))
before = len(ports)
for flow in profile["flows"]:
    if flow.get("to") != "cucm":
        continue
    for part in str(flow.get("ports", "")).split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if m:
            ports.update(p for p in range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1) if low <= p <= high)
if len(ports) > before:
    ordered, runs = sorted(ports), []
    for p in ordered:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    print(",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs))
PY
)
  if [ -n "$reserve" ]; then
    sysctl -q -w net.ipv4.ip_local_reserved_ports="$reserve" || echo "test.sh: could not reserve ports $reserve" >&2
  fi
fi

dotnet restore CucmSim.sln
dotnet build CucmSim.sln -c Release --no-restore -v quiet -nologo
results=$(mktemp -d)
status=0
dotnet test CucmSim.sln -c Release --no-build --results-directory "$results" --logger "trx" \
  --logger "console;verbosity=minimal" -- RunConfiguration.TestSessionTimeout=1500000 || status=$?

# One closing line for the whole run, summed over the test projects.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for f in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(f).getroot().find(".//{*}ResultSummary/{*}Counters")
    passed += int(c.get("passed", 0)); failed += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    skipped += int(c.get("notExecuted", 0))
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY

# The container image, built from the Dockerfile and run, where Docker can be installed (root, Debian's docker.io).
if [ "$(id -u)" -eq 0 ] && [ "${CUCMSIM_SKIP_CONTAINER:-0}" != 1 ]; then
  if tests/container/run.sh; then echo "container: passed"; else echo "container: FAILED"; status=1; fi
fi
exit $status
