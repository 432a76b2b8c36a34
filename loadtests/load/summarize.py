#!/usr/bin/env python3
"""Summary of loadtests/load/bench.sh results: summarize.py RESULTS_DIR (prints; bench.sh's tables stay the data).

sip-cps: a step counts when its calls passed (bench.sh's verdict: < 0.1 % failed, none late) and its media did:
for cucmsim, RTP round-trip loss < 0.1 % (it measures every echo); for SIPp, which does not read the echoes, the
RTP serve's pool received >= 99 % of what the calls should have sent (SIPp's complete calls reach 99.4 % at low
rates: rtp_stream starts after the ACK and stops at the BYE). The figure per generator and repetition is the
highest rate of an unbroken run of counted steps from the lowest.
"""
import csv, os, sys
from collections import defaultdict


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def media_ok(r):
    if r["gen"] == "cucmsim":
        return r["rtp_loss"] not in ("-", "") and float(r["rtp_loss"]) < 0.001
    return float(r["pool_rtp_vs_expected"]) >= 0.99


def sip_cps(path):
    by = defaultdict(list)
    for r in rows(path):
        by[(r["gen"], r["rep"])].append(r)
    print("sip-cps: highest rate with calls and media passing (an unbroken run of steps from the lowest)")
    print("gen\trep\tcalls-only max\tcalls+media max\tgen us/call there (whole; steady)\tserve us/call there")
    best = {}
    for (gen, rep), rs in sorted(by.items()):
        rs.sort(key=lambda r: int(r["rate"]))
        calls_max = media_max = None
        at = None
        for r in rs:
            if r["verdict"] != "ok":
                break
            calls_max = r["rate"]
        for r in rs:
            if r["verdict"] != "ok" or not media_ok(r):
                break
            media_max, at = r["rate"], r
        best[(gen, rep)] = at
        print(f"{gen}\t{rep}\t{calls_max}\t{media_max}\t"
              f"{at['gen_us_per_call'] if at else '-'}; {at['gen_us_per_call_steady'] if at else '-'}\t"
              f"{at['serve_us_per_call'] if at else '-'}")
    print("\nsip-cps: generator CPU per call at each rate both ran (median of repetitions; whole process / steady)")
    per = defaultdict(lambda: defaultdict(list))
    for r in rows(path):
        per[int(r["rate"])][r["gen"]].append(r)
    print("rate\tsipp us/call\tcucmsim us/call\tratio (whole)\tsipp steady\tcucmsim steady\tratio (steady)\tmedia ok sipp/cucmsim")
    med = lambda xs: sorted(xs)[len(xs) // 2]
    for rate in sorted(per):
        g = per[rate]
        if "sipp" not in g or "cucmsim" not in g:
            continue
        s = med([int(r["gen_us_per_call"]) for r in g["sipp"]]); c = med([int(r["gen_us_per_call"]) for r in g["cucmsim"]])
        ss = med([int(r["gen_us_per_call_steady"]) for r in g["sipp"]])
        cs = med([int(r["gen_us_per_call_steady"]) for r in g["cucmsim"]])
        mo = lambda k: "/".join("y" if media_ok(r) and r["verdict"] == "ok" else "n" for r in g[k])
        print(f"{rate}\t{s}\t{c}\t{c / s:.2f}\t{ss}\t{cs}\t{cs / ss:.2f}\t{mo('sipp')} / {mo('cucmsim')}")


def main():
    d = sys.argv[1]
    if os.path.exists(os.path.join(d, "sip-cps.tsv")):
        sip_cps(os.path.join(d, "sip-cps.tsv"))


if __name__ == "__main__":
    main()
