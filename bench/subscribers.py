#!/usr/bin/env python3
"""Pub/sub subscribers for bench/compare.sh (SUBSCRIBERS=K): K connections to 127.0.0.1:PORT
subscribed to CHANNEL, reading and discarding everything they receive in large chunks (so the
readers cost little CPU beside the server), until killed or DURATION seconds pass. On exit
prints the bytes received per connection's total.

Usage: subscribers.py PORT K CHANNEL [DURATION_S]
"""
import selectors
import signal
import socket
import sys
import time

port, k, channel = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
duration = float(sys.argv[4]) if len(sys.argv) > 4 else 3600.0
sel = selectors.DefaultSelector()
conns = []
for _ in range(k):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    conns.append(s)
total = 0
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
deadline = time.time() + duration
while not stop and time.time() < deadline:
    for key, _ in sel.select(timeout=0.5):
        try:
            data = key.fileobj.recv(1 << 20)
        except BlockingIOError:
            continue
        if not data:
            sel.unregister(key.fileobj)
            continue
        total += len(data)
print(total, flush=True)
