#!/usr/bin/env python3
"""The legitimate client of a flood run: requests at a fixed rate for a fixed time, each waited for at most 1 s.
   legit.py KIND PORT RATE SECONDS    KIND: sip-udp | sip-tcp | snmp | tftp | sccp (a fresh connection and
   RegisterReq each) | http. Prints: KIND sent N answered N ratio R p50_ms X p99_ms Y max_ms Z"""
import socket, struct, sys, time

kind, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
assert rate <= 1000 and seconds <= 600
target = ("127.0.0.1", port)

def options(i, transport):
    return (f"OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK-legit-{i};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:legit@127.0.0.1>;tag={i}\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: legit-{i}@127.0.0.1\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()

def ber(tag, body): return bytes([tag, len(body)]) + body

def snmp_get(i):
    oid = bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])
    pdu = ber(0xA0, ber(2, struct.pack(">I", i & 0x7FFFFFFF)) + ber(2, b"\0") + ber(2, b"\0") + ber(0x30, ber(0x30, ber(6, oid) + ber(5, b""))))
    return ber(0x30, ber(2, b"\x01") + ber(4, b"public") + pdu)

def register(i):
    body = bytearray(124)
    name = f"SEP{0xF10000 + i:012X}".encode(); body[0:len(name)] = name
    struct.pack_into("<I", body, 20, 1); body[24:28] = socket.inet_aton("127.0.0.1")
    struct.pack_into("<II", body, 28, 115, 5); body[40] = 17; body[42] = 0x72; body[43] = 0x85
    return struct.pack("<III", 128, 0, 0x0001) + bytes(body)

def once(i):
    if kind in ("sip-udp", "snmp", "tftp"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0)
            data = {"sip-udp": lambda: options(i, "UDP"), "snmp": lambda: snmp_get(i),
                    "tftp": lambda: b"\0\x01" + f"SEP{0xF20000 + i:012X}.cnf.xml".encode() + b"\0octet\0"}[kind]()
            s.sendto(data, target)
            reply = s.recv(65536)
            return reply.startswith(b"SIP/2.0 200") if kind == "sip-udp" else len(reply) > 0
    with socket.create_connection(target, timeout=1.0) as s:
        if kind == "sip-tcp":
            s.sendall(options(i, "TCP")); return s.recv(4096).startswith(b"SIP/2.0 200")
        if kind == "http":
            s.sendall(b"GET / HTTP/1.1\r\nHost: cucm\r\nConnection: close\r\n\r\n"); return s.recv(4096).startswith(b"HTTP/1.1 200")
        s.sendall(register(i))
        head = b""
        while len(head) < 12:
            chunk = s.recv(12 - len(head))
            if not chunk: return False
            head += chunk
        return struct.unpack("<I", head[8:12])[0] in (0x0081, 0x009D)  # RegisterAck, or RegisterReject: answered

latencies, sent, start = [], 0, time.monotonic()
while time.monotonic() - start < seconds:
    due = start + sent / rate
    if time.monotonic() < due: time.sleep(due - time.monotonic())
    t = time.monotonic()
    try:
        if once(sent): latencies.append((time.monotonic() - t) * 1000)
    except OSError:
        pass
    sent += 1
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")
print(f"{kind} sent {sent} answered {len(latencies)} ratio {len(latencies) / max(sent, 1):.4f} p50_ms {pct(0.5):.2f} p99_ms {pct(0.99):.2f} max_ms {latencies[-1] if latencies else float('nan'):.2f}")
