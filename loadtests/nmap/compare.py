#!/usr/bin/env python3
"""Prints nmap's service detection before and after as a Markdown table, from the grepable outputs that
services.sh writes (PREFIX.tcp, PREFIX.udp): port, what nmap named before, what it names now."""
import re
import sys


def read(prefix):
    result = {}
    for proto in ("tcp", "udp"):
        try:
            text = open(f"{prefix}.{proto}").read()
        except FileNotFoundError:
            continue
        for m in re.finditer(r"Ports: (.*?)(?:\t|$)", text, re.M):
            for entry in m.group(1).split(", "):
                f = entry.split("/")
                if len(f) < 7:
                    continue
                port, state, service, version = int(f[0]), f[1], f[4], f[6]
                result[(port, proto)] = (state, service, version.strip())
    return result


def show(x):
    if x is None:
        return "(not bound)"
    state, service, version = x
    text = service or "?"
    if version:
        text += f" ({version})"
    return text if state == "open" else f"{text}, {state}"


def named(x):
    return x is not None and x[0] == "open" and x[1] not in ("", "unknown", "tcpwrapped") and not x[1].endswith("?")


before, after = read(sys.argv[1]), read(sys.argv[2])
ports = sorted(set(before) | set(after), key=lambda k: (k[1], k[0]))
print("| port | nmap before | nmap now |")
print("|---|---|---|")
for key in ports:
    b, a = before.get(key), after.get(key)
    print(f"| {key[0]}/{key[1]} | {show(b)} | {show(a)} |")
print()
nb = sum(1 for k in ports if named(before.get(k)))
na = sum(1 for k in ports if named(after.get(k)))
print(f"Open with a service named (not unknown, tcpwrapped or guessed with '?'): {nb} of {len(before)} before, {na} of {len(after)} now.")
