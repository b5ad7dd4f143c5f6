"""fakeserve.py - what the fakes of the tests' HTTP peers (fake_api.py, fake_edge.py) share:
a quiet handler base and a server on 127.0.0.1 port 0 that announces its port in a file."""
import http.server
import os


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(handler, port_file):
    """Serves handler for ever on 127.0.0.1, any free port, written to port_file (renamed into
    place, so a reader never sees half of it)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, port_file)
    srv.serve_forever()
