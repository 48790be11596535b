"""Tests of app.py, run against the service minisup started (conftest.py)."""
import json
import urllib.error
import urllib.request


def request(method, url, data=None):
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_healthz(services):
    assert request("GET", services.url + "/healthz") == (200, b"ok")


def test_put_then_get(services):
    assert request("PUT", services.url + "/kv/colour", b"blue")[0] == 204
    assert request("GET", services.url + "/kv/colour") == (200, b"blue")


def test_missing_key_is_404(services):
    assert request("GET", services.url + "/kv/nothing-here")[0] == 404


def test_minisup_reports_the_app_running(services):
    status = services.ctl("--json", "status", "app")
    assert status.returncode == 0, status.stderr
    (app,) = json.loads(status.stdout)
    assert app["state"] == "RUNNING"
