#!/usr/bin/env bash
# A one-node Ceph RADOS Gateway for tests and benchmarks: a real S3 engine on 127.0.0.1.
#
#   scripts/ceph-rgw.sh start DIR PORT   # state in DIR (RAM-backed OSD); S3 on 127.0.0.1:PORT
#   scripts/ceph-rgw.sh stop DIR         # kill the daemons by their pid files, remove DIR
#
# One monitor, one OSD on memstore (RAM, capped at CEPH_RGW_OSD_BYTES, 2 GiB by default; once
# full, writes fail after 10 s with 408 RequestTimeout) and radosgw (beast, tcp_nodelay=1) with
# one S3 user. Starts in ~2 s. `start` prints, on stdout, the three lines a client needs:
#   AWS_ENDPOINT_URL=http://127.0.0.1:PORT
#   AWS_ACCESS_KEY_ID=gotaccess
#   AWS_SECRET_ACCESS_KEY=gotsecret
# Progress goes to stderr. A failing step exits non-zero with the tail of its log.
# `start` on a DIR whose gateway is up just prints the lines again; on a DIR left by a dead
# run it stops what is left and starts afresh. `stop` on a missing DIR does nothing.
# Steps and their reasons: /work/shared/reference/REAL-S3.md (needs ceph-mon ceph-osd radosgw).
set -euo pipefail

ACCESS=${CEPH_RGW_ACCESS_KEY:-gotaccess}
SECRET=${CEPH_RGW_SECRET_KEY:-gotsecret}
OSD_BYTES=${CEPH_RGW_OSD_BYTES:-2147483648}

STATE=""  # set once `start` has begun creating daemons in it
say() { echo "ceph-rgw: $*" >&2; }
die() {  # die MESSAGE [LOGFILE]: the daemons this run started are killed; logs stay in DIR
  say "error: $1"
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    say "last lines of $2:"; tail -n 25 "$2" >&2
  fi
  if [ -n "$STATE" ]; then kill_daemons "$STATE"; say "logs kept in $STATE/log (remove with: $0 stop $STATE)"; fi
  exit 1
}
usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

# alive PID: running and not a zombie (the daemons fork away, and who reaps them may be slow).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# The state is thrown away, so the daemons get SIGKILL (SIGTERM takes ~2 s each).
# Only a process started with this DIR's ceph.conf is killed, never a reused pid.
kill_daemons() {
  local dir f pid pids=()
  dir=$(cd "$1" && pwd)
  for f in "$dir"/run/{client.rgw.a,osd.0,mon.a}.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qaF "$dir/ceph.conf" "/proc/$pid/cmdline" 2>/dev/null \
        && kill -9 "$pid" 2>/dev/null; then pids+=("$pid"); fi
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
  done
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  if [ ! -f "$dir/ceph.conf" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir is not empty and holds no ceph.conf: not removing it"
  fi
  kill_daemons "$dir"
  rm -rf "$dir"
}

print_env() {
  echo "AWS_ENDPOINT_URL=http://127.0.0.1:$1"
  echo "AWS_ACCESS_KEY_ID=$ACCESS"
  echo "AWS_SECRET_ACCESS_KEY=$SECRET"
}

gateway_answers() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; }

# free_port [PORT]: PORT if nothing listens on it (else fail), or any free port. SO_REUSEADDR
# as the daemons set it, so that connections of a stopped run in TIME_WAIT do not count.
free_port() {
  python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); print(s.getsockname()[1])' "${1:-0}" 2>/dev/null
}

