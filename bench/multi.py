#!/usr/bin/env python3
"""MULTI / SET / INCR / EXEC transactions against Redis 7.4.1 and pyrope-server, one after the
other in the same run: server CPU per transaction (utime+stime of the server process from
/proc, over the run) and transactions/s, with -P transactions pipelined per round trip on C
connections driven by one selector loop. The load generator is this script (pyrope-benchmark
sends one command per request), so transactions/s is bounded by Python on both sides; the
CPU per transaction is the server's own cost and is the figure to compare.

Usage: bench/multi.py [N] [P]   (default N=200000 transactions, P=16; also P=1)
Servers listen on 127.0.0.1 on free ports and are stopped at the end.
"""
import os, selectors, socket, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
PIPES = [int(sys.argv[2])] if len(sys.argv) > 2 else [1, 16]
C = 50
HZ = os.sysconf("SC_CLK_TCK")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(binary, d):
    port = free_port()
    p = subprocess.Popen(["timeout", "600", binary, "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError:
            time.sleep(0.1)
    kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
    return p, int(kids[0]), port

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ

def tx(i):
    k = b"k:%d" % (i % 100000)
    c = b"c:%d" % (i % 100000)
    return (b"*1\r\n$5\r\nMULTI\r\n" + b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nval\r\n" % (len(k), k)
            + b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(c), c) + b"*1\r\n$4\r\nEXEC\r\n")

def run(port, pid, P):
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(C):
        s = socket.create_connection(("127.0.0.1", port)); s.setblocking(False)
        conns.append(s)
    # Each transaction answers +OK, +QUEUED, +QUEUED, *2 ... : count EXEC replies (lines "*2").
    sent = 0
    state = {}
    t0, c0 = time.time(), cpu(pid)
    def send(s):
        nonlocal sent
        n = min(P, N - sent)
        if n <= 0:
            return False
        s.sendall(b"".join(tx(sent + j) for j in range(n)))
        sent += n
        state[s] = [n, b""]
        return True
    for s in conns:
        if send(s):
            sel.register(s, selectors.EVENT_READ)
    done = 0
    while done < N:
        for key, _ in sel.select():
            s = key.fileobj
            data = s.recv(1 << 16)
            st = state[s]
            buf = st[1] + data
            # An EXEC reply of a 2-command transaction is "*2\r\n+OK\r\n:<n>\r\n".
            cnt = buf.count(b"*2\r\n")
            st[0] -= cnt
            done += cnt
            st[1] = buf[buf.rfind(b"*2\r\n") + 4:] if cnt else buf
            if st[0] == 0:
                st[1] = b""
                if not send(s):
                    sel.unregister(s)
    dt, dc = time.time() - t0, cpu(pid) - c0
    for s in conns:
        s.close()
    return N / dt, dc / N * 1e6

with tempfile.TemporaryDirectory() as d:
    os.makedirs(d + "/r")
    os.makedirs(d + "/p")
    rp, rpid, rport = start("/opt/redis-7.4/redis-server", d + "/r")
    pp, ppid, pport = start(os.path.join(ROOT, "target/release/pyrope-server"), d + "/p")
    try:
        print(f"MULTI/SET/INCR/EXEC, {N} transactions, -c {C}, load generator: this script")
        print(f"{'P':>3} {'redis_tx/s':>11} {'pyrope_tx/s':>12} {'ratio':>6} {'redis_us/tx':>12} {'pyrope_us/tx':>13} {'ratio':>6}")
        for P in PIPES:
            r = run(rport, rpid, P)
            p = run(pport, ppid, P)
            print(f"{P:>3} {r[0]:>11.0f} {p[0]:>12.0f} {p[0]/r[0]:>6.2f} {r[1]:>12.2f} {p[1]:>13.2f} {p[1]/r[1]:>6.2f}")
    finally:
        for x in (rp, pp):
            x.terminate()
