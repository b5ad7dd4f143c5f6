#!/usr/bin/env python3
"""notify_listen.py ADDRESS - plays systemd's side of sd_notify(3) for test_package.sh.

Binds an AF_UNIX datagram socket at ADDRESS (a path, or '@name' in the abstract namespace,
as $NOTIFY_SOCKET names them), prints "bound" and then every datagram received, one per
line, flushed, until it is killed. An independent check of proto/sdnotify.c: Python's socket
module, not our code, reads the datagrams.
"""
import socket
import sys

addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
print("bound", flush=True)
while True:
    data = s.recv(4096)
    for line in data.decode("utf-8", "replace").splitlines():
        print(line, flush=True)
