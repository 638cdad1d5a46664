#!/bin/sh
# A throwaway S3 server for tests (docs/backup.md, "How the tests get an S3
# server"): Ceph radosgw over a one-monitor, one-OSD (memstore, in RAM)
# cluster on 127.0.0.1, in a new temporary directory, on ports picked free
# at start. No root, no systemd; ready in about 3 s. The recipe and its one
# trap (`ms mon client mode = crc`) are in ../shared/notes/radosgw-on-loopback.md.
#
#   scripts/start-s3.sh start       starts it; prints VAR=value lines:
#                                   VDISK_S3_ENDPOINT, VDISK_S3_ACCESS_KEY,
#                                   VDISK_S3_SECRET_KEY, VDISK_S3_DIR (also
#                                   written to $VDISK_S3_DIR/env)
#   scripts/start-s3.sh stop DIR    stops the daemons it started there (by
#                                   PID, checked against their command line)
#                                   and removes DIR
#
# A daemon that exits during start fails the start at once with the tail of
# its log, after stopping the ones already running. Needs ceph-mon, ceph-osd,
# radosgw and ceph-common (scripts/install-test-tools.sh) and node (to pick
# free ports).
set -eu

ACCESS_KEY=VDISKTESTACCESSKEY01
SECRET_KEY=vdisk-test-secret-key-0123456789abcdefghij
START_TIMEOUT=60

die() {
  echo "start-s3: $*" >&2
  exit 1
}

# stop DIR: kills (SIGKILL: the daemons ignore SIGTERM for seconds, and the data is throwaway) the
# PIDs listed in DIR/pids whose command line names DIR's ceph.conf, waits for them, then removes DIR.
stop() {
  d=$1
  [ -f "$d/pids" ] || die "$d was not made by start-s3.sh (no pids file)"
  for pid in $(cat "$d/pids"); do
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$d/ceph.conf"; then
      kill -9 "$pid" 2>/dev/null || true
      i=0
      # A killed daemon stays a zombie until its reaper gets to it: wait only until it is no longer running.
      while [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" != Z ] && [ -e "/proc/$pid" ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
      done
    fi
  done
  rm -rf "$d"
}

# fail WHAT LOG: a start step failed; prints the tail of LOG, stops what started and exits 1.
fail() {
  echo "start-s3: $1" >&2
  [ -f "$2" ] && tail -n 15 "$2" >&2
  stop "$D"
  exit 1
}

# spawn NAME CMD...: starts a daemon in the foreground mode, in the background, and records its PID.
spawn() {
  name=$1
  shift
  "$@" -c "$D/ceph.conf" -f </dev/null >"$D/log/$name.out" 2>&1 &
  echo $! >>"$D/pids"
  eval "PID_$name=$!"
}

# check_alive: fails with a daemon's log when one of those started has exited.
check_alive() {
  for name in mon osd rgw; do
    eval "pid=\${PID_$name:-}"
    [ -n "$pid" ] || continue
    if ! kill -0 "$pid" 2>/dev/null; then
      log=$D/log/$name.log
      [ -s "$log" ] || log=$D/log/$name.out
      fail "$name exited during start; the end of $log:" "$log"
    fi
  done
}

# wait_for WHAT CMD...: runs CMD until it succeeds, checking the daemons between tries; fails after START_TIMEOUT s.
wait_for() {
  what=$1
  shift
  i=0
  until "$@" >/dev/null 2>&1; do
    check_alive
    i=$((i + 1))
    [ $i -lt $((START_TIMEOUT * 10)) ] || fail "$what not ready after $START_TIMEOUT s" "$D/log/rgw.log"
    sleep 0.1
  done
}

# free_ports N: prints N TCP ports free on 127.0.0.1 now.
free_ports() {
  node -e '
    const net = require("node:net");
    const servers = Array.from({ length: Number(process.argv[1]) }, () => net.createServer().listen(0, "127.0.0.1"));
    Promise.all(servers.map((s) => new Promise((r) => s.on("listening", r)))).then(() => {
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    });' "$1"
}

# rgw_up: true when radosgw answers HTTP on its port.
rgw_up() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(1000) }).then(() => process.exit(0), () => process.exit(1));' "http://127.0.0.1:$RGW_PORT/"
}

start() {
  for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph node; do
    command -v $tool >/dev/null 2>&1 || die "$tool is not installed (scripts/install-test-tools.sh installs it)"
  done
  D=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-s3-XXXXXX")
  mkdir "$D/run" "$D/log" "$D/mon" "$D/osd"
  : >"$D/pids"
  set -- $(free_ports 2)
  MON_PORT=$1
  RGW_PORT=$2
  cat >"$D/ceph.conf" <<EOF
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.1
mon data avail crit = 1
run dir = $D/run
log file = $D/log/\$name.log
[mon]
mon data = $D/mon
[osd]
osd data = $D/osd
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
EOF
  fsid=$(sed -n 's/^fsid = //p' "$D/ceph.conf")
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >"$D/log/monmaptool.out" 2>&1 || fail "monmaptool failed" "$D/log/monmaptool.out"
  ceph-mon -c "$D/ceph.conf" --mkfs -i a --monmap "$D/monmap" >"$D/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed" "$D/log/mon-mkfs.out"
  spawn mon ceph-mon -i a
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  wait_for "the monitor" ceph -c "$D/ceph.conf" --connect-timeout 2 osd new "$osd_uuid"
  ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$D/log/osd-mkfs.out" 2>&1 || fail "ceph-osd --mkfs failed" "$D/log/osd-mkfs.out"
  spawn osd ceph-osd -i 0
  spawn rgw radosgw -n client.rgw.a
  wait_for "radosgw" rgw_up
  radosgw-admin -c "$D/ceph.conf" user create --uid vdisk-test --display-name "vdisk tests" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >"$D/log/user.out" 2>&1 || fail "radosgw-admin user create failed" "$D/log/user.out"
  printf 'VDISK_S3_ENDPOINT=http://127.0.0.1:%s\nVDISK_S3_ACCESS_KEY=%s\nVDISK_S3_SECRET_KEY=%s\nVDISK_S3_DIR=%s\n' \
    "$RGW_PORT" "$ACCESS_KEY" "$SECRET_KEY" "$D" | tee "$D/env"
}

case "${1:-}" in
start) start ;;
stop)
  [ -n "${2:-}" ] || die "usage: start-s3.sh stop DIR"
  stop "$2"
  ;;
*) die "usage: start-s3.sh start | stop DIR" ;;
esac
