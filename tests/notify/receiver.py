#!/usr/bin/env python3
"""receiver.py PORTFILE - a stand-in for the ingest edge in the notify tests: answers every
PUT/POST (Content-Length or chunked) with 200 and appends one JSON line per upload (method, path, User-Agent, length,
whether the body is a flat-profile) to PORTFILE.log. Binds 127.0.0.1 port 0 and writes the
port to PORTFILE."""
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def upload(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = len(body)
        with open(sys.argv[1] + ".log", "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "ua": self.headers.get("User-Agent", ""), "len": n,
                                "flat_profile": b"<flat-profile" in body}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST = upload

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
