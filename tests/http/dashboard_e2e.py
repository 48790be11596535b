#!/usr/bin/env python3
"""End-to-end test of minisupd's dashboard in headless Chromium (Selenium).

    /usr/bin/python3 dashboard_e2e.py --minisupd PATH --minisupctl PATH --helper PATH \\
        --workdir DIR --screenshot FILE
    /usr/bin/python3 dashboard_e2e.py --mock --workdir DIR --screenshot FILE

Writes a minisup config into DIR with an [http] listener on a free loopback
port and a token file, and three programs: `web` (numprocs = 2: web:0 and
web:1, test_child running until signalled), `worker` (the same) and `ticker`
(a shell loop printing "tick N" on stdout and "err N" on stderr every 0.3 s).
Starts minisupd -c CONFIG, waits for GET /healthz, then in Chromium:
signs in with the token; every process's row is shown; Stop web:1 turns its
row STOPPED without a page load; Start web:1 by keyboard (Enter on the
focused button) turns it RUNNING again; the log view of ticker follows new
stdout lines, switches to stderr, and Escape closes it and gives the focus
back; at 360 px wide the page has no horizontal scrolling. Saves FILE (the
wide page with the log open) and FILE-phone.png, then shuts minisupd down
with `minisupctl shutdown` and checks that it exited 0.

--mock runs tests/http/mock_api.py (the API without minisupd) instead, with
extra checks of untrusted text (a process named "<b>x</b>&y", a log line
"<script>...") that the mock provides.

Exit status: 0 pass, 1 fail, 77 skipped (no chromium, chromedriver or selenium).
"""
import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
CHROMEDRIVER_CANDIDATES = ["/usr/bin/chromedriver"]


class Failure(Exception):
    pass


def log(msg):
    print("dashboard_e2e: " + msg, flush=True)


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(77)


def first_existing(paths, env):
    if os.environ.get(env):
        return os.environ[env]
    for p in paths:
        if os.access(p, os.X_OK):
            return p
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2.0):
    # No proxy for loopback, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_healthy(base, proc, logfile, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("the server exited with status %s before answering HTTP; its log:\n%s"
                          % (proc.returncode, tail(logfile)))
        try:
            status, _ = http_get(base + "/healthz", timeout=1.0)
            if status == 200:
                return
            last = "status %d" % status
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.1)
    raise Failure("GET %s/healthz did not answer 200 within %.0f s (last: %s); server log:\n%s"
                  % (base, timeout, last, tail(logfile)))


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(no log: %s)" % e


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(workdir, port, helper):
    # At most 10 minutes, should minisupd be killed and leave it behind.
    ticker = ("i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo tick $i; echo err $i >&2; "
              "sleep 0.3; done")
    cfg = """# Written by tests/http/dashboard_e2e.py
[supervisor]
loglevel = "debug"
childlogdir = "logs"

[http]
listen = "127.0.0.1:{port}"
token_file = {token}

[program.web]
command = [{helper}]
numprocs = 2
startsecs = 0.5
stopwaitsecs = 5

[program.worker]
command = [{helper}]
startsecs = 0.5
stopwaitsecs = 5

[program.ticker]
command = ["/bin/sh", "-c", {ticker}]
startsecs = 0.5
stopwaitsecs = 3
stopasgroup = true
""".format(port=port, token=toml_str(os.path.join(workdir, "token")), helper=toml_str(helper),
           ticker=toml_str(ticker))
    path = os.path.join(workdir, "minisup.toml")
    with open(path, "w") as f:
        f.write(cfg)
    return path


def write_token(workdir):
    token = secrets.token_urlsafe(24)
    path = os.path.join(workdir, "token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def clean_workdir(workdir):
    os.makedirs(workdir, exist_ok=True)
    for name in ("minisup.toml", "token", "server.log", "minisup.sock"):
        try:
            os.unlink(os.path.join(workdir, name))
        except FileNotFoundError:
            pass
    for name in ("logs", "chrome-profile"):
        shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)


# ---------------------------------------------------------------------------
# The browser part
# ---------------------------------------------------------------------------

JS_ROWS = """
return Array.from(document.querySelectorAll('#rows tr')).map(function (tr) {
  function f(n) { var c = tr.querySelector('[data-field="' + n + '"]'); return c ? c.textContent : null; }
  return {key: tr.dataset.key, name: tr.querySelector('.pname').textContent, state: f('state'),
          pid: f('pid'), exit: f('exit'), uptime: f('uptime')};
});
"""


