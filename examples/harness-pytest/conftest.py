"""The minisup fixture: the services of minisup.toml, once per test session.

Setup starts minisupd on a socket of its own (so parallel sessions never
meet) and waits, with `minisupctl wait all --timeout 10`, until every
service is ready: `wait` also waits for minisupd to listen, so no sleep or
retry loop is needed here. Teardown stops every service with
`stop --require-clean all`, which fails when a service did not exit by
itself with a code in its exitcodes (it crashed, ignored SIGTERM or needed
SIGKILL), then shuts minisupd down and checks that it exited 0.

minisupd and minisupctl come from $MINISUPD / $MINISUPCTL, else the
repository's build/, else PATH.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _binary(name):
    path = os.environ.get(name.upper()) or (
        str(REPO / "build" / name) if (REPO / "build" / name).exists() else shutil.which(name))
    if not path:
        pytest.exit(f"{name} not found: build minisup or set ${name.upper()}", returncode=2)
    return path


class Services:
    """What the tests get: the app's URL and a minisupctl for this minisupd."""

    def __init__(self, state_dir, ctl_argv):
        self.state_dir = state_dir
        self._ctl = ctl_argv

    @property
    def url(self):
        port = (self.state_dir / "app.port").read_text().strip()
        return f"http://127.0.0.1:{port}"

    def ctl(self, *args):
        return subprocess.run(self._ctl + list(args), capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("minisup")
    socket = state_dir / "minisup.sock"
    log_path = state_dir / "minisupd.log"  # minisupd's log and the services' console output
    ctl = [_binary("minisupctl"), "-s", str(socket)]
    env = dict(os.environ, APP_STATE_DIR=str(state_dir))
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(
            [_binary("minisupd"), "-c", str(HERE / "minisup.toml"), "--socket", str(socket)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    services = Services(state_dir, ctl)
    try:
        wait = services.ctl("wait", "all", "--timeout", "10")
        if wait.returncode != 0:
            pytest.fail(f"services not ready (minisupctl wait: exit {wait.returncode}):\n"
                        f"{wait.stdout}{wait.stderr}\n{log_path}:\n{log_path.read_text()}")
        yield services
        stop = services.ctl("stop", "--require-clean", "all")
        assert stop.returncode == 0, (f"a service did not stop cleanly:\n{stop.stdout}{stop.stderr}"
                                      f"\n{log_path}:\n{log_path.read_text()}")
    finally:
        if daemon.poll() is None:
            services.ctl("shutdown")
        try:
            code = daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            code = daemon.wait()
    assert code == 0, f"minisupd exited {code}:\n{log_path.read_text()}"
