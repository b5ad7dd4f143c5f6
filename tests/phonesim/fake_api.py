#!/usr/bin/env python3
"""fake_api.py STATE.json PORTFILE - a stand-in for the sink's query API, for testing
`phonereport-sim verify`: GET /v1/phones/<mac>/config answers STATE[mac] as JSON (200), or
404 for a MAC not in STATE. Binds 127.0.0.1 port 0 and writes the port to PORTFILE."""
import http.server
import json
import os
import sys

state = json.load(open(sys.argv[1]))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parts = self.path.split("/")
        body, code = b'{"error":"not found"}', 404
        if len(parts) == 5 and parts[1:3] == ["v1", "phones"] and parts[4] == "config" \
                and parts[3] in state:
            body, code = json.dumps(state[parts[3]]).encode(), 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, sys.argv[2])
srv.serve_forever()
