"""A real S3 engine for tests: a one-node Ceph RADOS Gateway via scripts/ceph-rgw.sh.

`start()` runs the script in a fresh temporary directory on a free port (~2 s) and returns
the endpoint and keys; `Engine.stop()` kills the daemons and removes the directory. A failure
raises EngineError carrying the script's output, which the fixtures turn into a test failure.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ceph-rgw.sh"
REGION = "us-east-1"  # RGW accepts any region in signatures


class EngineError(Exception):
    pass


@dataclass(frozen=True)
class Engine:
    dir: Path
    endpoint: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """The AWS variables that point a client at this engine."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": REGION}

    def add_user(self, uid: str, access_key: str, secret_key: str) -> None:
        """A second S3 user, for tests of another account's buckets."""
        _run(["radosgw-admin", "-c", str(self.dir / "ceph.conf"), "-n", "client.admin", "user", "create",
              f"--uid={uid}", f"--display-name={uid}", f"--access-key={access_key}",
              f"--secret-key={secret_key}"], f"radosgw-admin user create {uid}")

    def stop(self) -> None:
        _run([str(SCRIPT), "stop", str(self.dir)], "ceph-rgw.sh stop")


def _run(argv: list[str], what: str, timeout: float = 120) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"{what}: {exc}") from None
    if proc.returncode != 0:
        raise EngineError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> Engine:
    state = Path(tempfile.mkdtemp(prefix="got-rgw-"))
    try:
        out = _run([str(SCRIPT), "start", str(state), str(_free_port())], "ceph-rgw.sh start")
    except EngineError:
        subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True)
        raise
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return Engine(state, env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])


def kill_gateway(engine: Engine) -> None:
    """kill -9 the engine's radosgw, as a crash or a pulled cable would end it (the monitor and
    the OSD, and so every object, stay)."""
    pid = int((engine.dir / "run" / "client.rgw.a.pid").read_text())
    subprocess.run(["kill", "-9", str(pid)], check=False)
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    break
        except OSError:
            break
        time.sleep(0.02)


def start_gateway(engine: Engine, timeout: float = 60) -> None:
    """Start radosgw again over the same monitor and OSD, and wait until it answers."""
    _run(["radosgw", "-c", str(engine.dir / "ceph.conf"), "-n", "client.rgw.a"], "radosgw")
    port = int(engine.endpoint.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise EngineError(f"radosgw did not answer on port {port} within {timeout:.0f} s")