class Page:
    def __init__(self, driver, by, keys):
        self.d = driver
        self.By = by
        self.Keys = keys

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def rows(self):
        return {r["key"]: r for r in self.js(JS_ROWS)}

    def wait(self, what, pred, timeout=10.0, interval=0.1):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = pred()
                if last:
                    return last
            except Exception as e:  # a stale element, a page mid-update
                last = "%s: %s" % (type(e).__name__, e)
            if time.monotonic() >= deadline:
                raise Failure("timed out after %.0f s waiting for %s (last: %r)\n%s"
                              % (timeout, what, last, self.describe()))
            time.sleep(interval)

    def visible(self, element_id):
        return self.js("var e = document.getElementById(arguments[0]);"
                       "return !!e && !e.hidden && e.offsetParent !== null || "
                       "(!!e && !e.hidden && getComputedStyle(e).position === 'fixed');", element_id)

    def text(self, element_id):
        return self.js("var e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
                       element_id)

    def button(self, label):
        found = self.d.find_elements(self.By.CSS_SELECTOR, 'button[aria-label="%s"]' % label)
        if not found:
            raise Failure("no button labelled %r\n%s" % (label, self.describe()))
        return found[0]

    def describe(self):
        try:
            rows = self.js(JS_ROWS)
            state = self.js("""return {conn: document.getElementById('conn').textContent,
              announce: document.getElementById('announce').textContent,
              alert: document.getElementById('alert').textContent,
              login: document.getElementById('login-msg').textContent,
              loginShown: !document.getElementById('login-view').hidden,
              logStatus: document.getElementById('log-status').textContent,
              url: location.href};""")
        except Exception as e:
            return "(page state unavailable: %s)" % e
        lines = ["page state: %r" % state, "rows:"]
        lines += ["  %-14s %-9s pid %-7s exit %s" % (r["key"], r["state"], r["pid"], r["exit"])
                  for r in rows]
        return "\n".join(lines)


def run_browser(base, token, names, stop_name, ticker, screenshot, workdir, mock):
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
    except ImportError as e:
        skip("selenium is not importable by %s (%s); install python3-selenium" % (sys.executable, e))
    chromium = first_existing(CHROMIUM_CANDIDATES, "CHROMIUM")
    driver_path = first_existing(CHROMEDRIVER_CANDIDATES, "CHROMEDRIVER")
    if not chromium:
        skip("no chromium (looked for %s); install chromium" % ", ".join(CHROMIUM_CANDIDATES))
    if not driver_path:
        skip("no chromedriver (looked for %s); install chromium-driver"
             % ", ".join(CHROMEDRIVER_CANDIDATES))

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-proxy-server", "--window-size=1280,900", "--no-first-run",
              "--user-data-dir=" + os.path.join(workdir, "chrome-profile")):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    except WebDriverException as e:
        raise Failure("could not start chromium through chromedriver: %s" % e.msg)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    page = Page(driver, By, Keys)
    try:
        browse(page, base, token, names, stop_name, ticker, screenshot, mock)
        errors = [e for e in driver.get_log("browser")
                  if e.get("level") == "SEVERE" and "Uncaught" in e.get("message", "")]
        if errors:
            raise Failure("the page threw JavaScript errors:\n" +
                          "\n".join(e["message"] for e in errors))
    except Failure:
        try:
            failshot = os.path.splitext(screenshot)[0] + "-failure.png"
            driver.save_screenshot(failshot)
            log("screenshot of the failure: " + failshot)
            for e in driver.get_log("browser"):
                log("console: %s %s" % (e.get("level"), e.get("message")))
        except Exception:
            pass
        raise
    finally:
        driver.quit()


