"""A real S3 engine for benchmarks: a one-node Ceph RADOS Gateway via scripts/ceph-rgw.sh.

`Rgw.start(osd_bytes)` runs the script in a fresh temporary directory on a free port (~2-3 s);
`stop()` kills the daemons and removes the directory. Besides the endpoint and keys it gives
what a benchmark needs to judge a client from the server's side:

- `counters()`: the gateway's own request counters (`perf dump` over its admin socket):
  every HTTP request it served (`req`, whatever the client and whatever the verb), PUTs and
  GETs with their bytes. The same count for got, restic and a plain client, whatever each
  one claims about itself.
- `cpu_seconds()`: user + system time of the gateway, OSD and monitor processes so far.
- `purge(bucket)`: delete a bucket and its objects now (bypassing RGW's deferred garbage
  collection), so that a phase's data leaves the RAM-backed OSD before the next phase.

(tests/s3engine.py does the same for the tests; benchmarks do not import from tests/.)
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ceph-rgw.sh"
REGION = "us-east-1"  # RGW accepts any region in signatures
TOOLS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph-authtool", "monmaptool", "ceph", "curl")


class RgwError(Exception):
    pass


def available() -> bool:
    """Whether the Ceph packages the script needs are installed."""
    import shutil
    return all(shutil.which(t) for t in TOOLS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin(asok: Path, prefix: str) -> dict:
    """One admin-socket command (what `ceph --admin-daemon ASOK PREFIX` sends), without the CLI."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(asok))
        s.sendall(json.dumps({"prefix": prefix}).encode() + b"\0")
        head = b""
        while len(head) < 4:
            part = s.recv(4 - len(head))
            if not part:
                raise RgwError(f"{asok}: connection closed")
            head += part
        (n,) = struct.unpack(">I", head)
        body = bytearray()
        while len(body) < n:
            part = s.recv(n - len(body))
            if not part:
                raise RgwError(f"{asok}: connection closed")
            body += part
    return json.loads(body)


@dataclass(frozen=True)
class Rgw:
    dir: Path
    port: int
    endpoint: str
    access_key: str
    secret_key: str

    @classmethod
    def start(cls, osd_bytes: int) -> "Rgw":
        state = Path(tempfile.mkdtemp(prefix="got-bench-rgw-"))
        port = _free_port()
        env = dict(os.environ, CEPH_RGW_OSD_BYTES=str(osd_bytes))
        done = subprocess.run([str(SCRIPT), "start", str(state), str(port)], env=env,
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True)
            raise RgwError(f"ceph-rgw.sh start failed: {done.stderr.strip()[-2000:]}")
        kv = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        return cls(state, port, kv["AWS_ENDPOINT_URL"], kv["AWS_ACCESS_KEY_ID"], kv["AWS_SECRET_ACCESS_KEY"])

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop", str(self.dir)], capture_output=True, timeout=120)

    def env(self) -> dict[str, str]:
        """The AWS variables that point a client (got, restic, obstore) at this engine."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": REGION}

    def counters(self) -> dict[str, int]:
        """The gateway's request counters so far: req (all), put, put_b, get, get_b."""
        rgw = _admin(self.dir / "run" / "client.rgw.a.asok", "perf dump")["rgw"]
        return {k: int(rgw[k]) for k in ("req", "failed_req", "put", "put_b", "get", "get_b")}

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the engine's daemons (gateway, OSD, monitor) so far."""
        total = 0
        for name in ("client.rgw.a", "osd.0", "mon.a"):
            try:
                pid = (self.dir / "run" / f"{name}.pid").read_text().strip()
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / os.sysconf("SC_CLK_TCK")

    def osd_rss_mib(self) -> float:
        """Resident memory of the OSD (its memstore holds every object in RAM)."""
        pid = (self.dir / "run" / "osd.0.pid").read_text().strip()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def purge(self, bucket: str) -> None:
        """Delete `bucket` and every object in it, now (a missing bucket is fine)."""
        subprocess.run(["radosgw-admin", "-c", str(self.dir / "ceph.conf"), "-n", "client.admin",
                        "bucket", "rm", f"--bucket={bucket}", "--purge-objects", "--bypass-gc"],
                       capture_output=True, timeout=300)
