#!/usr/bin/env bash
# One AFL++ campaign against one harness: CucmSim.Protocols.dll instrumented by SharpFuzz, afl-fuzz driving
# `dotnet cucmsim-fuzz.dll afl CODEC` (persistent mode), seeded by corpus.sh. Prints one summary line
# (executions, paths, crashes, hangs, seconds) and replays every crash and hang through the harness.
# Usage: run.sh CODEC SECONDS [WORKDIR]      (run.sh list: the harnesses)
# CUCMSIM_FUZZ_EXECS=N stops the campaign after N executions when that comes before SECONDS.
# Needs Debian's afl++ and the SharpFuzz.CommandLine tool (installed under the work directory when missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
codec="${1:?usage: run.sh CODEC SECONDS [WORKDIR]}"
work="${3:-${TMPDIR:-/tmp}/cucmsim-fuzz}"
bin="$here/CucmSim.Fuzz/bin/Release/net10.0"

if [ ! -f "$bin/cucmsim-fuzz.dll" ] || [ "${CUCMSIM_FUZZ_BUILD:-1}" = 1 ]; then
  dotnet build "$here/CucmSim.Fuzz" -c Release -v quiet -nologo >/dev/null
fi
if [ "$codec" = list ]; then
  exec dotnet "$bin/cucmsim-fuzz.dll" list
fi
seconds="${2:?usage: run.sh CODEC SECONDS [WORKDIR]}"
dotnet "$bin/cucmsim-fuzz.dll" list | grep -qx "$codec" || { echo "run.sh: no harness $codec" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "run.sh: afl-fuzz missing (Debian package afl++)" >&2; exit 2; }

sharpfuzz="$work/tools/sharpfuzz"
if [ ! -x "$sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$work/tools" >/dev/null
fi

# A private copy of the build with the codec assembly instrumented (the build itself stays clean).
target="$work/$codec"
rm -rf "$target"
mkdir -p "$target"
cp -r "$bin" "$target/bin"
"$sharpfuzz" "$target/bin/CucmSim.Protocols.dll" >/dev/null
"$here/corpus.sh" "$target/corpus" "$bin/cucmsim-fuzz.dll" >/dev/null

# dotnet is not an instrumented binary (AFL_SKIP_BIN_CHECK); the timeout covers the runtime's start.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
start=$(date +%s)
limit=()
[ -n "${CUCMSIM_FUZZ_EXECS:-}" ] && limit=(-E "$CUCMSIM_FUZZ_EXECS")
afl-fuzz -i "$target/corpus/$codec" -o "$target/findings" -t 5000 -m none -V "$seconds" "${limit[@]}" \
  -- dotnet "$target/bin/cucmsim-fuzz.dll" afl "$codec" >"$target/afl.log" 2>&1 || { tail -30 "$target/afl.log" >&2; exit 1; }
elapsed=$(( $(date +%s) - start ))

stats="$target/findings/default/fuzzer_stats"
value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crashes=$(value saved_crashes); hangs=$(value saved_hangs)
printf '%s\texecutions %s\tpaths %s\tcrashes %s\thangs %s\tseconds %s\texecs/s %s\n' \
  "$codec" "$(value execs_done)" "$(value corpus_count)" "$crashes" "$hangs" "$elapsed" "$(value execs_per_sec)"

status=0
for f in "$target"/findings/default/crashes/id:* "$target"/findings/default/hangs/id:*; do
  [ -f "$f" ] || continue
  status=1
  echo "finding: $f"
  timeout 60 dotnet "$bin/cucmsim-fuzz.dll" replay "$codec" "$f" | head -20 || true
done
exit $status