def browse(page, base, token, names, stop_name, ticker, screenshot, mock):
    d = page.d
    By, Keys = page.By, page.Keys
    d.get(base + "/")

    # --- sign in (keyboard: type the token, press Enter) ---
    page.wait("the sign-in form (GET /api/v1/info should answer 401 without a session)",
              lambda: page.visible("login-token"))
    field = d.find_element(By.ID, "login-token")
    field.send_keys("wrong-" + token)
    field.send_keys(Keys.ENTER)
    page.wait("'Wrong token.' after a wrong token",
              lambda: "Wrong token" in (page.text("login-msg") or ""))
    field.clear()
    field.send_keys(token)
    field.send_keys(Keys.ENTER)
    page.wait("the process list after signing in",
              lambda: not page.visible("login-view") and page.visible("procs-view"))
    log("signed in")

    # --- every process has a row, RUNNING ---
    page.wait("a row for each of %s" % names, lambda: set(names) <= set(page.rows()), timeout=10)
    extra = set(page.rows()) - set(names)
    if extra:
        raise Failure("rows for processes that do not exist: %s" % sorted(extra))
    page.wait("every process RUNNING",
              lambda: all(page.rows()[n]["state"] == "RUNNING" for n in names), timeout=15)
    page.wait("the event stream connected ('Live')", lambda: page.text("conn") == "Live")
    log("rows shown: %s" % ", ".join(sorted(names)))

    if mock:
        # Untrusted names are text, never markup.
        weird = "<b>x</b>&y"
        if page.rows()[weird]["name"] != weird:
            raise Failure("the name %r is shown as %r" % (weird, page.rows()[weird]["name"]))
        if page.js("return document.querySelectorAll('#rows b').length") != 0:
            raise Failure("a process name was parsed as HTML")

    # --- Stop by mouse: the row turns STOPPED without a page load ---
    page.js("window.__e2eMarker = 'same page';")
    nav_before = page.js("return performance.getEntriesByType('navigation').length")
    page.button("Stop " + stop_name).click()
    t0 = time.monotonic()
    page.wait(stop_name + " STOPPED after clicking Stop",
              lambda: page.rows()[stop_name]["state"] == "STOPPED", timeout=10)
    log("%s STOPPED %.2f s after the click" % (stop_name, time.monotonic() - t0))
    if page.js("return window.__e2eMarker") != "same page":
        raise Failure("the page was reloaded (the marker variable is gone)")
    if page.js("return performance.getEntriesByType('navigation').length") != nav_before:
        raise Failure("a navigation happened")
    page.wait("the action result announced", lambda: ("%s: stopped" % stop_name)
              in (page.text("announce") or ""), timeout=10)
    page.wait("the last exit of %s (SIGTERM)" % stop_name,
              lambda: "SIGTERM" in (page.rows()[stop_name]["exit"] or ""), timeout=5)
    others = {n: page.rows()[n]["state"] for n in names if n != stop_name}
    if any(s != "RUNNING" for s in others.values()):
        raise Failure("stopping %s changed other rows: %s" % (stop_name, others))

    # --- Start by keyboard: focus the button, press Enter ---
    start_btn = page.button("Start " + stop_name)
    page.js("arguments[0].focus();", start_btn)
    d.switch_to.active_element.send_keys(Keys.ENTER)
    page.wait(stop_name + " RUNNING after Enter on its Start button",
              lambda: page.rows()[stop_name]["state"] == "RUNNING", timeout=10)
    if page.js("return window.__e2eMarker") != "same page":
        raise Failure("the page was reloaded (the marker variable is gone)")
    log("%s RUNNING again (keyboard)" % stop_name)

    # --- the log view follows the ticker ---
    log_btn = page.button("Log " + ticker)
    log_btn.click()
    page.wait("the log view open, with the focus in it",
              lambda: page.visible("log-view") and page.js(
                  "return document.getElementById('log-view').contains(document.activeElement)"))

    def lines():
        return [l for l in (page.text("log-text") or "").split("\n") if l]

    first = page.wait("the first 'tick' lines in the log view",
                      lambda: [l for l in lines() if l.startswith("tick ")], timeout=10)
    first_set = set(first)
    new = page.wait("a new 'tick' line (not there when the log opened) to arrive",
                    lambda: [l for l in lines() if l.startswith("tick ") and l not in first_set],
                    timeout=10)
    log("log view: %d lines when opened (last %r), then new: %r" % (len(first), first[-1], new[0]))
    d.save_screenshot(screenshot)
    log("screenshot: " + screenshot)

    # stderr switch
    d.find_element(By.ID, "log-stderr").click()
    page.wait("'err N' lines (and no stdout lines) after switching to stderr",
              lambda: any(l.startswith("err ") for l in lines()) and
              not any(l.startswith("tick ") for l in lines()), timeout=10)
    if mock:
        if "<script>alert(1)</script>" not in page.text("log-text"):
            raise Failure("the log line with <script> is not shown as text")
        if page.js("return document.querySelectorAll('#log-text *').length") != 0:
            raise Failure("log text was parsed as HTML")
    log("stderr switch works")

    # Escape closes the log view and gives the focus back to its button.
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.wait("Escape to close the log view", lambda: not page.visible("log-view"))
    if page.js("return document.activeElement.getAttribute('aria-label')") != "Log " + ticker:
        raise Failure("after Escape the focus is on %r, not the Log button"
                      % page.js("return document.activeElement.outerHTML.slice(0, 120)"))
    log("Escape closed the log view; focus back on its button")

    # --- a phone: 360 px wide, no horizontal scrolling, rows as cards ---
    d.set_window_size(360, 780)
    page.wait("the window to be narrow", lambda: page.js("return window.innerWidth") <= 400)
    width = page.js("return [document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        raise Failure("at %d px wide the page is %d px wide (horizontal scrolling)"
                      % (width[1], width[0]))
    if page.js("return getComputedStyle(document.querySelector('#rows tr')).display") != "grid":
        raise Failure("at 360 px the rows are not shown as cards")
    phone = os.path.splitext(screenshot)[0] + "-phone.png"
    d.save_screenshot(phone)
    # The log view covers the screen; the list behind it leaves the tab order.
    page.button("Log " + ticker).click()
    page.wait("the log view over the whole phone screen, the list inert",
              lambda: page.visible("log-view") and page.js(
                  "var r = document.getElementById('log-view').getBoundingClientRect();"
                  "return r.top === 0 && r.width <= window.innerWidth && "
                  "document.getElementById('procs-view').inert"))
    # (The stream switch keeps its choice: stderr, from above.)
    page.wait("an 'err N' line in the log view on the phone",
              lambda: any(l.startswith("err ") for l in lines()))
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.wait("Escape to close the log view (phone)", lambda: not page.visible("log-view")
              and not page.js("return document.getElementById('procs-view').inert"))
    log("phone layout OK (%d px); screenshot: %s" % (width[1], phone))
    if page.js("return window.__e2eMarker") != "same page":
        raise Failure("the page was reloaded (the marker variable is gone)")


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="End-to-end test of the dashboard in headless Chromium.")
    ap.add_argument("--minisupd")
    ap.add_argument("--minisupctl")
    ap.add_argument("--helper", help="tests/helpers' test_child")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--mock", action="store_true", help="test against tests/http/mock_api.py")
    a = ap.parse_args()
    if not a.mock and not (a.minisupd and a.minisupctl and a.helper):
        ap.error("--minisupd, --minisupctl and --helper are required (unless --mock)")

    # Skip before starting anything when the browser stack is missing.
    try:
        import selenium  # noqa: F401
    except ImportError as e:
        skip("selenium is not importable by %s (%s); install python3-selenium" % (sys.executable, e))
    if not first_existing(CHROMIUM_CANDIDATES, "CHROMIUM"):
        skip("no chromium (looked for %s); install chromium" % ", ".join(CHROMIUM_CANDIDATES))
    if not first_existing(CHROMEDRIVER_CANDIDATES, "CHROMEDRIVER"):
        skip("no chromedriver; install chromium-driver")

    workdir = os.path.abspath(a.workdir)
    screenshot = os.path.abspath(a.screenshot)
    clean_workdir(workdir)
    os.makedirs(os.path.dirname(screenshot), exist_ok=True)
    port = free_port()
    token = write_token(workdir)
    base = "http://127.0.0.1:%d" % port
    server_log = os.path.join(workdir, "server.log")
    proc = None
    config = None
    try:
        with open(server_log, "wb") as out:
            if a.mock:
                names = ["web:0", "web:1", "worker", "ticker", "<b>x</b>&y"]
                cmd = [sys.executable, os.path.join(HERE, "mock_api.py"), "--port", str(port),
                       "--token-file", os.path.join(workdir, "token"),
                       "--dashboard", os.path.join(REPO, "supervisor", "http", "dashboard.html")]
            else:
                names = ["web:0", "web:1", "worker", "ticker"]
                config = write_config(workdir, port, os.path.abspath(a.helper))
                cmd = [os.path.abspath(a.minisupd), "-c", config]
            log("starting: " + " ".join(cmd))
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=workdir)
        wait_healthy(base, proc, server_log)
        log("listening on " + base)

        run_browser(base, token, names, "web:1", "ticker", screenshot, workdir, a.mock)

        # Shut down and check the exit status.
        if a.mock:
            proc.send_signal(signal.SIGTERM)
        else:
            r = subprocess.run([a.minisupctl, "-c", config, "shutdown"], capture_output=True,
                               text=True, timeout=60)
            if r.returncode != 0:
                raise Failure("minisupctl shutdown exited %d: %s%s"
                              % (r.returncode, r.stdout, r.stderr))
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure("the server did not exit within 30 s of the shutdown")
        if rc != 0:
            raise Failure("the server exited with status %d, not 0; its log:\n%s"
                          % (rc, tail(server_log)))
        log("server exited 0")
    except Failure as e:
        print("FAIL: %s" % e, flush=True)
        if proc is not None and "log:\n" not in str(e):
            print("--- server log (last lines) ---\n" + tail(server_log), flush=True)
        return 1
    finally:
        if proc is not None and proc.poll() is None:
            # SIGTERM first: minisupd then stops its children gracefully.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
