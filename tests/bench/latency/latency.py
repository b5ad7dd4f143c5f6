"""latency.py - the client of latency.sh: one small full report per new phone at a steady
rate, each followed until GET /v1/phones/{mac} answers 200; prints p50 and p99 (ms) of the
reports after the warm-up (--warmup, default 20: the first reports after the pipeline's start
wait for the start of new consumer groups on new topics, up to ~250 ms, ~1 s before the fixes
that README's "Benchmarks" describes; their latency is printed apart)."""
import argparse
import threading
import time
import urllib.error
import urllib.request


def wait_ready(url, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit("latency: %s never became ready" % url)


def follow(api, mac, sent, out, i):
    url = "http://%s/v1/phones/%s" % (api, mac)
    deadline = sent + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    out.append(((time.monotonic() - sent) * 1000.0, i))
                    return
        except urllib.error.HTTPError:
            pass
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.002)
    out.append((float("inf"), i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="sqlite")
    ap.add_argument("--ingest", required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--reports", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=20,
                    help="first reports, sent the same way but kept out of p50/p99 (printed apart)")
    a = ap.parse_args()
    wait_ready("http://%s/readyz" % a.ingest, time.monotonic() + 120)
    wait_ready("http://%s/readyz" % a.api, time.monotonic() + 120)
    base = 0x00562B700000 + int(time.time()) % 0x10000 * 0x100
    out, threads = [], []
    start = time.monotonic()
    for i in range(a.warmup + a.reports):
        mac = "%012x" % (base + i)
        body = ("<flat-profile><Station_Name ua=\"rw\">lat-%d</Station_Name>"
                "<Proxy_1_ ua=\"rw\">sip.example.com</Proxy_1_></flat-profile>" % i).encode()
        time.sleep(max(0.0, start + i / a.rate - time.monotonic()))
        sent = time.monotonic()
        req = urllib.request.Request("http://%s/r/%s.xml" % (a.ingest, mac), data=body,
                                     method="PUT", headers={
                                         "User-Agent": "Cisco-CP-8832-3PCC/12.0.1 (%s)" % mac})
        urllib.request.urlopen(req, timeout=10).read()
        t = threading.Thread(target=follow, args=(a.api, mac, sent, out, i))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    warm = sorted(x for x, i in out if i < a.warmup)
    out = [(x, i) for x, i in out if i >= a.warmup]
    worst = sorted(out, reverse=True)[:3]
    v = sorted(x for x, _ in out)
    lost = sum(1 for x in v if x == float("inf"))
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    print("latency %s: %d reports at %.0f/s until GET /v1/phones/{mac} shows them: p50 %.0f ms,"
          " p99 %.0f ms, max %.0f ms%s" % (a.store, len(v), a.rate, p(0.5), p(0.99), v[-1],
                                          ", %d never shown within 30 s" % lost if lost else ""))
    print("  the slowest: " + ", ".join("report %d (sent %.1f s in) %.0f ms" % (i, i / a.rate, x)
                                        for x, i in worst))
    if warm:
        print("  warm-up (the first %d reports after the pipeline's start, not in p50/p99):"
              " max %.0f ms, median %.0f ms" % (len(warm), warm[-1], warm[len(warm) // 2]))


if __name__ == "__main__":
    main()
