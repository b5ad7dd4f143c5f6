#!/usr/bin/env python3
"""fake_edge.py PORTFILE DELAY_S - a stand-in for the ingest edge, for tests of `phonereport-sim
play`: reads each PUT/POST body (Content-Length or chunked), waits DELAY_S seconds (a slow
edge, e.g. one still waiting for Kafka), then answers 200 with an empty body and a fresh
X-Request-Id, on a keep-alive connection.

Binds 127.0.0.1 port 0 and writes the port to PORTFILE. Every upload is appended to
PORTFILE.log as "<request id> <path>", so a test can compare what was answered with what the
simulator says it got."""
import fakeserve
import sys
import threading
import time
import uuid

delay_s = float(sys.argv[2])
log_path = sys.argv[1] + ".log"
log_lock = threading.Lock()


class Handler(fakeserve.QuietHandler):
    protocol_version = "HTTP/1.1"

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the chunk
                if size == 0:
                    return
        self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def upload(self):
        self.read_body()
        time.sleep(delay_s)
        rid = str(uuid.uuid4())
        with log_lock, open(log_path, "a") as f:
            f.write(f"{rid} {self.path}\n")
        self.send_response(200)
        self.send_header("X-Request-Id", rid)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = upload
    do_POST = upload


fakeserve.serve(Handler, sys.argv[1])
