#!/usr/bin/env python3
"""Regenerates server/src/command/redis-7.4-commands.resp from a running Redis 7.4 server.

The file holds two RESP3 replies, back to back, exactly as the oracle sent them:
`COMMAND INFO` (every command: name, arity, flags, key specs, ACL categories, tips,
subcommands) and `COMMAND DOCS` (summary, since, group, complexity, history, arguments).
pyrope-server reads it at startup and describes every command it implements with this data,
so COMMAND / COMMAND DOCS answer as Redis 7.4 does.

Usage: tools/gen-command-meta.py [port]   (default 6379; start the oracle with
       /opt/redis-7.4/redis-server --port N --save '')
"""
import socket, sys

def read_reply(sock, buf):
    # Returns (bytes of one full reply, rest) using a tiny RESP3 scanner.
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("connection closed")
            buf += chunk
    def line(pos):
        nonlocal buf
        while True:
            i = buf.find(b"\r\n", pos)
            if i >= 0:
                return buf[pos:i], i + 2
            need(len(buf) + 1)
    def elem(pos):
        need(pos + 1)
        t = buf[pos:pos+1]
        body, pos = line(pos + 1)
        if t in b"+-:,_#(":
            return pos
        if t in b"$=!":
            n = int(body)
            if n < 0:
                return pos
            need(pos + n + 2)
            return pos + n + 2
        n = int(body)
        if t in b"%|":
            n *= 2
        for _ in range(max(n, 0)):
            pos = elem(pos)
        if t == b"|":
            pos = elem(pos)
        return pos
    end = elem(0)
    return buf[:end], buf[end:]

def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
s = socket.create_connection(("127.0.0.1", port))
s.sendall(cmd("HELLO", "3") + cmd("COMMAND", "INFO") + cmd("COMMAND", "DOCS"))
buf = b""
_, buf = read_reply(s, buf)
info, buf = read_reply(s, buf)
docs, buf = read_reply(s, buf)
out = "server/src/command/redis-7.4-commands.resp"
with open(out, "wb") as f:
    f.write(info + docs)
print(f"wrote {out}: {len(info)} + {len(docs)} bytes")
