#!/usr/bin/env python3
"""test_console.py - the operations console in a real browser (headless Chromium driven by
selenium through the system chromedriver) against a sink that serves a fleet this test
defines (console_fixture: the sink's apply path, API and console, no Kafka).

Checks: without a token the login prompt shows and no data; a wrong token is refused; the
overview shows the fleet's counts; a search by a parameter's value (exact and prefix) finds
the right phones; a phone's page shows a change after a delta is applied; drift appears
after a profile change; parameters named constructor, toString, hasOwnProperty and valueOf
show as plain parameters (no native function, not drifted); a phone's remote address, its
configuration at an earlier version, the diff of two versions, the comparison with another
phone, and the admin actions (refused with a read token; queued with an admin token, their
outcome shown as the last report request and resync); a parameter's value distribution; no horizontal overflow at 1280x800
and at a phone's 390x844; no script or CSP error in the browser's console. Screenshots go to
--out (the ctest build directory). Chromium and chromedriver are killed on every exit path
(finally, SIGTERM, and by process id: never by name).
"""
import argparse
import collections
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TOKEN = "console-test-read-token-0123456789"
ADMIN = "console-test-admin-token-0123456789"
MODELS = ["CP-8832-3PCC", "CP-8841-3PCC", "CP-8845-3PCC", "CP-7841-3PCC", "CP-8851-3PCC"]
FIRMWARE = ["12.0.1", "12.0.2", "11.3.7"]
AGES = [300, 7200, 20 * 3600, 3 * 86400, 10 * 86400, 45 * 86400]
CODECS = ["G711u", "G722", "OPUS"]
N = 24


def mac(i):
    return "00562b1000%02x" % i


def fleet(samples):
    phones = []
    for i in range(N):
        p = {
            "mac": mac(i), "model": MODELS[i % 5], "firmware": FIRMWARE[i % 3],
            "kind": "delta" if i in (5, 17) else "full", "ago_s": AGES[i % 6],
            "params": {
                "Display_Name_1_": "User %d" % i, "User_ID_1_": str(1000 + i),
                "Proxy_1_": "sip2.example.com" if i % 4 == 3 else "sip1.example.com",
                "Preferred_Codec_1_": CODECS[i % 3],
            },
        }
        if i % 2 == 0:
            p["status"] = {"Uptime": str(1000 * i), "Registration_State_1_": "Registered"}
        if i == 0:  # one phone with the real 8832 sample profile (hundreds of parameters)
            p["params_file"] = os.path.join(samples, "cisco-8832-mpp-full-profile.xml")
        phones.append(p)
    return phones


