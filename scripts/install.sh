#!/usr/bin/env bash
# Install everything got needs on a Debian machine, idempotently:
# system packages (FUSE 3 and its headers for pyfuse3, a compiler, SQLite, tools the tests
# drive), then a virtualenv at .venv with got and its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in fuse3 libfuse3-dev pkg-config gcc python3-dev python3-venv sqlite3 rsync git strace ceph-common ceph-mon ceph-osd radosgw curl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# editable_mode=compat: the checkout goes on sys.path through a plain .pth line. The default
# editable install puts an import finder in site-packages instead, which imports pathlib and
# importlib.util at every start of this Python: ~12 ms CPU, half of a bare `python -c pass`
# and a third of `got log`.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' \
  --config-settings editable_mode=compat 2>&1 | grep -v -i "warning" || true
.venv/bin/python -c "import gotkv, pyfuse3, blake3, zstandard, pyfastcdc" 
# Byte-compile now: with PYTHONDONTWRITEBYTECODE set (as in some CI sandboxes) every `got`
# run would otherwise recompile its modules (~80 ms each time).
.venv/bin/python -m compileall -q gotkv gotfs cli benchmarks >/dev/null
