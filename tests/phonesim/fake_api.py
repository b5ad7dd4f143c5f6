#!/usr/bin/env python3
"""fake_api.py STATE.json PORTFILE [PHONES.json [PAGE]] - a stand-in for the sink's query API.

GET /v1/phones/<mac>/config answers STATE[mac] as JSON (200), or 404 for a MAC not in STATE
(what `phonereport-sim verify` and `phonereport notify --proxy` read).

With PHONES.json ({mac: summary}, the summaries `phonereport notify` reads, e.g. with the
sink's coming "remote" field):
  GET /v1/phones/<mac>   PHONES[mac] (200) or 404
  GET /v1/phones?complete=&drifted=&model=&limit=&after=   the sink's paging: MAC order,
      at most min(limit, PAGE) phones (PAGE default 2, so that paging is exercised),
      "next" = the last MAC when more follow, else null; 400 for an unknown parameter.
Binds 127.0.0.1 port 0 and writes the port to PORTFILE. Every request line is appended to
PORTFILE.log, so a test can check what was asked."""
import fakeserve
import json
import sys
import urllib.parse

state = json.load(open(sys.argv[1]))
phones = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {}
page_max = int(sys.argv[4]) if len(sys.argv) > 4 else 2
log_path = sys.argv[2] + ".log"


class Handler(fakeserve.QuietHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def list_phones(self, query):
        q = urllib.parse.parse_qs(query)
        for k in q:
            if k not in ("complete", "drifted", "model", "limit", "after"):
                return self.answer(400, {"error": "unknown query parameter '%s'" % k})
        one = {k: v[-1] for k, v in q.items()}
        limit = min(int(one.get("limit", "100")), page_max)
        macs = sorted(m for m in phones if m > one.get("after", ""))
        if "complete" in one:
            macs = [m for m in macs if phones[m].get("complete") == (one["complete"] == "true")]
        if "model" in one:
            macs = [m for m in macs if phones[m].get("model") == one["model"]]
        if "drifted" in one:
            macs = [m for m in macs if (phones[m].get("drifted", 0) > 0) == (one["drifted"] == "true")]
        page = macs[:limit]
        nxt = page[-1] if len(macs) > limit else None
        return self.answer(200, {"phones": [dict(phones[m], mac=m) for m in page], "next": nxt})

    def do_GET(self):
        with open(log_path, "a") as f:
            f.write(self.path + "\n")
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        if url.path in ("/v1/phones", "/v1/phones/"):
            return self.list_phones(url.query)
        if len(parts) == 5 and parts[1:3] == ["v1", "phones"] and parts[4] == "config" \
                and parts[3] in state:
            return self.answer(200, state[parts[3]])
        if len(parts) == 4 and parts[1:3] == ["v1", "phones"] and parts[3] in phones:
            return self.answer(200, dict(phones[parts[3]], mac=parts[3]))
        return self.answer(404, {"error": "not found"})


fakeserve.serve(Handler, sys.argv[2])