def pdeathsig():
    """In the child: die with the test (SIGKILL of the test included)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """What this test started, to be killed by process id whatever happens."""

    def __init__(self, profile_dir):
        self.popen = []
        self.profile_dir = profile_dir

    def kill_all(self):
        for p in self.popen:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        # Chromium's processes are chromedriver's children: find them by our unique profile
        # directory on their command line (never by a program name).
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if self.profile_dir in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass


class Fixture:
    def __init__(self, exe, work, fleet_path, tokens, procs, extra):
        self.p = subprocess.Popen([exe, work, fleet_path, tokens] + extra, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, preexec_fn=pdeathsig)
        procs.popen.append(self.p)
        line = self.p.stdout.readline()
        if not line.strip().isdigit():
            raise SystemExit(f"console_fixture did not start: {line!r}")
        self.port = int(line)

    def command(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if answer != "ok":
            raise AssertionError(f"fixture {cmd!r}: {answer}")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pr-console-")
    profile_dir = os.path.join(work, "chromium-profile")
    procs = Procs(profile_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    driver = None
    try:
        phones = fleet(args.samples)
        with open(os.path.join(work, "fleet.json"), "w") as f:
            json.dump(phones, f)
        with open(os.path.join(work, "tokens"), "w") as f:
            f.write(f"console:read:{TOKEN}\nconsole-admin:admin:{ADMIN}\n")
        # the re-baseline thread: NOTIFYs through a proxy on a closed loopback port (their
        # outcome, unreachable or timeout, is what the console shows)
        with open(os.path.join(work, "notify.json"), "w") as f:
            json.dump({"default": {"user": "admin", "password": "notify-secret"}}, f)
        os.chmod(os.path.join(work, "notify.json"), 0o600)
        os.makedirs(os.path.join(work, "profiles"))
        with open(os.path.join(work, "profiles", "default.xml"), "w") as f:
            f.write("<flat-profile><Proxy_1_>sip1.example.com</Proxy_1_></flat-profile>")
        fx = Fixture(args.fixture, work, os.path.join(work, "fleet.json"),
                     os.path.join(work, "tokens"), procs,
                     [os.path.join(work, "notify.json"), f"sip:127.0.0.1:{free_port()}"])
        base = f"http://127.0.0.1:{fx.port}"

        dport = free_port()
        drv = subprocess.Popen([args.chromedriver, f"--port={dport}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=pdeathsig)
        procs.popen.append(drv)
        opts = webdriver.ChromeOptions()
        opts.binary_location = args.chromium
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                  f"--user-data-dir={profile_dir}"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = ChromiumRemoteConnection(remote_server_addr=f"http://127.0.0.1:{dport}",
                                                vendor_prefix="goog", browser_name="chrome",
                                                ignore_proxy=True)
                driver = webdriver.Remote(command_executor=conn, options=opts)
                break
            except Exception:
                if time.monotonic() > deadline or drv.poll() is not None:
                    raise
                time.sleep(0.2)
        driver.set_window_size(1280, 800)
        # The console re-renders a page as answers arrive: an element found a moment ago may be
        # replaced before it is read, so a wait tries again instead of failing on it.
        wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))

        def shot(name):
            driver.save_screenshot(os.path.join(args.out, name))

        def visible(css):
            return wait.until(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css)
                                              if e.is_displayed()), None))

        def no_overflow(where):
            w = driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            check(w[0] <= w[1] + 1, f"{where}: page wider than the window {w}")

        def go(hash_route):
            driver.get(f"{base}/#{hash_route}")

        # 1. No token: the login prompt, and no data on the page.
        driver.get(base + "/")
        visible("#login")
        check(driver.find_element(By.ID, "main").text.strip() == "", "data shown without a token")
        check(not driver.find_elements(By.CSS_SELECTOR, ".stat, #phones-table"), "data elements")
        shot("console-login.png")
        # 2. A wrong token is refused.
        driver.find_element(By.ID, "token").send_keys("not-the-token-0123456789")
        driver.find_element(By.ID, "login-submit").click()
        err = visible("#login-error")
        check("not accepted" in err.text, f"wrong token message: {err.text!r}")
        # 3. The right one: the overview with the fleet's counts.
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "login-submit").click()
        visible("#count-phones")
        drifted_macs = [mac(i) for i in range(N) if i % 4 == 3]
        want = {"count-phones": N, "count-complete": N - 2, "count-incomplete": 2,
                "count-drifted": len(drifted_macs), "count-drifted-params": len(drifted_macs)}
        for el, n in want.items():
            got = driver.find_element(By.ID, el).get_attribute("data-count")
            check(got == str(n), f"overview {el}: {got}, wanted {n}")
        models = collections.Counter(p["model"] for p in phones)
        bars = {li.get_attribute("data-label"): int(li.get_attribute("data-count"))
                for li in driver.find_elements(By.CSS_SELECTOR, "#chart-models li")}
        check(bars == dict(models), f"model bars {bars} != {dict(models)}")
        fw = {li.get_attribute("data-label"): int(li.get_attribute("data-count"))
              for li in driver.find_elements(By.CSS_SELECTOR, "#chart-firmware li")}
        check(fw == dict(collections.Counter(p["firmware"] for p in phones)), f"firmware {fw}")
        seen = [int(li.get_attribute("data-count"))
                for li in driver.find_elements(By.CSS_SELECTOR, "#chart-seen li")]
        check(seen == [4, 8, 4, 4, 4], f"last seen buckets {seen}")
        no_overflow("overview at 1280x800")
        shot("console-overview.png")

        # 4. Search by a parameter's value, exact then prefix, through the form.
        go("/phones")
        visible("#search")
        row = driver.find_element(By.CSS_SELECTOR, "#param-rows .param-row")
        row.find_element(By.CSS_SELECTOR, ".p-name").send_keys("Proxy_1_")
        row.find_element(By.CSS_SELECTOR, ".p-value").send_keys("sip2.example.com")
        driver.find_element(By.ID, "search-submit").click()
        wait.until(lambda d: "param.Proxy_1_=sip2.example.com" in d.current_url)

        def listed():
            visible("#phones-table")
            return [tr.get_attribute("data-mac")
                    for tr in driver.find_elements(By.CSS_SELECTOR, "#phones-table .phone-row")]
        wait.until(lambda d: listed() == drifted_macs)
        shot("console-search.png")
        go("/phones")
        visible("#search")
        row = driver.find_element(By.CSS_SELECTOR, "#param-rows .param-row")
        row.find_element(By.CSS_SELECTOR, ".p-name").send_keys("User_ID_1_")
        row.find_element(By.CSS_SELECTOR, ".p-op option[value=prefix]").click()
        row.find_element(By.CSS_SELECTOR, ".p-value").send_keys("101")
        driver.find_element(By.ID, "f-firmware").send_keys("12.*")
        driver.find_element(By.ID, "search-submit").click()
        want_macs = [mac(i) for i in range(10, 20) if FIRMWARE[i % 3].startswith("12.")]
        try:
            wait.until(lambda d: listed() == want_macs)
        except TimeoutException:
            raise AssertionError(f"prefix search: {listed()} != {want_macs}")

        # 5. A phone's page shows a change after a delta is applied.
        target = mac(3)
        go("/phone/" + target)
        visible("#config-table")
        cell = driver.find_element(By.CSS_SELECTOR,
                                   "#config-table tr[data-param=Display_Name_1_] td.value")
        check(cell.text == "User 3", f"config before the delta: {cell.text!r}")
        fx.command('delta %s {"Display_Name_1_":"Reception desk"}' % target)
        driver.refresh()
        visible("#config-table")
        cell = driver.find_element(By.CSS_SELECTOR,
                                   "#config-table tr[data-param=Display_Name_1_] td.value")
        check(cell.text == "Reception desk", f"config after the delta: {cell.text!r}")
        newest = driver.find_element(By.CSS_SELECTOR, "#timeline > li.change-group")
        change = newest.find_element(By.CSS_SELECTOR, "li.change[data-param=Display_Name_1_]")
        check(change.find_element(By.CSS_SELECTOR, ".old").text == "User 3" and
              change.find_element(By.CSS_SELECTOR, ".new").text == "Reception desk",
              f"timeline: {newest.text!r}")
        check(driver.find_elements(By.CSS_SELECTOR, "#phone-drift-table tr[data-param=Proxy_1_]"),
              "the phone's open drift (Proxy_1_) is not shown")
        check("Registration_State_1_" not in driver.find_element(By.ID, "status").text,
              "an odd phone shows a status")
        shot("console-phone.png")

        # 5a. History: the remote address, the configuration at version 1 (before the delta),
        # the diff of versions 1 and 2, the comparison with another phone.
        check(driver.find_element(By.ID, "phone-remote").text == "192.0.2.10",
              f"remote: {driver.find_element(By.ID, 'phone-remote').text!r}")
        versions = [o.get_attribute("value") for o in
                    driver.find_elements(By.CSS_SELECTOR, "#version-picker option")]
        check(versions == ["2", "1"], f"version picker: {versions}")
        driver.find_element(By.CSS_SELECTOR, "#version-picker option[value='1']").click()
        visible("#version-shown[data-version='1']")
        cell = driver.find_element(
            By.CSS_SELECTOR, "#version-config-table tr[data-param=Display_Name_1_] td.value")
        check(cell.text == "User 3", f"version 1: {cell.text!r}")
        driver.find_element(By.CSS_SELECTOR, "#diff-from option[value='1']").click()
        driver.find_element(By.CSS_SELECTOR, "#diff-to option[value='2']").click()
        driver.find_element(By.ID, "diff-show").click()
        tr = visible("#version-diff-table tr.diff-row[data-param=Display_Name_1_]")
        check(tr.get_attribute("data-change") == "changed" and
              tr.find_element(By.CSS_SELECTOR, ".old").text == "User 3" and
              tr.find_element(By.CSS_SELECTOR, ".new").text == "Reception desk",
              f"diff row: {tr.text!r}")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#version-diff-table tr.diff-row")) == 1,
              "the diff of versions 1 and 2 has one row")
        driver.find_element(By.ID, "compare-mac").send_keys(mac(15))
        driver.find_element(By.ID, "compare-show").click()
        visible("#compare-table tr.compare-row[data-param=User_ID_1_]")
        compared = {tr.get_attribute("data-param"): tr.get_attribute("data-change") for tr in
                    driver.find_elements(By.CSS_SELECTOR, "#compare-table tr.compare-row")}
        # mac(3) and mac(15): both on sip2 with G711u; their names and IDs differ
        check(compared == {"Display_Name_1_": "changed", "User_ID_1_": "changed"},
              f"compared with {mac(15)}: {compared}")
        no_overflow("phone history at 1280x800")
        shot("console-phone-history.png")

        # 5b'. The admin actions: a read token is refused (403); an admin token queues them
        # and their outcomes show as the last report request and resync.
        driver.find_element(By.ID, "resync").click()
        res = wait.until(lambda d: d.find_element(By.ID, "action-result")
                         if "403" in d.find_element(By.ID, "action-result").text else None)
        check("admin" in res.text, f"resync with a read token: {res.text!r}")
        driver.execute_script("sessionStorage.setItem('phonereport.token', arguments[0])", ADMIN)
        driver.refresh()
        visible("#phone-ops")
        check("never asked" in driver.find_element(By.ID, "phone-remediation").text,
              "a resync before any was asked")
        for button in ("resync", "request-report"):
            driver.find_element(By.ID, button).click()
            wait.until(lambda d: "queued (202)" in d.find_element(By.ID, "action-result").text)

        def outcomes_shown(d):
            d.refresh()
            rem = visible("#phone-remediation").text
            rr = d.find_element(By.ID, "phone-report-request").text
            return ("api" in rem and "drift" in rem and "never" not in rem and "api" in rr)
        WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
            outcomes_shown)
        driver.execute_script("document.getElementById('phone-ops').scrollIntoView()")
        shot("console-phone-operations.png")

        # 5b. Parameters named like Object.prototype's members are plain parameters: no
        # native function in the access column, not drifted.
        odd = mac(4)
        names = ["constructor", "toString", "hasOwnProperty", "valueOf"]
        fx.command("delta %s %s" % (odd, json.dumps({n: "v-" + n for n in names})))
        go("/phone/" + odd)
        visible("#config-table")
        for n in names:
            tr = driver.find_element(By.CSS_SELECTOR, f"#config-table tr[data-param={n}]")
            cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            check(cells[1] == "v-" + n, f"{n}: value {cells[1]!r}")
            check(cells[2] == "" and "function" not in tr.text, f"{n}: access {cells[2]!r}")
            check("drifted" not in (tr.get_attribute("class") or ""), f"{n} shown as drifted")
            check(cells[3] == "", f"{n}: intended {cells[3]!r}")

        # 6. Drift appears after a profile change.
        changed = mac(1)
        with open(os.path.join(work, "profiles", changed + ".xml"), "w") as f:
            f.write("<flat-profile><Display_Name_1_>Front desk</Display_Name_1_></flat-profile>")
        fx.command("rescan")
        go("/drift")
        visible(f"#drift-table tr[data-mac='{changed}'][data-param=Display_Name_1_]")
        n = driver.find_element(By.CSS_SELECTOR, "#drift-params .n").text
        check(n == str(len(drifted_macs) + 1), f"drifted parameters after the change: {n}")
        shot("console-drift.png")

        # 7. A parameter's value distribution.
        go("/params/Preferred_Codec_1_")
        visible("#chart-values")
        vals = {li.get_attribute("data-label"): int(li.get_attribute("data-count"))
                for li in driver.find_elements(By.CSS_SELECTOR, "#chart-values li")}
        check(vals == {c: N // 3 for c in CODECS}, f"codec values {vals}")
        shot("console-params.png")
        go("/phone/" + mac(0))
        visible("#config-table")
        shot("console-phone-8832.png")

        # 8. A phone's screen.
        driver.set_window_size(390, 844)
        go("/")
        visible("#count-phones")
        no_overflow("overview at 390x844")
        shot("console-overview-mobile.png")
        go("/phone/" + target)
        visible("#config-table")
        no_overflow("phone page at 390x844")
        shot("console-phone-mobile.png")

        # 9. Signing out forgets the token and shows no data.
        driver.set_window_size(1280, 800)
        driver.find_element(By.ID, "logout").click()
        visible("#login")
        driver.refresh()
        visible("#login")
        check(driver.find_element(By.ID, "main").text.strip() == "", "data after signing out")

        # 10. No script error and no CSP violation. Refused requests are expected (401 before
        # the login, 404 for a phone without a status report): Chromium logs those too.
        log = driver.execute("getLog", {"type": "browser"})["value"]
        errors = [e["message"] for e in log
                  if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
        check(not errors, f"browser console errors: {errors}")
        print(f"console: all checks passed; screenshots in {args.out}")
        return 0
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        procs.kill_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
