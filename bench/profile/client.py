#!/usr/bin/env python3
"""Load for bench/profile: usage client.py PORT WORKLOAD PHASE N P (PHASE preload | run).
Sends N commands of WORKLOAD, P per round trip (C=<n> in the environment: n connections,
one request each per round), and reads every reply. The bytes depend only on the arguments
(seeded), so two servers get the same requests. Workloads (issue 18):
  xadd    XADD s * f1 v<i> f2 w<i>            (preload: N entries)
  pfadd   PFADD h <10 random 13-byte elements>  (preload: N x 100 elements: dense)
  setbit  SETBIT bitmap 419430400 1           (preload: a 100 MB bitmap)
  getbit  GETBIT bitmap 419430400"""
import socket, sys, random
port, wl, phase, N, P = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = s.makefile("rb")
def read_reply():
    line = f.readline()
    t = line[:1]
    if t in b"+-:":
        if t == b"-": raise SystemExit("error: %r" % line)
        return line
    if t == b"$":
        n = int(line[1:])
        if n >= 0: f.read(n + 2)
        return line
    if t == b"*":
        for _ in range(int(line[1:])): read_reply()
        return line
    raise SystemExit("bad %r" % line)

def run(cmds, P):
    i = 0
    while i < len(cmds):
        batch = cmds[i:i+P]
        s.sendall(b"".join(batch))
        for _ in batch: read_reply()
        i += P

rng = random.Random(phase + wl)
if wl == "xadd":
    if phase == "preload":
        cmds = [enc("XADD", "s", "*", "f1", "v%d" % i, "f2", "w%d" % i) for i in range(N)]
    else:
        cmds = [enc("XADD", "s", "*", "f1", "v%d" % (i % 1000), "f2", "w%d" % (i % 1000)) for i in range(N)]
elif wl == "pfadd":
    if phase == "preload":
        cmds = [enc("PFADD", "h", *["p%d" % (i*100+j) for j in range(100)]) for i in range(N)]
    else:
        cmds = [enc("PFADD", "h", *["e%012d" % rng.randrange(10**8) for _ in range(10)]) for _ in range(N)]
elif wl == "setbit":
    if phase == "preload":
        cmds = [enc("SETBIT", "bitmap", 838860799, 1)]
    else:
        cmds = [enc("SETBIT", "bitmap", 419430400, 1)] * N
elif wl == "getbit":
    if phase == "preload":
        cmds = [enc("SETBIT", "bitmap", 838860799, 1)]
    else:
        cmds = [enc("GETBIT", "bitmap", 419430400)] * N
import os
C=int(os.environ.get("C","1"))
if phase == "run" and C > 1:
    socks=[socket.create_connection(("127.0.0.1", port)) for _ in range(C)]
    files=[x.makefile("rb") for x in socks]
    i=0
    while i < len(cmds):
        k=min(C, len(cmds)-i)
        for j in range(k): socks[j].sendall(cmds[i+j])
        for j in range(k):
            f=files[j]; read_reply()
        i+=k
else:
    run(cmds, P)
if phase == "preload" and wl == "pfadd":
    s.sendall(enc("PFDEBUG", "ENCODING", "h")); print(read_reply())