start() {
  local dir=$1 port=$2
  [[ $port =~ ^[0-9]+$ ]] || usage
  for tool in ceph-mon ceph-osd radosgw ceph ceph-authtool monmaptool radosgw-admin curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/install.sh (apt: ceph-mon ceph-osd radosgw)"
  done
  if [ -f "$dir/run/client.rgw.a.pid" ] && alive "$(cat "$dir/run/client.rgw.a.pid")" \
      && gateway_answers "$port"; then
    say "already running in $dir"; print_env "$port"; return 0
  fi
  stop "$dir"  # leftovers of a dead run
  free_port "$port" >/dev/null || die "port $port on 127.0.0.1 is already in use"

  local t0=$SECONDS
  dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
  mkdir -p "$dir"/{run,log,mon/ceph-a,osd/ceph-0}
  STATE=$dir
  local conf=$dir/ceph.conf fsid mon2 mon1 t1
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon2=$(free_port); mon1=$(free_port)
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
public addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/\$name.keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.05
[mon]
mon data = $dir/mon/ceph-\$id
[osd]
osd data = $dir/osd/ceph-\$id
osd objectstore = memstore
memstore device bytes = $OSD_BYTES
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw dynamic resharding = false
# A full OSD makes writes wait forever; with this they fail as 408 RequestTimeout instead.
rados osd op timeout = 10
EOF
  local C=(-c "$conf") log=$dir/log
  run() { "$@" >>"$log/setup.log" 2>&1 || die "step failed: $*" "$log/setup.log"; }

  say "monitor"
  run ceph-authtool --create-keyring "$dir/mon.a.keyring" --gen-key -n mon. --cap mon 'allow *'
  run ceph-authtool --create-keyring "$dir/client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
  run ceph-authtool "$dir/mon.a.keyring" --import-keyring "$dir/client.admin.keyring"
  run monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" "$dir/monmap"
  run ceph-mon "${C[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.a.keyring"
  run ceph-mon "${C[@]}" -i a
  # Each ceph command below waits for the monitor itself; the timeout bounds a dead one.
  local ceph=(ceph "${C[@]}" --connect-timeout 15)

  say "osd"
  local uuid key
  uuid=$(cat /proc/sys/kernel/random/uuid)
  key=$(ceph-authtool --gen-print-key)
  echo "{\"cephx_secret\": \"$key\"}" >"$dir/osd-secret.json"
  "${ceph[@]}" osd new "$uuid" -i "$dir/osd-secret.json" >>"$log/setup.log" 2>&1 \
    || die "step failed: ceph osd new (is the monitor up?)" "$log/mon.a.log"
  run ceph-authtool --create-keyring "$dir/osd.0.keyring" --name osd.0 --add-key "$key"
  run ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$uuid" --no-mon-config
  run ceph-osd "${C[@]}" -i 0
  t1=$SECONDS
  until "${ceph[@]}" osd stat 2>/dev/null | grep -q "1 up"; do
    ((SECONDS - t1 < 30)) || die "the OSD did not come up within 30 s" "$log/osd.0.log"
    sleep 0.1
  done

  say "gateway on 127.0.0.1:$port"
  "${ceph[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' \
    -o "$dir/client.rgw.a.keyring" >>"$log/setup.log" 2>&1 \
    || die "step failed: ceph auth get-or-create client.rgw.a" "$log/setup.log"
  run radosgw "${C[@]}" -n client.rgw.a
  local rgwlog=$log/client.rgw.a.log
  t1=$SECONDS
  until gateway_answers "$port"; do
    if grep -q "ERROR: failed initializing frontend\|failed to bind" "$rgwlog" 2>/dev/null; then
      die "radosgw could not listen on 127.0.0.1:$port" "$rgwlog"
    fi
    if [ -f "$dir/run/client.rgw.a.pid" ] && ! alive "$(cat "$dir/run/client.rgw.a.pid")"; then
      die "radosgw exited" "$rgwlog"
    fi
    ((SECONDS - t1 < 60)) || die "radosgw did not answer on 127.0.0.1:$port within 60 s" "$rgwlog"
    sleep 0.1
  done
  run radosgw-admin "${C[@]}" -n client.admin user create --uid=got --display-name=got \
    --access-key="$ACCESS" --secret-key="$SECRET"
  say "up in $((SECONDS - t0)) s (state in $dir)"
  print_env "$port"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
